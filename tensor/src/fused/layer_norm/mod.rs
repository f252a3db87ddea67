//! Layer norm over the last dim and its backward (F5): the tensor method, its dispatch over
//! devices, and the device adapters (`cpu.rs`, `cuda.rs`) of `kernels::layer_norm`.

mod cpu;
mod cuda;

use crate::storage::{on_one_device, On, Storage};
use crate::{Error, Layout, Result, Tensor};

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
        let (y, mean, rstd) = x.storage().layer_norm(
            x.layout(),
            (gamma.storage(), gamma.layout()),
            (beta.storage(), beta.layout()),
            eps,
        )?;
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
        let (dx, dg, db) = x.storage().layer_norm_backward(
            x.layout(),
            (gamma.storage(), gamma.layout()),
            (mean.storage(), mean.layout()),
            (rstd.storage(), rstd.layout()),
            (dy.storage(), dy.layout()),
        )?;
        Ok((
            Tensor::from_storage(dx, self.shape()),
            Tensor::from_storage(dg, gamma.shape()),
            Tensor::from_storage(db, gamma.shape()),
        ))
    }
}

impl Storage {
    pub fn layer_norm(
        &self,
        layout: &Layout,
        gamma: (&Self, &Layout),
        beta: (&Self, &Layout),
        eps: f64,
    ) -> Result<(Self, Self, Self)> {
        match on_one_device("layer_norm", [self, gamma.0, beta.0])? {
            On::Cpu([x, g, b]) => {
                let (y, m, r) = x.layer_norm(layout, (g, gamma.1), (b, beta.1), eps)?;
                Ok((Storage::Cpu(y), Storage::Cpu(m), Storage::Cpu(r)))
            }
            On::Cuda([x, g, b]) => {
                let (y, m, r) = x.layer_norm(layout, (g, gamma.1), (b, beta.1), eps)?;
                Ok((Storage::Cuda(y), Storage::Cuda(m), Storage::Cuda(r)))
            }
        }
    }

    pub fn layer_norm_backward(
        &self,
        layout: &Layout,
        gamma: (&Self, &Layout),
        mean: (&Self, &Layout),
        rstd: (&Self, &Layout),
        dy: (&Self, &Layout),
    ) -> Result<(Self, Self, Self)> {
        match on_one_device("layer_norm_backward", [self, gamma.0, mean.0, rstd.0, dy.0])? {
            On::Cpu([x, g, m, r, d]) => {
                let (dx, dg, db) = x.layer_norm_backward(layout, (g, gamma.1), (m, mean.1), (r, rstd.1), (d, dy.1))?;
                Ok((Storage::Cpu(dx), Storage::Cpu(dg), Storage::Cpu(db)))
            }
            On::Cuda([x, g, m, r, d]) => {
                let (dx, dg, db) = x.layer_norm_backward(layout, (g, gamma.1), (m, mean.1), (r, rstd.1), (d, dy.1))?;
                Ok((Storage::Cuda(dx), Storage::Cuda(dg), Storage::Cuda(db)))
            }
        }
    }
}
