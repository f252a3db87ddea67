//! The fused classifier on the GPU under bf16 products: the logits written in bf16 by the product,
//! then one pass of `kernels::cross_entropy`'s bf16 kernel over them (losses, and the gradient in
//! their place).

use crate::cuda::{cuda_error, driver_error, CudaData, CudaStorage};
use crate::{Layout, Result};
use kernels::cross_entropy::cuda::cross_entropy_bf16_in_place;

impl CudaStorage {
    /// Losses `(rows)` of the logits `self (rows, C) · w_t (C, V)` against `targets` (`None`:
    /// ignored) and, given `grad_scale`, the gradient `grad_scale·(softmax − onehot)` in bf16 with
    /// the layout of its padded rows. The logits are bf16 from the product on (rows 16-byte
    /// aligned), and the gradient is written over them.
    pub(crate) fn classifier_bf16(
        &self,
        h: &Layout,
        w_t: &Self,
        w_t_layout: &Layout,
        targets: &[Option<usize>],
        grad_scale: Option<f32>,
    ) -> Result<(Self, Option<(Self, Layout)>)> {
        let op = "classifier_cross_entropy";
        let (rows, vocab) = (h.shape()[0], w_t_layout.shape()[1]);
        let (mut logits, stride) = self.matmul_into_bf16(h, w_t, w_t_layout)?;
        // The host's targets as the kernel's i64 ids, −1 for ignored rows.
        let ids: Vec<i64> = targets.iter().map(|t| t.map_or(-1, |t| t as i64)).collect();
        let ids =
            self.gpu.stream.clone_htod(if ids.is_empty() { &[-1][..] } else { &ids }).map_err(driver_error(op))?;
        let mut losses = self.alloc_f32(op, rows)?;
        cross_entropy_bf16_in_place(&self.gpu, (&mut logits, stride), &ids, -1, &mut losses, grad_scale, (rows, vocab))
            .map_err(cuda_error(op))?;
        let grad = grad_scale
            .map(|_| (self.with(rows * stride, CudaData::BF16(logits)), Layout::rows_apart(&[rows, vocab], stride)));
        Ok((self.with(rows, CudaData::F32(losses)), grad))
    }
}
