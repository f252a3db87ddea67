//! Softmax and log-softmax over a dim, and their backward (F2): the tensor method, its dispatch
//! over devices, and the device adapters (`cpu.rs`, `cuda.rs`) of `kernels::softmax`.

mod cpu;
mod cuda;

use crate::storage::{on_one_device, On, Storage};
use crate::{Dim, Error, Layout, Result, Tensor};

impl Tensor {
    /// `softmax(x)ᵢ = exp(xᵢ − max x) / Σⱼ exp(xⱼ − max x)` along `dim` (numerically stable).
    pub fn softmax<D: Dim>(&self, dim: D) -> Result<Tensor> {
        self.along_last_dim("softmax", dim, |x| x.storage().softmax_last_dim(x.layout(), false))
    }

    /// `log_softmax(x)ᵢ = xᵢ − max x − log Σⱼ exp(xⱼ − max x)` along `dim`.
    pub fn log_softmax<D: Dim>(&self, dim: D) -> Result<Tensor> {
        self.along_last_dim("log_softmax", dim, |x| x.storage().softmax_last_dim(x.layout(), true))
    }

    /// Backward of (log-)softmax along `dim` given its output `self` and upstream `dy`:
    /// softmax `dx = y ⊙ (dy − Σ dy ⊙ y)`, log-softmax `dx = dy − exp(y)·Σ dy`.
    pub fn softmax_backward<D: Dim>(&self, dy: &Tensor, dim: D, log: bool) -> Result<Tensor> {
        self.expect_same_shape(dy, "softmax_backward")?;
        let d = dim.index("softmax_backward", self.shape())?;
        let last = self.rank() - 1;
        let (y, g) = (self.transpose(d, last)?.contiguous(), dy.transpose(d, last)?.contiguous());
        let storage = y.storage().softmax_last_dim_backward(y.layout(), g.storage(), g.layout(), log)?;
        Tensor::from_storage(storage, y.shape()).transpose(d, last)
    }

    /// Runs a last-dim kernel along any dim by swapping it to the end and back.
    fn along_last_dim<D: Dim>(
        &self,
        op: &'static str,
        dim: D,
        f: impl Fn(&Tensor) -> Result<crate::storage::Storage>,
    ) -> Result<Tensor> {
        if self.rank() == 0 {
            return Err(Error::invalid(op, "needs rank ≥ 1, got a scalar"));
        }
        let d = dim.index(op, self.shape())?;
        let last = self.rank() - 1;
        let x = self.transpose(d, last)?.contiguous();
        Tensor::from_storage(f(&x)?, x.shape()).transpose(d, last)
    }
}

impl Storage {
    pub fn softmax_last_dim(&self, layout: &Layout, log: bool) -> Result<Self> {
        match self {
            Storage::Cpu(s) => Ok(Storage::Cpu(s.softmax_last_dim(layout, log)?)),
            Storage::Cuda(s) => Ok(Storage::Cuda(s.softmax_last_dim(layout, log)?)),
        }
    }

    pub fn softmax_last_dim_backward(&self, y: &Layout, dy: &Self, dy_layout: &Layout, log: bool) -> Result<Self> {
        match on_one_device("softmax_backward", [self, dy])? {
            On::Cpu([a, b]) => Ok(Storage::Cpu(a.softmax_last_dim_backward(y, b, dy_layout, log)?)),
            On::Cuda([a, b]) => Ok(Storage::Cuda(a.softmax_last_dim_backward(y, b, dy_layout, log)?)),
        }
    }
}
