//! Softmax on the GPU: a block per row of `kernels::softmax`'s kernels.

use crate::cuda::{cuda_error, CudaData, CudaStorage};
use crate::fused::rows_cols;
use crate::{Layout, Result};
use kernels::softmax::cuda::{softmax, softmax_backward, SoftmaxVersion};

impl CudaStorage {
    /// Softmax (or log-softmax) over the last dim: a block per row.
    pub fn softmax_last_dim(&self, layout: &Layout, log: bool) -> Result<Self> {
        let x = self.dense("softmax", layout)?;
        let (rows, cols) = rows_cols(layout);
        let mut out = self.alloc_f32("softmax", rows * cols)?;
        softmax(&self.gpu, SoftmaxVersion::BlockPerRow, log, &x.view(), &mut out, (rows, cols))
            .map_err(cuda_error("softmax"))?;
        Ok(self.with(rows * cols, CudaData::F32(out)))
    }

    /// Backward of [`CudaStorage::softmax_last_dim`] from its output `y` (self) and `dy`.
    pub fn softmax_last_dim_backward(
        &self,
        y_layout: &Layout,
        dy: &Self,
        dy_layout: &Layout,
        log: bool,
    ) -> Result<Self> {
        let (y, d) = (self.dense("softmax_backward", y_layout)?, dy.dense("softmax_backward", dy_layout)?);
        let (rows, cols) = rows_cols(y_layout);
        let mut out = self.alloc_f32("softmax_backward", rows * cols)?;
        softmax_backward(&self.gpu, log, (&y.view(), &d.view()), &mut out, (rows, cols))
            .map_err(cuda_error("softmax_backward"))?;
        Ok(self.with(rows * cols, CudaData::F32(out)))
    }
}
