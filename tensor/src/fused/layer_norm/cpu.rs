//! Layer norm on the CPU: converts to the compute type once, runs `kernels::layer_norm`'s rows,
//! converts back.

use crate::cpu::{by_float_dtype, compute_zeros, from_compute, typed, CpuStorage, IntoStorage};
use crate::dtype::FloatElement;
use crate::{DType, Layout, Result};
use kernels::layer_norm as ln;
use kernels::Float;

impl CpuStorage {
    /// Layer norm over the last dim: `(y, mean, rstd)`.
    pub fn layer_norm(
        &self,
        layout: &Layout,
        gamma: (&Self, &Layout),
        beta: (&Self, &Layout),
        eps: f64,
    ) -> Result<(Self, Self, Self)> {
        by_float_dtype!("layer_norm", self.dtype(), layout.shape(), layer_norm_typed(self, layout, gamma, beta, eps))
    }

    /// Layer-norm backward: `(dx, dγ, dβ)`. Inputs: x, γ, the cached mean and rstd, dy.
    pub fn layer_norm_backward(
        &self,
        layout: &Layout,
        gamma: (&Self, &Layout),
        mean: (&Self, &Layout),
        rstd: (&Self, &Layout),
        dy: (&Self, &Layout),
    ) -> Result<(Self, Self, Self)> {
        by_float_dtype!(
            "layer_norm_backward",
            self.dtype(),
            layout.shape(),
            layer_norm_backward_typed(self, layout, gamma, mean, rstd, dy)
        )
    }
}

fn layer_norm_typed<T: FloatElement + IntoStorage>(
    x: &CpuStorage,
    xl: &Layout,
    (g, gl): (&CpuStorage, &Layout),
    (b, bl): (&CpuStorage, &Layout),
    eps: f64,
) -> Result<(CpuStorage, CpuStorage, CpuStorage)> {
    let cols = xl.shape().last().copied().unwrap_or(1);
    let rows = xl.elem_count() / cols.max(1);
    let (x, g, b) =
        (typed::<T>("layer_norm", x, xl)?, typed::<T>("layer_norm", g, gl)?, typed::<T>("layer_norm", b, bl)?);
    let (x, g, b) = (T::compute_slice(&x), T::compute_slice(&g), T::compute_slice(&b));
    let (mut y, mut mean, mut rstd) = (compute_zeros::<T>(x.len()), compute_zeros::<T>(rows), compute_zeros::<T>(rows));
    ln::layer_norm_rows(&x, &g, &b, T::Compute::from_f64(eps), &mut y, &mut mean, &mut rstd, cols);
    Ok((from_compute::<T>(y), from_compute::<T>(mean), from_compute::<T>(rstd)))
}

fn layer_norm_backward_typed<T: FloatElement + IntoStorage>(
    x: &CpuStorage,
    xl: &Layout,
    gamma: (&CpuStorage, &Layout),
    mean: (&CpuStorage, &Layout),
    rstd: (&CpuStorage, &Layout),
    dy: (&CpuStorage, &Layout),
) -> Result<(CpuStorage, CpuStorage, CpuStorage)> {
    let op = "layer_norm_backward";
    let cols = xl.shape().last().copied().unwrap_or(1);
    let x = typed::<T>(op, x, xl)?;
    let g = typed::<T>(op, gamma.0, gamma.1)?;
    let m = typed::<T>(op, mean.0, mean.1)?;
    let r = typed::<T>(op, rstd.0, rstd.1)?;
    let d = typed::<T>(op, dy.0, dy.1)?;
    let (x, g, m, r, d) =
        (T::compute_slice(&x), T::compute_slice(&g), T::compute_slice(&m), T::compute_slice(&r), T::compute_slice(&d));
    let (mut dx, mut dg, mut db) = (compute_zeros::<T>(x.len()), compute_zeros::<T>(cols), compute_zeros::<T>(cols));
    ln::layer_norm_backward_rows(&x, &g, &m, &r, &d, &mut dx, &mut dg, &mut db, cols);
    Ok((from_compute::<T>(dx), from_compute::<T>(dg), from_compute::<T>(db)))
}
