//! Layer norm over the last dim and its backward (F5): the tensor methods, dispatched to the
//! device adapters (`cpu.rs`, `cuda.rs`) of `kernels::layer_norm`.

mod cpu;
mod cuda;

use crate::storage::on_device;
use crate::{Error, Result, Tensor};

impl Tensor {
    /// Layer norm over the last dim: `y = (x − μ)/√(σ² + ε) ⊙ γ + β` (biased σ², as PyTorch).
    pub fn layer_norm(&self, gamma: &Tensor, beta: &Tensor, eps: f64) -> Result<Tensor> {
        Ok(self.layer_norm_forward(gamma, beta, eps)?.0)
    }

    /// Layer norm returning `(y, μ, rstd)`, `μ` and `rstd = 1/√(σ² + ε)` of shape `x.shape[..-1]`:
    /// what backward needs.
    pub fn layer_norm_forward(&self, gamma: &Tensor, beta: &Tensor, eps: f64) -> Result<(Tensor, Tensor, Tensor)> {
        let cols = *self.shape().last().ok_or_else(|| Error::invalid("layer_norm", "needs rank ≥ 1, got a scalar"))?;
        for p in [gamma, beta] {
            self.same_dtype_device(p, "layer_norm")?;
            if p.shape() != [cols] {
                return Err(Error::ShapeMismatch {
                    op: "layer_norm",
                    lhs: self.shape().to_vec(),
                    rhs: p.shape().to_vec(),
                });
            }
        }
        let x = self.contiguous();
        let (g, b) = ((gamma.storage(), gamma.layout()), (beta.storage(), beta.layout()));
        let (y, mean, rstd) = on_device!("layer_norm", [x.storage(), g.0, b.0], |wrap, [x_on, g_on, b_on]| {
            let (y, mean, rstd) = x_on.layer_norm(x.layout(), (g_on, g.1), (b_on, b.1), eps)?;
            (wrap(y), wrap(mean), wrap(rstd))
        });
        let rows_shape = &self.shape()[..self.rank() - 1];
        Ok((
            Tensor::from_storage(y, self.shape()),
            Tensor::from_storage(mean, rows_shape),
            Tensor::from_storage(rstd, rows_shape),
        ))
    }

    /// Layer-norm backward from `x = self`, `γ`, the cached `μ`, `rstd` and upstream `dy`: `(dx, dγ, dβ)`.
    pub fn layer_norm_backward(
        &self,
        gamma: &Tensor,
        mean: &Tensor,
        rstd: &Tensor,
        dy: &Tensor,
    ) -> Result<(Tensor, Tensor, Tensor)> {
        self.expect_same_shape(dy, "layer_norm_backward")?;
        let (x, dy) = (self.contiguous(), dy.contiguous());
        let inputs = [x.storage(), gamma.storage(), mean.storage(), rstd.storage(), dy.storage()];
        let (dx, dg, db) = on_device!("layer_norm_backward", inputs, |wrap, [x_on, g, m, r, d]| {
            let layouts = (gamma.layout(), mean.layout(), rstd.layout(), dy.layout());
            let (dx, dg, db) =
                x_on.layer_norm_backward(x.layout(), (g, layouts.0), (m, layouts.1), (r, layouts.2), (d, layouts.3))?;
            (wrap(dx), wrap(dg), wrap(db))
        });
        Ok((
            Tensor::from_storage(dx, self.shape()),
            Tensor::from_storage(dg, gamma.shape()),
            Tensor::from_storage(db, gamma.shape()),
        ))
    }
}
