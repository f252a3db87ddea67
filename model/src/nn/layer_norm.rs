//! Layer normalisation with learned gain and bias.

use super::{param, Fresh, Init};
use autograd::{Params, Var};

/// `y = (x − μ)/√(σ² + ε) ⊙ γ + β` over the last dim (the fused op of `autograd::ops::layer_norm`).
pub struct LayerNorm {
    pub weight: Var,
    pub bias: Var,
    pub eps: f64,
}

impl LayerNorm {
    pub fn new(params: &mut Params, init: &mut dyn Init, prefix: &str, dim: usize, eps: f64) -> crate::Result<Self> {
        Ok(Self {
            weight: param(params, init, prefix, "weight", &[dim], Fresh::Ones)?,
            bias: param(params, init, prefix, "bias", &[dim], Fresh::Zeros)?,
            eps,
        })
    }

    pub fn forward(&self, x: &Var) -> crate::Result<Var> {
        Ok(x.layer_norm(&self.weight, &self.bias, self.eps)?)
    }

    /// [`LayerNorm::forward`] for an output that only linear layers read: on a GPU under bf16
    /// products it is kept in bf16 alone (`Var::layer_norm_as_operand`), no f32 copy beside it.
    pub fn forward_for_linear(&self, x: &Var) -> crate::Result<Var> {
        Ok(x.layer_norm_as_operand(&self.weight, &self.bias, self.eps)?)
    }
}
