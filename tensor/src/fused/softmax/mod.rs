//! Softmax and log-softmax over a dim, and their backward (F2): the tensor methods, dispatched
//! to the device adapters (`cpu.rs`, `cuda.rs`) of `kernels::softmax`.

mod cpu;
mod cuda;

use crate::storage::on_device;
use crate::{Dim, Error, Result, Tensor};

impl Tensor {
    /// `softmax(x)ᵢ = exp(xᵢ − max x) / Σⱼ exp(xⱼ − max x)` along `dim` (numerically stable).
    pub fn softmax<D: Dim>(&self, dim: D) -> Result<Tensor> {
        self.softmax_along("softmax", dim, false)
    }

    /// `log_softmax(x)ᵢ = xᵢ − max x − log Σⱼ exp(xⱼ − max x)` along `dim`.
    pub fn log_softmax<D: Dim>(&self, dim: D) -> Result<Tensor> {
        self.softmax_along("log_softmax", dim, true)
    }

    /// Backward of (log-)softmax along `dim` given its output `self` and upstream `dy`:
    /// softmax `dx = y ⊙ (dy − Σ dy ⊙ y)`, log-softmax `dx = dy − exp(y)·Σ dy`.
    pub fn softmax_backward<D: Dim>(&self, dy: &Tensor, dim: D, log: bool) -> Result<Tensor> {
        self.expect_same_shape(dy, "softmax_backward")?;
        let d = dim.index("softmax_backward", self.shape())?;
        let last = self.rank() - 1;
        let (y, g) = (self.transpose(d, last)?.contiguous(), dy.transpose(d, last)?.contiguous());
        let storage = on_device!("softmax_backward", [y.storage(), g.storage()], |wrap, [y_on, g_on]| {
            wrap(y_on.softmax_last_dim_backward(y.layout(), g_on, g.layout(), log)?)
        });
        Tensor::from_storage(storage, y.shape()).transpose(d, last)
    }

    /// (Log-)softmax along any dim: the kernels run over the last dim, so `dim` is swapped to the
    /// end and back.
    fn softmax_along<D: Dim>(&self, op: &'static str, dim: D, log: bool) -> Result<Tensor> {
        if self.rank() == 0 {
            return Err(Error::invalid(op, "needs rank ≥ 1, got a scalar"));
        }
        let d = dim.index(op, self.shape())?;
        let last = self.rank() - 1;
        let x = self.transpose(d, last)?.contiguous();
        let storage = on_device!(op, [x.storage()], |wrap, [x_on]| wrap(x_on.softmax_last_dim(x.layout(), log)?));
        Tensor::from_storage(storage, x.shape()).transpose(d, last)
    }
}
