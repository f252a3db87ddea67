//! Layer norm over the last dim and its backward (F5): the tensor methods, dispatched to the
//! device adapters (`cpu.rs`, `cuda.rs`) of `kernels::layer_norm`.

mod cpu;
mod cuda;

use crate::storage::{on_device, Storage};
use crate::{DType, Device, Error, ExecutionContext, MatmulPrecision, Result, Tensor};

impl Tensor {
    /// Layer norm over the last dim: `y = (x − μ)/√(σ² + ε) ⊙ γ + β` (biased σ², as PyTorch).
    pub fn layer_norm(&self, gamma: &Tensor, beta: &Tensor, eps: f64) -> Result<Tensor> {
        Ok(self.layer_norm_forward(gamma, beta, eps)?.0)
    }

    /// Layer norm returning `(y, μ, rstd)`, `μ` and `rstd = 1/√(σ² + ε)` of shape `x.shape[..-1]`:
    /// what backward needs.
    pub fn layer_norm_forward(&self, gamma: &Tensor, beta: &Tensor, eps: f64) -> Result<(Tensor, Tensor, Tensor)> {
        self.check_layer_norm_params(gamma, beta)?;
        let x = self.contiguous();
        let (g, b) = ((gamma.storage(), gamma.layout()), (beta.storage(), beta.layout()));
        let (y, mean, rstd) = on_device!("layer_norm", [x.storage(), g.0, b.0], |wrap, [x_on, g_on, b_on]| {
            let (y, mean, rstd) = x_on.layer_norm(x.layout(), (g_on, g.1), (b_on, b.1), eps)?;
            (wrap(y), wrap(mean), wrap(rstd))
        });
        Ok((Tensor::from_storage(y, self.shape()), self.row_stats(mean), self.row_stats(rstd)))
    }

    /// [`Tensor::layer_norm_forward`] for a `y` that only matrix products read (a linear layer's
    /// input): on a GPU under bf16 products `y` is written in bf16 alone (rows padded to 16 bytes),
    /// the operand those products read, with no f32 copy beside it (its backward needs `x`, `μ`
    /// and `rstd`, never `y`); elsewhere it is [`Tensor::layer_norm_forward`].
    pub fn layer_norm_forward_as_operand(
        &self,
        gamma: &Tensor,
        beta: &Tensor,
        eps: f64,
    ) -> Result<(Tensor, Tensor, Tensor)> {
        let bf16 = ExecutionContext::current().precision == MatmulPrecision::Bf16;
        match (self.storage(), gamma.storage(), beta.storage()) {
            (Storage::Cuda(x_on), Storage::Cuda(g), Storage::Cuda(b)) if bf16 && self.dtype() == DType::F32 => {
                self.check_layer_norm_params(gamma, beta)?;
                // The kernel reads dense rows: `dense` copies strided ones first.
                let ((y, y_layout), mean, rstd) =
                    x_on.layer_norm_bf16(self.layout(), (g, gamma.layout()), (b, beta.layout()), eps)?;
                let y = Tensor::from_storage_with_layout(Storage::Cuda(y), y_layout);
                Ok((y, self.row_stats(Storage::Cuda(mean)), self.row_stats(Storage::Cuda(rstd))))
            }
            _ => self.layer_norm_forward(gamma, beta, eps),
        }
    }

    /// γ and β of this tensor's dtype and device, each of its last dim's length.
    fn check_layer_norm_params(&self, gamma: &Tensor, beta: &Tensor) -> Result<()> {
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
        Ok(())
    }

    /// A per-row statistic (`μ`, `rstd`) of this tensor's rows: shape `x.shape[..-1]`.
    fn row_stats(&self, storage: Storage) -> Tensor {
        Tensor::from_storage(storage, &self.shape()[..self.rank() - 1])
    }

    /// [`Tensor::layer_norm_backward`] with dx added to `sum`, the gradient x has received already
    /// (a pre-LN block's residual stream, from its skip connection): `(sum + dx, dγ, dβ)`. On a GPU
    /// the backward kernel adds into an f32 `sum` in place as it writes dx (`sum` copied first if
    /// another tensor shares it), so no separate pass reads the two and writes their sum;
    /// elsewhere dx is added as [`Tensor::add_assign`] does.
    pub fn layer_norm_backward_added_to(
        &self,
        gamma: &Tensor,
        mean: &Tensor,
        rstd: &Tensor,
        dy: &Tensor,
        mut sum: Tensor,
    ) -> Result<(Tensor, Tensor, Tensor)> {
        self.expect_same_shape(&sum, "layer_norm_backward")?;
        let on_one_gpu = matches!((self.device(), sum.device()), (Device::Cuda(a), Device::Cuda(b)) if a == b);
        if !(on_one_gpu && self.dtype() == DType::F32 && sum.dtype() == DType::F32) {
            let (dx, dg, db) = self.layer_norm_backward(gamma, mean, rstd, dy)?;
            sum.add_assign(&dx)?;
            return Ok((sum, dg, db));
        }
        self.expect_same_shape(dy, "layer_norm_backward")?;
        let (x, dy) = (self.contiguous(), dy.contiguous());
        let params = [gamma, mean, rstd, &dy];
        let Storage::Cuda(acc) = sum.storage_mut() else { unreachable!("sum is on the GPU (checked)") };
        let (Storage::Cuda(x_on), [Storage::Cuda(g), Storage::Cuda(m), Storage::Cuda(r), Storage::Cuda(d)]) =
            (x.storage(), params.map(Tensor::storage))
        else {
            return Err(Error::invalid("layer_norm_backward", "γ, μ, rstd and dy on x's GPU"));
        };
        let (dg, db) = x_on.layer_norm_backward_added_to(
            x.layout(),
            [(g, gamma.layout()), (m, mean.layout()), (r, rstd.layout()), (d, dy.layout())],
            acc,
        )?;
        let (dg, db) = (Storage::Cuda(dg), Storage::Cuda(db));
        Ok((sum, Tensor::from_storage(dg, gamma.shape()), Tensor::from_storage(db, gamma.shape())))
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
