//! GELU's backward (F6), a feed-forward layer's pre-activation as GELU reads it, and the device
//! adapters (`cpu.rs`, `cuda.rs`) of `kernels::gelu`; the forward is the unary op
//! `UnaryOp::Gelu`, which the devices' `unary` hands to these adapters.

mod cpu;
mod cuda;

use crate::op::{GeluApproximation, UnaryOp};
use crate::storage::{on_device, Storage};
use crate::{DType, Device, Error, ExecutionContext, MatmulPrecision, Result, Tensor};

/// A feed-forward layer's pre-activation `u = x·W₁ + b₁` (F3), held as GELU's two passes read it.
/// On a GPU under bf16 products: the product `x·W₁` in bf16 alone (rows padded to 16 bytes, as
/// [`Tensor::matmul_into`] writes it) with the bias beside it, which GELU's kernels add as they
/// read, so `u` is never written. Elsewhere: `u` itself, the bias added inside the product.
pub struct Preactivation {
    product: Tensor,
    bias: Option<Tensor>,
}

impl Tensor {
    /// `u = x·W₁ + b₁` with `x = self` (`x (…, k)`, `W₁ (k, n)`, `b₁ (n)`), as a [`Preactivation`].
    pub fn preactivation(&self, weight: &Tensor, bias: &Tensor) -> Result<Preactivation> {
        let bf16 = ExecutionContext::current().precision == MatmulPrecision::Bf16;
        let f32_params = weight.dtype() == DType::F32 && bias.dtype() == DType::F32;
        if bf16 && f32_params && matches!(self.device(), Device::Cuda(_)) {
            self.linear_operands(weight, bias)?;
            let product = self.matmul_into(weight, DType::BF16)?;
            return Ok(Preactivation { product, bias: Some(bias.clone()) });
        }
        Ok(Preactivation { product: self.linear(weight, bias)?, bias: None })
    }

    /// `dx = dy ⊙ gelu′(x)` with `x = self`.
    pub fn gelu_backward(&self, dy: &Tensor, approx: GeluApproximation) -> Result<Tensor> {
        self.expect_same_shape(dy, "gelu_backward")?;
        let storage = on_device!("gelu_backward", [self.storage(), dy.storage()], |wrap, [x, d]| {
            wrap(x.gelu_backward(self.layout(), d, dy.layout(), approx)?)
        });
        Ok(Tensor::from_storage(storage, self.shape()))
    }
}

impl Preactivation {
    /// `h = GELU(u)` for an output that only matrix products read (the MLP's hidden layer): from
    /// a bf16 product, written in bf16 alone (rows padded to 16 bytes), the operand those products
    /// read, with no f32 copy beside it; elsewhere `unary(Gelu)` of `u`.
    pub fn gelu_as_operand(&self, approx: GeluApproximation) -> Result<Tensor> {
        let Some(bias) = &self.bias else { return self.product.unary(UnaryOp::Gelu(approx)) };
        let (Storage::Cuda(u), Storage::Cuda(b)) = (self.product.storage(), bias.storage()) else {
            unreachable!("a product kept apart from its bias is on a GPU")
        };
        let (storage, layout) = u.gelu_of_product_bf16(self.product.layout(), (b, bias.layout()), approx)?;
        Ok(Tensor::from_storage_with_layout(Storage::Cuda(storage), layout))
    }

    /// `du = dh ⊙ gelu′(u)`. From a bf16 product, dh is read in bf16 (the MLP's `dy·W₂ᵀ`, which
    /// its product writes so) and du written in bf16 alone, rows padded to 16 bytes: a gradient
    /// that only the first layer's two products and its bias's column sums read. Elsewhere
    /// [`Tensor::gelu_backward`] of `u`.
    pub fn gelu_backward(&self, dh: &Tensor, approx: GeluApproximation) -> Result<Tensor> {
        let Some(bias) = &self.bias else { return self.product.gelu_backward(dh, approx) };
        self.product.expect_same_shape(dh, "gelu_backward")?;
        let dh = if dh.dtype() == DType::BF16 { dh.clone() } else { dh.to_dtype(DType::BF16) };
        let (Storage::Cuda(u), Storage::Cuda(b), Storage::Cuda(d)) =
            (self.product.storage(), bias.storage(), dh.storage())
        else {
            return Err(Error::invalid("gelu_backward", format!("dh on {:?}, u on a GPU", dh.device())));
        };
        let (storage, layout) =
            u.gelu_backward_of_product_bf16(self.product.layout(), (b, bias.layout()), (d, dh.layout()), approx)?;
        Ok(Tensor::from_storage_with_layout(Storage::Cuda(storage), layout))
    }
}
