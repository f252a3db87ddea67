//! The affine layer in `torch.nn.Linear`'s layout, as BERT checkpoints store it.

use super::{param, Fresh, Init};
use autograd::{Params, Var};

/// `y = x·Wᵀ + b` with `W` of shape `[out, in]` and `b` of shape `[out]`.
pub struct Dense {
    pub weight: Var,
    pub bias: Var,
}

impl Dense {
    pub fn new(
        params: &mut Params,
        init: &mut dyn Init,
        prefix: &str,
        dims: (usize, usize),
        std: f64,
    ) -> crate::Result<Self> {
        let (inp, out) = dims;
        Ok(Self {
            weight: param(params, init, prefix, "weight", &[out, inp], Fresh::Normal { std })?,
            bias: param(params, init, prefix, "bias", &[out], Fresh::Zeros)?,
        })
    }

    /// `x (…, in) → (…, out)`.
    pub fn forward(&self, x: &Var) -> crate::Result<Var> {
        Ok(x.matmul(&self.weight.t()?)?.add(&self.bias)?)
    }
}
