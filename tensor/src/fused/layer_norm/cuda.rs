//! Layer norm on the GPU: a warp per row of `kernels::layer_norm`'s kernels.

use crate::cuda::bf16_image::aligned_run;
use crate::cuda::{cuda_error, driver_error, CudaData, CudaStorage};
use crate::fused::rows_cols;
use crate::{Layout, Result};
use half::bf16;
use kernels::cuda::cudarc::driver::CudaSlice;
use kernels::cuda::launch::Bf16Out;
use kernels::layer_norm::cuda::{layer_norm_backward, layer_norm_forward, LayerNormDx, LayerNormDy, LayerNormVersion};

impl CudaStorage {
    /// Layer norm over the last dim: `(y, mean, rstd)`, a warp per row.
    pub fn layer_norm(
        &self,
        layout: &Layout,
        gamma: (&Self, &Layout),
        beta: (&Self, &Layout),
        eps: f64,
    ) -> Result<(Self, Self, Self)> {
        let (rows, cols) = rows_cols(layout);
        let mut y = self.alloc_f32("layer_norm", rows * cols)?;
        // A layer norm's output is a linear layer's input: in bf16, its image comes with it.
        let mut image = self.output_image("layer_norm", (rows, cols))?;
        let y_bf16 = image.as_mut().map(|(image, stride)| (image, *stride));
        let (mean, rstd) = self.layer_norm_launch(layout, gamma, beta, eps, (Some(&mut y), y_bf16))?;
        let mut y = self.with(rows * cols, CudaData::F32(y));
        y.keep_output_image(image, cols);
        Ok((y, mean, rstd))
    }

    /// Layer norm over the last dim with `y` in bf16 alone, in rows `aligned_run(cols)` apart
    /// (16-byte aligned): an output only a linear layer reads
    /// ([`crate::Tensor::layer_norm_forward_as_operand`]). Returns `y` and the layout of its padded
    /// rows, the means and the reciprocal deviations.
    pub(crate) fn layer_norm_bf16(
        &self,
        layout: &Layout,
        gamma: (&Self, &Layout),
        beta: (&Self, &Layout),
        eps: f64,
    ) -> Result<((Self, Layout), Self, Self)> {
        let (rows, cols) = rows_cols(layout);
        let stride = aligned_run(cols);
        // Safety: every row's first cols elements are written by the kernel; the padding, which
        // nothing reads, is not.
        let mut y =
            unsafe { self.gpu.stream.alloc::<bf16>((rows * stride).max(1)) }.map_err(driver_error("layer_norm"))?;
        let (mean, rstd) = self.layer_norm_launch(layout, gamma, beta, eps, (None, Some((&mut y, stride))))?;
        let y = (self.with(rows * stride, CudaData::BF16(y)), Layout::rows_apart(layout.shape(), stride));
        Ok((y, mean, rstd))
    }

    /// The forward launch (a warp per row) into `y` and/or its bf16 copy: the means and the
    /// reciprocal deviations.
    fn layer_norm_launch(
        &self,
        layout: &Layout,
        gamma: (&Self, &Layout),
        beta: (&Self, &Layout),
        eps: f64,
        y: (Option<&mut CudaSlice<f32>>, Bf16Out),
    ) -> Result<(Self, Self)> {
        let op = "layer_norm";
        let (x, g, b) = (self.dense(op, layout)?, gamma.0.dense(op, gamma.1)?, beta.0.dense(op, beta.1)?);
        let (rows, cols) = rows_cols(layout);
        let (mut mean, mut rstd) = (self.alloc_f32(op, rows)?, self.alloc_f32(op, rows)?);
        let params = (&g.view(), &b.view());
        let version = LayerNormVersion::WarpPerRow;
        layer_norm_forward(&self.gpu, version, &x.view(), params, eps as f32, y, &mut mean, &mut rstd, (rows, cols))
            .map_err(cuda_error(op))?;
        Ok((self.with(rows, CudaData::F32(mean)), self.with(rows, CudaData::F32(rstd))))
    }

    /// Layer-norm backward: `(dx, dγ, dβ)`, a warp per row.
    pub fn layer_norm_backward(
        &self,
        layout: &Layout,
        gamma: (&Self, &Layout),
        mean: (&Self, &Layout),
        rstd: (&Self, &Layout),
        dy: (&Self, &Layout),
    ) -> Result<(Self, Self, Self)> {
        let n = layout.elem_count();
        let mut dx = self.alloc_f32("layer_norm_backward", n)?;
        let (dg, db) = self.layer_norm_backward_into(layout, [gamma, mean, rstd, dy], LayerNormDx::Alone(&mut dx))?;
        Ok((self.with(n, CudaData::F32(dx)), dg, db))
    }

    /// [`CudaStorage::layer_norm_backward`] with dx added into `sum` in place (a dense f32
    /// gradient of x's shape: what x has received already), by the kernel as it writes dx:
    /// `(dγ, dβ)`.
    pub(crate) fn layer_norm_backward_added_to(
        &self,
        layout: &Layout,
        [gamma, mean, rstd, dy]: [(&Self, &Layout); 4],
        sum: &mut Self,
    ) -> Result<(Self, Self)> {
        // The launch checks that the sum holds x's elements.
        let into = LayerNormDx::AddedInPlace(sum.f32s_mut("layer_norm_backward")?);
        self.layer_norm_backward_into(layout, [gamma, mean, rstd, dy], into)
    }

    /// The backward kernel, `dx` written as `dx_into` says: `(dγ, dβ)`. dy is f32, or bf16 (the
    /// gradient of a norm's output kept in bf16 alone, as the next layer's dx product writes it).
    fn layer_norm_backward_into(
        &self,
        layout: &Layout,
        [gamma, mean, rstd, dy]: [(&Self, &Layout); 4],
        dx_into: LayerNormDx,
    ) -> Result<(Self, Self)> {
        let op = "layer_norm_backward";
        let x = self.dense(op, layout)?;
        let (g, m, s) = (gamma.0.dense(op, gamma.1)?, mean.0.dense(op, mean.1)?, rstd.0.dense(op, rstd.1)?);
        let (rows, cols) = rows_cols(layout);
        let (mut dg, mut db) = (self.zeros_f32(op, cols)?, self.zeros_f32(op, cols)?);
        let launch = |d: LayerNormDy| {
            let params = [&x.view(), &g.view(), &m.view(), &s.view()];
            layer_norm_backward(&self.gpu, (params, &d), (dx_into, &mut dg, &mut db), (rows, cols))
                .map_err(cuda_error(op))
        };
        match &dy.0.data {
            CudaData::BF16(_) => dy.0.with_dense_bf16(op, dy.1, |d| launch(LayerNormDy::Bf16(d)))?,
            _ => launch(LayerNormDy::F32(dy.0.dense(op, dy.1)?.view()))?,
        }
        Ok((self.with(cols, CudaData::F32(dg)), self.with(cols, CudaData::F32(db))))
    }
}
