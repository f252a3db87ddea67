//! Softmax on the CPU: converts to the compute type once, runs `kernels::softmax`'s rows, converts back.

use crate::cpu::{by_float_dtype, compute_zeros, from_compute, typed, CpuStorage, IntoStorage};
use crate::dtype::FloatElement;
use crate::{DType, Layout, Result};
use kernels::softmax as sm;

impl CpuStorage {
    /// Softmax (or log-softmax) over the last dim.
    pub fn softmax_last_dim(&self, layout: &Layout, log: bool) -> Result<Self> {
        by_float_dtype!("softmax", self.dtype(), layout.shape(), softmax_typed(self, layout, log))
    }

    /// Backward of [`CpuStorage::softmax_last_dim`] from its output `y` and upstream `dy`.
    pub fn softmax_last_dim_backward(
        &self,
        y_layout: &Layout,
        dy: &Self,
        dy_layout: &Layout,
        log: bool,
    ) -> Result<Self> {
        by_float_dtype!(
            "softmax_backward",
            self.dtype(),
            y_layout.shape(),
            softmax_backward_typed(self, y_layout, dy, dy_layout, log)
        )
    }
}

fn softmax_typed<T: FloatElement + IntoStorage>(x: &CpuStorage, layout: &Layout, log: bool) -> Result<CpuStorage> {
    let cols = layout.shape().last().copied().unwrap_or(1);
    let x = typed::<T>("softmax", x, layout)?;
    let x = T::compute_slice(&x);
    let mut y = compute_zeros::<T>(x.len());
    if log {
        sm::log_softmax_rows(&x, &mut y, cols);
    } else {
        sm::softmax_rows(&x, &mut y, cols);
    }
    Ok(from_compute::<T>(y))
}

fn softmax_backward_typed<T: FloatElement + IntoStorage>(
    y: &CpuStorage,
    yl: &Layout,
    dy: &CpuStorage,
    dyl: &Layout,
    log: bool,
) -> Result<CpuStorage> {
    let cols = yl.shape().last().copied().unwrap_or(1);
    let (y, dy) = (typed::<T>("softmax_backward", y, yl)?, typed::<T>("softmax_backward", dy, dyl)?);
    let (y, dy) = (T::compute_slice(&y), T::compute_slice(&dy));
    let mut dx = compute_zeros::<T>(y.len());
    if log {
        sm::log_softmax_backward_rows(&y, &dy, &mut dx, cols);
    } else {
        sm::softmax_backward_rows(&y, &dy, &mut dx, cols);
    }
    Ok(from_compute::<T>(dx))
}
