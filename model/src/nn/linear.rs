//! The affine layer.

use super::{param, Fresh, Init};
use autograd::{Params, Var};

/// `y = x·W + b` with `W` of shape `[in, out]` (GPT-2's `Conv1D` layout, so checkpoints load as
/// they are) and `b` of shape `[out]`.
pub struct Linear {
    pub weight: Var,
    pub bias: Var,
}

impl Linear {
    pub fn new(
        params: &mut Params,
        init: &mut dyn Init,
        prefix: &str,
        dims: (usize, usize),
        weight_std: f64,
    ) -> crate::Result<Self> {
        let (inp, out) = dims;
        Ok(Self {
            weight: param(params, init, prefix, "weight", &[inp, out], Fresh::Normal { std: weight_std })?,
            bias: param(params, init, prefix, "bias", &[out], Fresh::Zeros)?,
        })
    }

    /// `x (…, in) → (…, out)`.
    pub fn forward(&self, x: &Var) -> crate::Result<Var> {
        Ok(x.linear(&self.weight, &self.bias)?)
    }
}
