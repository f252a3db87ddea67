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
}
