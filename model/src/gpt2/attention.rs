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

    /// `[Q | K | V] (B, T, 3·C)` split into heads, each `(B, H, T, D)`.
    fn split_heads(&self, qkv: &Var) -> crate::Result<(Var, Var, Var)> {
        let shape = qkv.shape();
        let (b, t, c) = (shape[0], shape[1], shape[2] / 3);
        let (h, d) = (self.n_head, c / self.n_head);
        let parts = qkv.split(&[c, c, c], 2)?;
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
        let (q, k, _) = self.split_heads(&self.c_attn.forward(x)?)?;
        Ok(Self::causal_probabilities(&q, &k)?.value())
    }

    /// `r + Attention(x)`, `x (B, T, C)`, the output added onto the residual stream `r` (by the
    /// output projection's op, `Linear::forward_onto`): project to `[Q | K | V]`, attend, project
    /// back. Training and evaluation attend within `x` (dropout on the probabilities when `rng` is
    /// given: autograd then takes the composed path, else the fused kernel reads the heads where
    /// they lie); with a cache (generation), `x` holds only the new positions, whose keys and
    /// values are appended to the cache, and the queries attend over everything cached.
    pub fn forward_onto(
        &self,
        x: &Var,
        residual: &Var,
        cache: Option<&mut LayerCache>,
        mut rng: Option<&mut rand::rngs::StdRng>,
    ) -> crate::Result<Var> {
        let qkv = self.c_attn.forward(x)?;
        let y = match cache {
            None => {
                let (b, t) = (x.shape()[0], x.shape()[1]);
                let shape = [b, self.n_head, t, t];
                let dropout = self.attn_dropout.keep_scale(&shape, &qkv.value(), rng.as_deref_mut())?;
                let mask = AttentionMask { causal: true, keep: None, dropout: dropout.as_ref() };
                Var::packed_self_attention(&qkv, self.n_head, mask)?
            }
            Some(cache) => self.attend_cached(&qkv, cache)?,
        };
        self.c_proj.forward_onto(&y, residual, &self.resid_dropout, rng)
    }

    /// Generation's attention: the new positions' heads of `qkv (B, T, 3·C)`, their keys and
    /// values appended to `cache`, the queries attending over all cached positions; `(B, T, C)`.
    fn attend_cached(&self, qkv: &Var, cache: &mut LayerCache) -> crate::Result<Var> {
        let (b, t, c) = (qkv.shape()[0], qkv.shape()[1], qkv.shape()[2] / 3);
        let (q, k, v) = self.split_heads(qkv)?;
        let (k, v) = cache.append(&k, &v)?;
        let y = Var::scaled_dot_product_attention(&q, &k, &v, AttentionMask::CAUSAL)?;
        // (B, H, T, D) → (B, T, H, D) → (B, T, C): concatenate the heads.
        Ok(y.transpose(1, 2)?.reshape(&[b, t, c])?)
    }
}
