//! GELU and its backward on the GPU (`kernels::gelu`'s kernels).

use crate::cuda::over;
use crate::cuda::{cuda_error, CudaData, CudaStorage};
use crate::op::GeluApproximation;
use crate::{Layout, Result};
use kernels::gelu::cuda::gelu_forward;
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
        gelu_forward(&self.gpu, tanh, &x.view().slice(..n), (&mut out, y_bf16), cols).map_err(cuda_error(name))?;
        let mut y = self.with(n, CudaData::F32(out));
        y.keep_output_image(image, cols);
        Ok(y)
    }

    /// `dx = dy ⊙ gelu′(x)`.
    pub fn gelu_backward(
        &self,
        layout: &Layout,
        dy: &Self,
        dy_layout: &Layout,
        approx: GeluApproximation,
    ) -> Result<Self> {
        let (x, d) = (self.dense("gelu_backward", layout)?, dy.dense("gelu_backward", dy_layout)?);
        let n = layout.elem_count();
        let mut out = self.alloc_f32("gelu_backward", n)?;
        let (a, count) = (i32::from(approx == GeluApproximation::Tanh), n as i64);
        // Safety: `gelu_backward(approx, n, x, dy, dx)`, all n floats.
        let cost = kernels::gelu::cuda::gelu_backward_cost(n);
        unsafe {
            launch!(self.gpu, "gelu.cu", "gelu_backward", over(n), cost, &a, &count, &x.view(), &d.view(), &mut out)
        }
        .map_err(cuda_error("gelu_backward"))?;
        Ok(self.with(n, CudaData::F32(out)))
    }
}
