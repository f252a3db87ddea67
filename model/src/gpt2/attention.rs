//! Causal multi-head self-attention (F1, F2).

use super::kv_cache::LayerCache;
use super::Gpt2Config;
use crate::nn::{Dropout, Init, Linear};
use autograd::{AttentionMask, Params, Var};

/// `MultiHead(X) = Concat(head₁, …, head_h)·W_O`, `headᵢ = Attention(X·W_Qᵢ, X·W_Kᵢ, X·W_Vᵢ)` with a
/// causal mask, all heads computed at once: `c_attn` projects to `[Q | K | V]`, the width splits
/// into `n_head` heads of `n_embd / n_head`, and `c_proj` is `W_O`.
pub struct CausalSelfAttention {
    pub c_attn: Linear,
    pub c_proj: Linear,
    pub n_head: usize,
    pub attn_dropout: Dropout,
    pub resid_dropout: Dropout,
}

impl CausalSelfAttention {
    pub fn new(params: &mut Params, init: &mut dyn Init, prefix: &str, cfg: &Gpt2Config) -> crate::Result<Self> {
        let c = cfg.n_embd;
        let std = cfg.initializer_range;
        // Residual projections are scaled by 1/√(2·n_layer) (GPT-2 paper, §2.3).
        let proj_std = std / (2.0 * cfg.n_layer as f64).sqrt();
        Ok(Self {
            c_attn: Linear::new(params, init, &format!("{prefix}.c_attn"), (c, 3 * c), std)?,
            c_proj: Linear::new(params, init, &format!("{prefix}.c_proj"), (c, c), proj_std)?,
            n_head: cfg.n_head,
            attn_dropout: Dropout { p: cfg.attn_pdrop },
            resid_dropout: Dropout { p: cfg.resid_pdrop },
        })
    }

    /// `x (B, T, C)` projected by `c_attn` to `[Q | K | V]` and split into heads, each `(B, H, T, D)`.
    fn project_heads(&self, x: &Var) -> crate::Result<(Var, Var, Var)> {
        let shape = x.shape();
        let (b, t, c) = (shape[0], shape[1], shape[2]);
        let (h, d) = (self.n_head, c / self.n_head);
        let parts = self.c_attn.forward(x)?.split(&[c, c, c], 2)?;
        // (B, T, C) → (B, T, H, D) → (B, H, T, D)
        let heads = |v: &Var| -> crate::Result<Var> { Ok(v.reshape(&[b, t, h, d])?.transpose(1, 2)?) };
        Ok((heads(&parts[0])?, heads(&parts[1])?, heads(&parts[2])?))
    }

    /// `P = softmax(Q·Kᵀ/√d + M)` with the causal mask `M` aligned at the end (T queries, S ≥ T keys),
    /// composed of autograd ops: the explicit form of what the fused attention op computes.
    fn causal_probabilities(q: &Var, k: &Var) -> crate::Result<Var> {
        let (tq, tk, d) = (q.shape()[2], k.shape()[2], q.shape()[3]);
        let scores = q.matmul(&k.t()?)?.div_scalar((d as f64).sqrt())?;
        let blocked = tensor::Tensor::tril_mask(tq, tk, (tk - tq) as i64)
            .cmp_scalar(0.0, tensor::CmpOp::Eq)?
            .to_device(scores.value().device())?;
        Ok(scores.masked_fill(&blocked, f64::NEG_INFINITY)?.softmax(-1)?)
    }

    /// The attention probabilities of every head, `(B, H, T, T)`, for looking at what each head
    /// attends to.
    pub fn probabilities(&self, x: &Var) -> crate::Result<tensor::Tensor> {
        let (q, k, _) = self.project_heads(x)?;
        Ok(Self::causal_probabilities(&q, &k)?.value())
    }

    /// `x (B, T, C) → (B, T, C)`. With a cache, `x` holds only the new positions: their keys and
    /// values are appended to the cache and the queries attend over everything cached.
    pub fn forward(
        &self,
        x: &Var,
        cache: Option<&mut LayerCache>,
        mut rng: Option<&mut rand::rngs::StdRng>,
    ) -> crate::Result<Var> {
        let shape = x.shape();
        let (b, t, c) = (shape[0], shape[1], shape[2]);
        let dropout_on_probabilities = self.attn_dropout.p > 0.0 && rng.is_some();
        if cache.is_none() && !dropout_on_probabilities {
            // Training and full-sequence evaluation: the fused kernel reads the heads straight
            // from the [Q | K | V] projection and returns them merged.
            let y = Var::packed_self_attention(&self.c_attn.forward(x)?, self.n_head, true)?;
            return self.resid_dropout.forward(&self.c_proj.forward(&y)?, rng);
        }
        let (q, mut k, mut v) = self.project_heads(x)?;
        if let Some(cache) = cache {
            (k, v) = cache.append(&k, &v)?;
        }
        let y = if dropout_on_probabilities {
            // Dropout on the attention probabilities needs them explicitly: the unfused path.
            let p = Self::causal_probabilities(&q, &k)?;
            self.attn_dropout.forward(&p, rng.as_deref_mut())?.matmul(&v)?
        } else {
            Var::scaled_dot_product_attention(&q, &k, &v, AttentionMask { causal: true, keep: None })?
        };
        // (B, H, T, D) → (B, T, H, D) → (B, T, C): concatenate the heads.
        let y = y.transpose(1, 2)?.reshape(&[b, t, c])?;
        self.resid_dropout.forward(&self.c_proj.forward(&y)?, rng)
    }
}
