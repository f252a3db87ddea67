//! GELU and its backward on the GPU (`kernels::gelu`'s kernels).

use crate::cuda::bf16_image::aligned_run;
use crate::cuda::{cuda_error, driver_error, CudaData, CudaStorage};
use crate::op::GeluApproximation;
use crate::{Layout, Result};
use half::bf16;
use kernels::gelu::cuda::{gelu_backward, gelu_forward, GeluDy};

impl CudaStorage {
    /// GELU of dense `layout`, by gelu.cu's kernel, which in bf16 also writes the output's image:
    /// a GELU's output is the input of the MLP's second linear layer.
    pub(crate) fn gelu(&self, layout: &Layout, approx: GeluApproximation) -> Result<Self> {
        let name = "gelu";
        let x = self.dense(name, layout)?;
        let n = layout.elem_count();
        let cols = last_dim(layout);
        let mut out = self.alloc_f32(name, n)?;
        if n == 0 {
            return Ok(self.with(n, CudaData::F32(out)));
        }
        let mut image = self.output_image(name, (n / cols, cols))?;
        let y_bf16 = image.as_mut().map(|(image, stride)| (image, *stride));
        let tanh = approx == GeluApproximation::Tanh;
        gelu_forward(&self.gpu, tanh, &x.view().slice(..n), (Some(&mut out), y_bf16), cols)
            .map_err(cuda_error(name))?;
        let mut y = self.with(n, CudaData::F32(out));
        y.keep_output_image(image, cols);
        Ok(y)
    }

    /// GELU of dense `layout` in bf16 alone, in rows `aligned_run(cols)` apart (16-byte aligned):
    /// an output that only matrix products read ([`crate::Tensor::gelu_as_operand`]). Returns it
    /// and the layout of its padded rows.
    pub(crate) fn gelu_bf16(&self, layout: &Layout, approx: GeluApproximation) -> Result<(Self, Layout)> {
        let name = "gelu";
        let x = self.dense(name, layout)?;
        let n = layout.elem_count();
        let cols = last_dim(layout);
        let (rows, stride) = (n / cols, aligned_run(cols));
        // Safety: every row's first cols elements are written by the kernel (none when n is 0);
        // the padding, which nothing reads, is not.
        let mut out = unsafe { self.gpu.stream.alloc::<bf16>((rows * stride).max(1)) }.map_err(driver_error(name))?;
        if n > 0 {
            let tanh = approx == GeluApproximation::Tanh;
            let out = Some((&mut out, stride));
            gelu_forward(&self.gpu, tanh, &x.view().slice(..n), (None, out), cols).map_err(cuda_error(name))?;
        }
        Ok((self.with(rows * stride, CudaData::BF16(out)), Layout::rows_apart(layout.shape(), stride)))
    }

    /// `dx = dy ⊙ gelu′(x)` in f32, from an f32 dy.
    pub fn gelu_backward(
        &self,
        layout: &Layout,
        dy: &Self,
        dy_layout: &Layout,
        approx: GeluApproximation,
    ) -> Result<Self> {
        let op = "gelu_backward";
        let (x, d) = (self.dense(op, layout)?, dy.dense(op, dy_layout)?);
        let n = layout.elem_count();
        let mut out = self.alloc_f32(op, n)?;
        if n > 0 {
            let (tanh, cols) = (approx == GeluApproximation::Tanh, last_dim(layout));
            let dy = GeluDy::F32(d.view().slice(..n));
            gelu_backward(&self.gpu, tanh, &x.view().slice(..n), &dy, (Some(&mut out), None), cols)
                .map_err(cuda_error(op))?;
        }
        Ok(self.with(n, CudaData::F32(out)))
    }

    /// `dx = dy ⊙ gelu′(x)` from a bf16 dy (the MLP's `dy·W₂ᵀ`, written in bf16 by its product),
    /// written in bf16 alone in rows `aligned_run(cols)` apart: a gradient only the first layer's
    /// products and its bias's column sums read ([`crate::Tensor::gelu_backward`]). Returns it and
    /// the layout of its padded rows.
    pub(crate) fn gelu_backward_bf16(
        &self,
        layout: &Layout,
        dy: &Self,
        dy_layout: &Layout,
        approx: GeluApproximation,
    ) -> Result<(Self, Layout)> {
        let op = "gelu_backward";
        let x = self.dense(op, layout)?;
        let n = layout.elem_count();
        let cols = last_dim(layout);
        let (rows, stride) = (n / cols, aligned_run(cols));
        // dy as it lies if dense, else through a dense copy of its (padded) rows.
        let copy = if dy_layout.is_contiguous() { None } else { Some(dy.contiguous(dy_layout)?) };
        let (dense, offset) = copy.as_ref().map_or((dy, dy_layout.offset()), |c| (c, 0));
        let CudaData::BF16(d) = &dense.data else {
            return Err(crate::Error::invalid(op, format!("a bf16 dy, got {:?}", dense.dtype())));
        };
        // Safety: every row's first cols elements are written by the kernel (none when n is 0);
        // the padding, which nothing reads, is not.
        let mut out = unsafe { self.gpu.stream.alloc::<bf16>((rows * stride).max(1)) }.map_err(driver_error(op))?;
        if n > 0 {
            let tanh = approx == GeluApproximation::Tanh;
            let dy = GeluDy::Bf16(d.slice(offset..));
            gelu_backward(&self.gpu, tanh, &x.view().slice(..n), &dy, (None, Some((&mut out, stride))), cols)
                .map_err(cuda_error(op))?;
        }
        Ok((self.with(rows * stride, CudaData::BF16(out)), Layout::rows_apart(layout.shape(), stride)))
    }
}

/// The length of a layout's rows (its last dim; 1 for a scalar, and at least 1).
fn last_dim(layout: &Layout) -> usize {
    layout.shape().last().copied().unwrap_or(1).max(1)
}
