//! GELU's backward (F6) and the device adapters (`cpu.rs`, `cuda.rs`) of `kernels::gelu`; the
//! forward is the unary op `UnaryOp::Gelu`, which the devices' `unary` hands to these adapters, or
//! `gelu_as_operand` for an output only products read.

mod cpu;
mod cuda;

use crate::op::{GeluApproximation, UnaryOp};
use crate::storage::{on_device, Storage};
use crate::{DType, ExecutionContext, MatmulPrecision, Result, Tensor};

impl Tensor {
    /// GELU for an output that only matrix products read (the MLP's hidden layer): on a GPU under
    /// bf16 products it is written in bf16 alone (rows padded to 16 bytes), the operand those
    /// products read, with no f32 copy beside it; elsewhere it is `unary(Gelu)`.
    pub fn gelu_as_operand(&self, approx: GeluApproximation) -> Result<Tensor> {
        let bf16 = ExecutionContext::current().precision == MatmulPrecision::Bf16;
        match self.storage() {
            Storage::Cuda(x) if bf16 && self.dtype() == DType::F32 => {
                let (storage, layout) = x.gelu_bf16(self.layout(), approx)?;
                Ok(Tensor::from_storage_with_layout(Storage::Cuda(storage), layout))
            }
            _ => self.unary(UnaryOp::Gelu(approx)),
        }
    }

    /// `dx = dy ⊙ gelu′(x)` with `x = self`. A bf16 dy on a GPU (the MLP's `dy·W₂ᵀ`, written in
    /// bf16 by its product under bf16 products) gives dx in bf16 alone, rows padded to 16 bytes:
    /// the gradient of the MLP's first layer's output, which only that layer's two products and
    /// its bias's column sums read.
    pub fn gelu_backward(&self, dy: &Tensor, approx: GeluApproximation) -> Result<Tensor> {
        self.expect_same_shape(dy, "gelu_backward")?;
        if let (Storage::Cuda(x), Storage::Cuda(d), DType::F32, DType::BF16) =
            (self.storage(), dy.storage(), self.dtype(), dy.dtype())
        {
            let (storage, layout) = x.gelu_backward_bf16(self.layout(), d, dy.layout(), approx)?;
            return Ok(Tensor::from_storage_with_layout(Storage::Cuda(storage), layout));
        }
        let storage = on_device!("gelu_backward", [self.storage(), dy.storage()], |wrap, [x, d]| {
            wrap(x.gelu_backward(self.layout(), d, dy.layout(), approx)?)
        });
        Ok(Tensor::from_storage(storage, self.shape()))
    }
}
