//! Cross-entropy on the CPU: converts to the compute type once, runs `kernels::cross_entropy`'s
//! rows, converts back.

use crate::cpu::{by_float_dtype, compute_zeros, from_compute, typed, CpuStorage, IntoStorage};
use crate::dtype::FloatElement;
use crate::{DType, Layout, Result};
use kernels::cross_entropy as ce;

impl CpuStorage {
    /// Per-row cross-entropy of `(rows, classes)` logits against targets (`None` = ignored).
    pub fn cross_entropy(&self, layout: &Layout, targets: &[Option<usize>]) -> Result<Self> {
        by_float_dtype!("cross_entropy", self.dtype(), layout.shape(), cross_entropy_typed(self, layout, targets))
    }

    /// `dlogits = dlossᵢ·(softmax(xᵢ) − onehot(tᵢ))`, dense, and its layout. The forward's
    /// `losses` are not needed: the CPU kernel computes each row's softmax again in one pass.
    pub fn cross_entropy_backward(
        &self,
        layout: &Layout,
        targets: &[Option<usize>],
        (dloss, dloss_layout): (&Self, &Layout),
        _losses: Option<(&Self, &Layout)>,
    ) -> Result<(Self, Layout)> {
        let grad = by_float_dtype!(
            "cross_entropy_backward",
            self.dtype(),
            layout.shape(),
            cross_entropy_backward_typed(self, layout, targets, dloss, dloss_layout)
        )?;
        Ok((grad, Layout::contiguous(layout.shape())))
    }
}

fn cross_entropy_typed<T: FloatElement + IntoStorage>(
    x: &CpuStorage,
    xl: &Layout,
    targets: &[Option<usize>],
) -> Result<CpuStorage> {
    let cols = xl.shape()[1];
    let x = typed::<T>("cross_entropy", x, xl)?;
    let x = T::compute_slice(&x);
    let mut losses = compute_zeros::<T>(targets.len());
    ce::cross_entropy_forward(&x, targets, cols, &mut losses);
    Ok(from_compute::<T>(losses))
}

fn cross_entropy_backward_typed<T: FloatElement + IntoStorage>(
    x: &CpuStorage,
    xl: &Layout,
    targets: &[Option<usize>],
    dloss: &CpuStorage,
    dl: &Layout,
) -> Result<CpuStorage> {
    let cols = xl.shape()[1];
    let (x, d) = (typed::<T>("cross_entropy_backward", x, xl)?, typed::<T>("cross_entropy_backward", dloss, dl)?);
    let (x, d) = (T::compute_slice(&x), T::compute_slice(&d));
    let mut dx = compute_zeros::<T>(x.len());
    ce::cross_entropy_backward(&x, targets, &d, cols, &mut dx);
    Ok(from_compute::<T>(dx))
}
