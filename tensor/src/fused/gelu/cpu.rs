//! GELU and its backward on the CPU, through `kernels::gelu`'s parallel loops.

use crate::cpu::{by_float_dtype, from_compute, typed, written_by, CpuStorage, IntoStorage};
use crate::dtype::FloatElement;
use crate::op::GeluApproximation;
use crate::{DType, Layout, Result};
use kernels::gelu;

impl CpuStorage {
    /// `y = gelu(x)` through the parallel GELU kernel.
    pub fn gelu(&self, layout: &Layout, approx: GeluApproximation) -> Result<Self> {
        by_float_dtype!("gelu", self.dtype(), layout.shape(), gelu_typed(self, layout, approx))
    }

    /// `dx = dy ⊙ gelu′(x)`.
    pub fn gelu_backward(
        &self,
        layout: &Layout,
        dy: &Self,
        dy_layout: &Layout,
        approx: GeluApproximation,
    ) -> Result<Self> {
        by_float_dtype!(
            "gelu_backward",
            self.dtype(),
            layout.shape(),
            gelu_backward_typed(self, layout, dy, dy_layout, approx)
        )
    }
}

fn gelu_typed<T: FloatElement + IntoStorage>(
    x: &CpuStorage,
    xl: &Layout,
    approx: GeluApproximation,
) -> Result<CpuStorage> {
    let x = typed::<T>("gelu", x, xl)?;
    let x = T::compute_slice(&x);
    // Safety: `gelu` writes every element of its output.
    let y = unsafe { written_by(x.len(), |y| gelu::gelu(&x, y, approx)) };
    Ok(from_compute::<T>(y))
}

fn gelu_backward_typed<T: FloatElement + IntoStorage>(
    x: &CpuStorage,
    xl: &Layout,
    dy: &CpuStorage,
    dyl: &Layout,
    approx: GeluApproximation,
) -> Result<CpuStorage> {
    let (x, dy) = (typed::<T>("gelu_backward", x, xl)?, typed::<T>("gelu_backward", dy, dyl)?);
    let (x, dy) = (T::compute_slice(&x), T::compute_slice(&dy));
    // Safety: `gelu_backward` writes every element of its output.
    let dx = unsafe { written_by(x.len(), |dx| gelu::gelu_backward(&x, &dy, dx, approx)) };
    Ok(from_compute::<T>(dx))
}
