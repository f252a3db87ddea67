//! GELU's backward (F6) and the device adapters (`cpu.rs`, `cuda.rs`) of `kernels::gelu`; the
//! forward is the unary op `UnaryOp::Gelu`, which the devices' `unary` hands to these adapters.

mod cpu;
mod cuda;

use crate::op::GeluApproximation;
use crate::storage::on_device;
use crate::{Result, Tensor};

impl Tensor {
    /// `dx = dy ⊙ gelu′(x)` with `x = self`.
    pub fn gelu_backward(&self, dy: &Tensor, approx: GeluApproximation) -> Result<Tensor> {
        self.expect_same_shape(dy, "gelu_backward")?;
        let storage = on_device!("gelu_backward", [self.storage(), dy.storage()], |wrap, [x, d]| {
            wrap(x.gelu_backward(self.layout(), d, dy.layout(), approx)?)
        });
        Ok(Tensor::from_storage(storage, self.shape()))
    }
}
