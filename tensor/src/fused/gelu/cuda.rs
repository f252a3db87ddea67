//! GELU and its backward on the GPU (`kernels::gelu`'s kernels).

use crate::cuda::bf16_image::aligned_run;
use crate::cuda::over;
use crate::cuda::{cuda_error, driver_error, CudaData, CudaStorage};
use crate::op::GeluApproximation;
use crate::{Layout, Result};
use half::bf16;
use kernels::gelu::cuda::{gelu_backward_cost, gelu_forward};
use kernels::launch;

impl CudaStorage {
    /// GELU of dense `layout`, by gelu.cu's kernel, which in bf16 also writes the output's image:
    /// a GELU's output is the input of the MLP's second linear layer.
    pub(crate) fn gelu(&self, layout: &Layout, approx: GeluApproximation) -> Result<Self> {
        let name = "gelu";
        let x = self.dense(name, layout)?;
        let n = layout.elem_count();
        let cols = layout.shape().last().copied().unwrap_or(1).max(1);
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
        let cols = layout.shape().last().copied().unwrap_or(1).max(1);
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

    /// `dx = dy ⊙ gelu′(x)`, dy f32 or bf16 (read as it is, in the kernel's bf16 version).
    pub fn gelu_backward(
        &self,
        layout: &Layout,
        dy: &Self,
        dy_layout: &Layout,
        approx: GeluApproximation,
    ) -> Result<Self> {
        let op = "gelu_backward";
        let x = self.dense(op, layout)?;
        let n = layout.elem_count();
        let mut out = self.alloc_f32(op, n)?;
        let (a, count) = (i32::from(approx == GeluApproximation::Tanh), n as i64);
        // Safety: `gelu_backward(approx, n, x, dy, dx)` and its bf16-dy version, all n elements.
        match &dy.data {
            CudaData::BF16(_) => {
                let copy = if dy_layout.is_contiguous() { None } else { Some(dy.contiguous(dy_layout)?) };
                let (dense, offset) = copy.as_ref().map_or((dy, dy_layout.offset()), |c| (c, 0));
                let CudaData::BF16(d) = &dense.data else { unreachable!("a bf16 copy is bf16") };
                let (d, cost) = (d.slice(offset..), gelu_backward_cost(n, 2));
                unsafe {
                    launch!(
                        self.gpu,
                        "gelu.cu",
                        "gelu_backward_bf16_dy",
                        over(n),
                        cost,
                        &a,
                        &count,
                        &x.view(),
                        &d,
                        &mut out
                    )
                }
            }
            _ => {
                let (d, cost) = (dy.dense(op, dy_layout)?, gelu_backward_cost(n, 4));
                unsafe {
                    launch!(
                        self.gpu,
                        "gelu.cu",
                        "gelu_backward",
                        over(n),
                        cost,
                        &a,
                        &count,
                        &x.view(),
                        &d.view(),
                        &mut out
                    )
                }
            }
        }
        .map_err(cuda_error(op))?;
        Ok(self.with(n, CudaData::F32(out)))
    }
}
