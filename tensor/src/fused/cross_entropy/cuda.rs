//! Cross-entropy on the GPU: `kernels::cross_entropy`'s fused kernel, losses and gradient in one
//! pass over the logits.

use crate::cuda::{c_row_stride, cuda_error, driver_error, CudaData, CudaStorage, Dense};
use crate::fused::rows_cols;
use crate::{Layout, Result};
use kernels::cross_entropy::cuda::{cross_entropy, CrossEntropyGrad};
use kernels::cuda::cudarc::driver::CudaSlice;

impl CudaStorage {
    /// Per-row cross-entropy of `(rows, classes)` logits (`None` targets give 0).
    pub fn cross_entropy(&self, layout: &Layout, targets: &[Option<usize>]) -> Result<Self> {
        let (rows, _) = rows_cols(layout);
        let mut losses = self.alloc_f32("cross_entropy", rows)?;
        self.cross_entropy_rows("cross_entropy", layout, targets, Some(&mut losses), None)?;
        Ok(self.with(rows, CudaData::F32(losses)))
    }

    /// `dlogits = dlossᵢ·(softmax(xᵢ) − onehot(tᵢ))`, in one pass over the logits when the
    /// forward's per-row `losses` are given (`log Σ exp = lossᵢ + xᵢ,tᵢ`), in rows padded to 16
    /// bytes as a product's output is (so the kernel writes whole float4 packs), and the layout
    /// that says so. Under bf16 matrix products the same pass writes the gradient's bf16 image,
    /// which the LM head's two backward products read (no conversion pass over the
    /// vocabulary-wide gradient).
    pub fn cross_entropy_backward(
        &self,
        layout: &Layout,
        targets: &[Option<usize>],
        (dloss, dloss_layout): (&Self, &Layout),
        losses: Option<(&Self, &Layout)>,
    ) -> Result<(Self, Layout)> {
        let op = "cross_entropy_backward";
        let d = dloss.dense(op, dloss_layout)?;
        let forward = losses.map(|(l, ll)| l.dense(op, ll)).transpose()?;
        let forward = forward.as_ref().map(|f| f.view());
        let (rows, vocab) = rows_cols(layout);
        let stride = c_row_stride(vocab);
        let mut dx = self.alloc_f32(op, rows * stride)?;
        let mut image = self.output_image(op, (rows, vocab))?;
        let grad = CrossEntropyGrad {
            dloss: &d.view(),
            row_losses: forward.as_ref(),
            dlogits: (&mut dx, stride),
            image: image.as_mut().map(|(image, stride)| (image, *stride)),
        };
        self.cross_entropy_rows(op, layout, targets, None, Some(grad))?;
        let mut grad = self.with(rows * stride, CudaData::F32(dx));
        grad.keep_output_image_of_rows(image, vocab, stride);
        Ok((grad, Layout::rows_apart(layout.shape(), stride)))
    }

    /// The fused cross-entropy kernel on the logits `self`: the losses, the gradient, or both.
    /// Logits whose rows are dense runs (a product's padded output) are read in place.
    fn cross_entropy_rows(
        &self,
        op: &'static str,
        layout: &Layout,
        targets: &[Option<usize>],
        losses: Option<&mut CudaSlice<f32>>,
        grad: Option<CrossEntropyGrad>,
    ) -> Result<()> {
        let (x, row_stride) = match layout.row_stride() {
            Some(stride) => (Dense::Borrowed(self.f32s(op, layout.shape())?, layout.offset()), stride),
            None => (self.dense(op, layout)?, rows_cols(layout).1),
        };
        // The host's targets (`None` = ignored) as the kernel's i64 ids, −1 for ignored rows.
        let t: Vec<i64> = targets.iter().map(|t| t.map_or(-1, |t| t as i64)).collect();
        let t = self.gpu.stream.clone_htod(if t.is_empty() { &[-1][..] } else { &t }).map_err(driver_error(op))?;
        cross_entropy(&self.gpu, (&x.view(), row_stride), &t, -1, losses, grad, rows_cols(layout))
            .map_err(cuda_error(op))
    }
}
