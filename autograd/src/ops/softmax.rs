//! Softmax and log-softmax as fused ops with hand-derived backward.

use crate::Var;
use tensor::{Dim, Result};

impl Var {
    /// `yᵢ = exp(xᵢ − max x) / Σⱼ exp(xⱼ − max x)` along `dim`.
    /// Backward (the Jacobian `diag(y) − y·yᵀ` applied to dy): `dx = y ⊙ (dy − Σ(dy ⊙ y))`.
    pub fn softmax<D: Dim>(&self, dim: D) -> Result<Var> {
        self.softmax_impl(dim, false)
    }

    /// `yᵢ = xᵢ − log Σⱼ exp(xⱼ)` along `dim`. Backward: `dx = dy − softmax(x)·Σ dy = dy − exp(y)·Σ dy`.
    pub fn log_softmax<D: Dim>(&self, dim: D) -> Result<Var> {
        self.softmax_impl(dim, true)
    }

    fn softmax_impl<D: Dim>(&self, dim: D, log: bool) -> Result<Var> {
        let x = self.value();
        let d = dim.index("softmax", x.shape())?;
        let y = if log { x.log_softmax(d)? } else { x.softmax(d)? };
        let yc = y.clone();
        let name = if log { "log_softmax" } else { "softmax" };
        Ok(Var::from_op(name, y, &[self], move |g| Ok(vec![Some(yc.softmax_backward(g, d, log)?)])))
    }
}
