//! Dropout (F9): during training each activation is zeroed with probability `p` and the survivors
//! scaled by `1/(1 − p)`, so the expected value is unchanged; in evaluation it is the identity.

use autograd::Var;
use tensor::{CmpOp, Tensor};

#[derive(Debug, Clone, Copy)]
pub struct Dropout {
    pub p: f64,
}

impl Dropout {
    /// `y = x ⊙ m / (1 − p)`, `mᵢ ~ Bernoulli(1 − p)`, when `rng` is given (training); `y = x` otherwise.
    /// Backward (through `mul`): `dx = dy ⊙ m / (1 − p)`.
    pub fn forward(&self, x: &Var, rng: Option<&mut rand::rngs::StdRng>) -> crate::Result<Var> {
        let Some(rng) = rng.filter(|_| self.p > 0.0) else { return Ok(x.clone()) };
        let value = x.value();
        let uniform = Tensor::uniform(value.shape(), 0.0, 1.0, value.dtype(), rng).to_device(value.device())?;
        let keep = uniform.cmp_scalar(self.p, CmpOp::Ge)?.to_dtype(value.dtype()).mul_scalar(1.0 / (1.0 - self.p))?;
        Ok(x.mul(&Var::constant(keep))?)
    }
}
