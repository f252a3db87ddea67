//! The fused neural-network kernels on the CPU: softmax, layer norm, GELU backward, cross-entropy,
//! AdamW. Each converts to the compute type once, runs the `kernels` loop, and converts back.

use super::{by_float_dtype, typed, CpuStorage, IntoStorage};
use crate::dtype::FloatElement;
use crate::op::GeluApproximation;
use crate::{DType, Error, Layout, Result};
use kernels::Float;
use kernels::{adamw, cross_entropy as ce, gelu, layer_norm as ln, softmax as sm};

/// A storage from a compute-type vector.
fn store<T: FloatElement + IntoStorage>(v: Vec<T::Compute>) -> CpuStorage {
    T::into_storage(T::from_compute_vec(v))
}

fn zeros<T: FloatElement>(n: usize) -> Vec<T::Compute> {
    vec![T::Compute::ZERO; n]
}

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

    /// Layer norm over the last dim: `(y, mean, rstd)`.
    pub fn layer_norm(
        &self,
        layout: &Layout,
        gamma: &Self,
        gamma_layout: &Layout,
        beta: &Self,
        beta_layout: &Layout,
        eps: f64,
    ) -> Result<(Self, Self, Self)> {
        by_float_dtype!(
            "layer_norm",
            self.dtype(),
            layout.shape(),
            layer_norm_typed(self, layout, gamma, gamma_layout, beta, beta_layout, eps)
        )
    }

    /// Layer-norm backward: `(dx, dγ, dβ)`. Inputs: x, γ, the cached mean and rstd, dy.
    #[allow(clippy::too_many_arguments)]
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

    /// Per-row cross-entropy of `(rows, classes)` logits against targets (`None` = ignored).
    pub fn cross_entropy(&self, layout: &Layout, targets: &[Option<usize>]) -> Result<Self> {
        by_float_dtype!("cross_entropy", self.dtype(), layout.shape(), cross_entropy_typed(self, layout, targets))
    }

    /// `dlogits = dlossᵢ·(softmax(xᵢ) − onehot(tᵢ))`.
    pub fn cross_entropy_backward(
        &self,
        layout: &Layout,
        targets: &[Option<usize>],
        dloss: &Self,
        dloss_layout: &Layout,
    ) -> Result<Self> {
        by_float_dtype!(
            "cross_entropy_backward",
            self.dtype(),
            layout.shape(),
            cross_entropy_backward_typed(self, layout, targets, dloss, dloss_layout)
        )
    }

    /// One AdamW step in place on `self` (the parameter) and the moments `m`, `v`; all contiguous.
    pub fn adamw_step(
        &mut self,
        grad: (&Self, &Layout),
        m: &mut Self,
        v: &mut Self,
        cfg: &adamw::AdamWConfig,
        t: u64,
    ) -> Result<()> {
        match (self, m, v) {
            (CpuStorage::F32(p), CpuStorage::F32(m), CpuStorage::F32(v)) => {
                let g = typed::<f32>("adamw_step", grad.0, grad.1)?;
                adamw::adamw_step(p.make_mut(), &g, m.make_mut(), v.make_mut(), cfg, t);
            }
            (CpuStorage::F64(p), CpuStorage::F64(m), CpuStorage::F64(v)) => {
                let g = typed::<f64>("adamw_step", grad.0, grad.1)?;
                adamw::adamw_step(p.make_mut(), &g, m.make_mut(), v.make_mut(), cfg, t);
            }
            (p, m, _) => {
                return Err(Error::invalid(
                    "adamw_step",
                    format!(
                        "parameter and moments must all be f32 or all f64 (master weights), got {:?} and {:?}",
                        p.dtype(),
                        m.dtype()
                    ),
                ))
            }
        }
        Ok(())
    }
}

fn softmax_typed<T: FloatElement + IntoStorage>(x: &CpuStorage, layout: &Layout, log: bool) -> Result<CpuStorage> {
    let cols = layout.shape().last().copied().unwrap_or(1);
    let x = typed::<T>("softmax", x, layout)?;
    let x = T::compute_slice(&x);
    let mut y = zeros::<T>(x.len());
    if log {
        sm::log_softmax_rows(&x, &mut y, cols);
    } else {
        sm::softmax_rows(&x, &mut y, cols);
    }
    Ok(store::<T>(y))
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
    let mut dx = zeros::<T>(y.len());
    if log {
        sm::log_softmax_backward_rows(&y, &dy, &mut dx, cols);
    } else {
        sm::softmax_backward_rows(&y, &dy, &mut dx, cols);
    }
    Ok(store::<T>(dx))
}

fn layer_norm_typed<T: FloatElement + IntoStorage>(
    x: &CpuStorage,
    xl: &Layout,
    g: &CpuStorage,
    gl: &Layout,
    b: &CpuStorage,
    bl: &Layout,
    eps: f64,
) -> Result<(CpuStorage, CpuStorage, CpuStorage)> {
    let cols = xl.shape().last().copied().unwrap_or(1);
    let rows = xl.elem_count() / cols.max(1);
    let (x, g, b) =
        (typed::<T>("layer_norm", x, xl)?, typed::<T>("layer_norm", g, gl)?, typed::<T>("layer_norm", b, bl)?);
    let (x, g, b) = (T::compute_slice(&x), T::compute_slice(&g), T::compute_slice(&b));
    let (mut y, mut mean, mut rstd) = (zeros::<T>(x.len()), zeros::<T>(rows), zeros::<T>(rows));
    ln::layer_norm_rows(&x, &g, &b, T::Compute::from_f64(eps), &mut y, &mut mean, &mut rstd, cols);
    Ok((store::<T>(y), store::<T>(mean), store::<T>(rstd)))
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
    let (mut dx, mut dg, mut db) = (zeros::<T>(x.len()), zeros::<T>(cols), zeros::<T>(cols));
    ln::layer_norm_backward_rows(&x, &g, &m, &r, &d, &mut dx, &mut dg, &mut db, cols);
    Ok((store::<T>(dx), store::<T>(dg), store::<T>(db)))
}

fn gelu_typed<T: FloatElement + IntoStorage>(
    x: &CpuStorage,
    xl: &Layout,
    approx: GeluApproximation,
) -> Result<CpuStorage> {
    let x = typed::<T>("gelu", x, xl)?;
    let x = T::compute_slice(&x);
    let mut y = zeros::<T>(x.len());
    gelu::gelu(&x, &mut y, approx);
    Ok(store::<T>(y))
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
    let mut dx = zeros::<T>(x.len());
    gelu::gelu_backward(&x, &dy, &mut dx, approx);
    Ok(store::<T>(dx))
}

fn cross_entropy_typed<T: FloatElement + IntoStorage>(
    x: &CpuStorage,
    xl: &Layout,
    targets: &[Option<usize>],
) -> Result<CpuStorage> {
    let cols = xl.shape()[1];
    let x = typed::<T>("cross_entropy", x, xl)?;
    let x = T::compute_slice(&x);
    let mut losses = zeros::<T>(targets.len());
    ce::cross_entropy_forward(&x, targets, cols, &mut losses);
    Ok(store::<T>(losses))
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
    let mut dx = zeros::<T>(x.len());
    ce::cross_entropy_backward(&x, targets, &d, cols, &mut dx);
    Ok(store::<T>(dx))
}
