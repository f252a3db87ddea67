//! The affine layer.

use super::{param, Dropout, Fresh, Init};
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

    /// `r + Dropout(x·W + b)`: the layer's output added onto the residual stream `r`. Where
    /// dropout does not act, one op ([`Var::linear_onto`]: on a GPU under bf16 products the
    /// product's epilogue adds `r`).
    pub fn forward_onto(
        &self,
        x: &Var,
        residual: &Var,
        dropout: &Dropout,
        rng: Option<&mut rand::rngs::StdRng>,
    ) -> crate::Result<Var> {
        if dropout.acts(&rng) {
            return Ok(residual.add(&dropout.forward(&self.forward(x)?, rng)?)?);
        }
        Ok(x.linear_onto(&self.weight, &self.bias, residual)?)
    }
}
