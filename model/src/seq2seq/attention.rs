//! Multi-head attention (F2) over separate query and key/value inputs, so one module serves
//! self-attention (`x` attends to `x`) and cross-attention (the decoder attends to the encoder).

use crate::nn::{Dense, Init};
use autograd::{AttentionMask, Params, Var};
use tensor::Tensor;

pub struct MultiHeadAttention {
    pub q_proj: Dense,
    pub k_proj: Dense,
    pub v_proj: Dense,
    pub out_proj: Dense,
    pub n_head: usize,
}

impl MultiHeadAttention {
    pub fn new(
        params: &mut Params,
        init: &mut dyn Init,
        prefix: &str,
        d: usize,
        n_head: usize,
        std: f64,
    ) -> crate::Result<Self> {
        let dense = |params: &mut Params, init: &mut dyn Init, name: &str| {
            Dense::new(params, init, &format!("{prefix}.{name}"), (d, d), std)
        };
        Ok(Self {
            q_proj: dense(params, init, "q_proj")?,
            k_proj: dense(params, init, "k_proj")?,
            v_proj: dense(params, init, "v_proj")?,
            out_proj: dense(params, init, "out_proj")?,
            n_head,
        })
    }

    /// `MultiHead(X, M) = Concat(head₁, …, head_h)·W_O` with `headᵢ = Attention(X·W_Qⁱ, M·W_Kⁱ, M·W_Vⁱ)`
    /// for queries `x (B, T, d)` and memory `m (B, S, d)`; `causal` blocks later keys, `keep`
    /// (broadcastable to `(B, h, T, S)`, 0 = padding) blocks padded keys.
    pub fn forward(&self, x: &Var, m: &Var, causal: bool, keep: Option<&Tensor>) -> crate::Result<Var> {
        let (b, t, d) = (x.shape()[0], x.shape()[1], x.shape()[2]);
        let s = m.shape()[1];
        let (h, dh) = (self.n_head, d / self.n_head);
        let heads = |v: Var, len: usize| -> crate::Result<Var> { Ok(v.reshape(&[b, len, h, dh])?.transpose(1, 2)?) };
        let q = heads(self.q_proj.forward(x)?, t)?;
        let k = heads(self.k_proj.forward(m)?, s)?;
        let v = heads(self.v_proj.forward(m)?, s)?;
        let context = Var::scaled_dot_product_attention(&q, &k, &v, AttentionMask { causal, keep, dropout: None })?;
        self.out_proj.forward(&context.transpose(1, 2)?.reshape(&[b, t, d])?)
    }
}
