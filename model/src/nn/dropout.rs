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
        let value = x.value();
        match self.keep_scale(value.shape(), &value, rng)? {
            Some(keep) => Ok(x.mul(&Var::constant(keep))?),
            None => Ok(x.clone()),
        }
    }

    /// Whether dropout acts: when training (`rng` given) with `p > 0`.
    pub fn acts(&self, rng: &Option<&mut rand::rngs::StdRng>) -> bool {
        rng.is_some() && self.p > 0.0
    }

    /// The keep-scale `mᵢ/(1 − p)`, `mᵢ ~ Bernoulli(1 − p)`, of `shape` in `like`'s dtype and on its
    /// device, when `rng` is given and `p > 0` (training); `None` otherwise.
    pub fn keep_scale(
        &self,
        shape: &[usize],
        like: &Tensor,
        rng: Option<&mut rand::rngs::StdRng>,
    ) -> crate::Result<Option<Tensor>> {
        let Some(rng) = rng.filter(|_| self.p > 0.0) else { return Ok(None) };
        let uniform = Tensor::uniform(shape, 0.0, 1.0, like.dtype(), rng).to_device(like.device())?;
        Ok(Some(uniform.cmp_scalar(self.p, CmpOp::Ge)?.to_dtype(like.dtype()).mul_scalar(1.0 / (1.0 - self.p))?))
    }
}
