//! GELU and its backward on the GPU (`kernels::gelu`'s kernels).

use crate::cuda::bf16_image::aligned_run;
use crate::cuda::{cuda_error, driver_error, CudaData, CudaStorage};
use crate::op::GeluApproximation;
use crate::{Layout, Result};
use half::bf16;
use kernels::cuda::cudarc::driver::CudaSlice;
use kernels::gelu::cuda::{gelu_backward, gelu_forward, GeluDy, GeluInput};

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
        let u = GeluInput::F32(x.view().slice(..n));
        gelu_forward(&self.gpu, tanh, &u, (Some(&mut out), y_bf16), cols).map_err(cuda_error(name))?;
        let mut y = self.with(n, CudaData::F32(out));
        y.keep_output_image(image, cols);
        Ok(y)
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
            let (u, dy) = (GeluInput::F32(x.view().slice(..n)), GeluDy::F32(d.view().slice(..n)));
            gelu_backward(&self.gpu, tanh, &u, &dy, (Some(&mut out), None), cols).map_err(cuda_error(op))?;
        }
        Ok(self.with(n, CudaData::F32(out)))
    }

    /// `h = GELU(u)` of `u = product + bias` (`self` the bf16 product `x·W₁` of `layout`, the f32
    /// bias one value per column), in bf16 alone, in rows `aligned_run(cols)` apart: the MLP's
    /// hidden layer, which only matrix products read ([`crate::Preactivation::gelu_as_operand`]).
    /// Returns it and the layout of its padded rows.
    pub(crate) fn gelu_of_product_bf16(
        &self,
        layout: &Layout,
        bias: (&Self, &Layout),
        approx: GeluApproximation,
    ) -> Result<(Self, Layout)> {
        let op = "gelu";
        let tanh = approx == GeluApproximation::Tanh;
        self.bf16_rows_from_product(op, layout, bias, |u, out, cols| {
            gelu_forward(&self.gpu, tanh, u, (None, Some(out)), cols)
        })
    }

    /// `du = dh ⊙ gelu′(u)` of `u = product + bias` (as in [`CudaStorage::gelu_of_product_bf16`]),
    /// from a bf16 dh (the MLP's `dy·W₂ᵀ`, written in bf16 by its product), in bf16 alone in rows
    /// `aligned_run(cols)` apart: a gradient only the first layer's products and its bias's column
    /// sums read ([`crate::Preactivation::gelu_backward`]). Returns it and the layout of its padded
    /// rows.
    pub(crate) fn gelu_backward_of_product_bf16(
        &self,
        layout: &Layout,
        bias: (&Self, &Layout),
        (dh, dh_layout): (&Self, &Layout),
        approx: GeluApproximation,
    ) -> Result<(Self, Layout)> {
        let op = "gelu_backward";
        let tanh = approx == GeluApproximation::Tanh;
        dh.with_dense_bf16(op, dh_layout, |d| {
            let dh = GeluDy::Bf16(d);
            self.bf16_rows_from_product(op, layout, bias, |u, out, cols| {
                gelu_backward(&self.gpu, tanh, u, &dh, (None, Some(out)), cols)
            })
        })
    }

    /// What GELU's two passes share over a bf16 product: `launch(u, out, cols)` with `u` the
    /// product (dense, through a copy where its rows are padded) and the bias, `out` rows of
    /// `cols` `aligned_run(cols)` apart, written in full but for their padding. Returns `out` and
    /// the layout of its padded rows.
    fn bf16_rows_from_product(
        &self,
        op: &'static str,
        layout: &Layout,
        (bias, bias_layout): (&Self, &Layout),
        launch: impl FnOnce(
            &GeluInput,
            (&mut CudaSlice<bf16>, usize),
            usize,
        ) -> std::result::Result<(), kernels::cuda::CudaError>,
    ) -> Result<(Self, Layout)> {
        let n = layout.elem_count();
        let cols = last_dim(layout);
        let (rows, stride) = (n / cols, aligned_run(cols));
        let b = bias.dense(op, bias_layout)?;
        // Safety: every row's first cols elements are written by the kernel (none when n is 0);
        // the padding, which nothing reads, is not.
        let mut out = unsafe { self.gpu.stream.alloc::<bf16>((rows * stride).max(1)) }.map_err(driver_error(op))?;
        if n > 0 {
            self.with_dense_bf16(op, layout, |product| {
                let u = GeluInput::Bf16Product { product, bias: b.view().slice(..cols) };
                launch(&u, (&mut out, stride), cols).map_err(cuda_error(op))
            })?;
        }
        Ok((self.with(rows * stride, CudaData::BF16(out)), Layout::rows_apart(layout.shape(), stride)))
    }
}

/// The length of a layout's rows (its last dim; 1 for a scalar, and at least 1).
fn last_dim(layout: &Layout) -> usize {
    layout.shape().last().copied().unwrap_or(1).max(1)
}
