//! GELU's backward (F6) and the device adapters (`cpu.rs`, `cuda.rs`) of `kernels::gelu`; the
//! forward is the unary op `UnaryOp::Gelu`, which the devices' `unary` hands to these adapters.

mod cpu;
mod cuda;

use crate::op::GeluApproximation;
use crate::storage::{on_one_device, On, Storage};
use crate::{Layout, Result, Tensor};

impl Tensor {
    /// `dx = dy ⊙ gelu′(x)` with `x = self`.
    pub fn gelu_backward(&self, dy: &Tensor, approx: GeluApproximation) -> Result<Tensor> {
        self.expect_same_shape(dy, "gelu_backward")?;
        let storage = self.storage().gelu_backward(self.layout(), dy.storage(), dy.layout(), approx)?;
        Ok(Tensor::from_storage(storage, self.shape()))
    }
}

impl Storage {
    pub fn gelu_backward(
        &self,
        layout: &Layout,
        dy: &Self,
        dy_layout: &Layout,
        approx: GeluApproximation,
    ) -> Result<Self> {
        match on_one_device("gelu_backward", [self, dy])? {
            On::Cpu([x, d]) => Ok(Storage::Cpu(x.gelu_backward(layout, d, dy_layout, approx)?)),
            On::Cuda([x, d]) => Ok(Storage::Cuda(x.gelu_backward(layout, d, dy_layout, approx)?)),
        }
    }
}
