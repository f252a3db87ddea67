//! Row kernels on the GPU: softmax and log-softmax, layer norm, GELU backward, cross-entropy.
//! Rows are the last dim, read densely.

use super::matmul::c_row_stride;
use super::{cuda_error, driver_error, over, CudaData, CudaStorage, Dense};
use crate::op::GeluApproximation;
use crate::{Layout, Result};
use kernels::cross_entropy::cuda::{cross_entropy, CrossEntropyGrad};
use kernels::cuda::cudarc::driver::CudaSlice;
use kernels::launch;
use kernels::layer_norm::cuda::{layer_norm_backward, layer_norm_forward, LayerNormVersion};
use kernels::softmax::cuda::{softmax, softmax_backward, SoftmaxVersion};

/// `(rows, cols)` of a tensor normalised over its last dim.
fn rows_cols(layout: &Layout) -> (usize, usize) {
    let cols = layout.shape().last().copied().unwrap_or(1);
    (layout.elem_count() / cols.max(1), cols)
}

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

    /// Layer norm over the last dim: `(y, mean, rstd)`, a warp per row.
    pub fn layer_norm(
        &self,
        layout: &Layout,
        gamma: (&Self, &Layout),
        beta: (&Self, &Layout),
        eps: f64,
    ) -> Result<(Self, Self, Self)> {
        let op = "layer_norm";
        let (x, g, b) = (self.dense(op, layout)?, gamma.0.dense(op, gamma.1)?, beta.0.dense(op, beta.1)?);
        let (rows, cols) = rows_cols(layout);
        let (mut y, mut mean, mut rstd) =
            (self.alloc_f32(op, rows * cols)?, self.alloc_f32(op, rows)?, self.alloc_f32(op, rows)?);
        let version = LayerNormVersion::WarpPerRow;
        // A layer norm's output is a linear layer's input: in bf16, its image comes with it.
        let mut image = self.output_image(op, (rows, cols))?;
        let y_bf16 = image.as_mut().map(|(image, stride)| (image, *stride));
        let params = (&g.view(), &b.view());
        let dims = (rows, cols);
        layer_norm_forward(
            &self.gpu,
            version,
            &x.view(),
            params,
            eps as f32,
            (&mut y, y_bf16),
            &mut mean,
            &mut rstd,
            dims,
        )
        .map_err(cuda_error(op))?;
        let mut y = self.with(rows * cols, CudaData::F32(y));
        y.keep_output_image(image, cols);
        Ok((y, self.with(rows, CudaData::F32(mean)), self.with(rows, CudaData::F32(rstd))))
    }

    /// Layer-norm backward: `(dx, dγ, dβ)` from x (self), γ, the cached mean and rstd, and dy.
    pub fn layer_norm_backward(
        &self,
        layout: &Layout,
        gamma: (&Self, &Layout),
        mean: (&Self, &Layout),
        rstd: (&Self, &Layout),
        dy: (&Self, &Layout),
    ) -> Result<(Self, Self, Self)> {
        let op = "layer_norm_backward";
        let x = self.dense(op, layout)?;
        let (g, m, s, d) =
            (gamma.0.dense(op, gamma.1)?, mean.0.dense(op, mean.1)?, rstd.0.dense(op, rstd.1)?, dy.0.dense(op, dy.1)?);
        let (rows, cols) = rows_cols(layout);
        let (mut dx, mut dg, mut db) =
            (self.alloc_f32(op, rows * cols)?, self.zeros_f32(op, cols)?, self.zeros_f32(op, cols)?);
        layer_norm_backward(
            &self.gpu,
            [&x.view(), &g.view(), &m.view(), &s.view(), &d.view()],
            (&mut dx, &mut dg, &mut db),
            (rows, cols),
        )
        .map_err(cuda_error(op))?;
        Ok((
            self.with(rows * cols, CudaData::F32(dx)),
            self.with(cols, CudaData::F32(dg)),
            self.with(cols, CudaData::F32(db)),
        ))
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
        unsafe { launch!(self.gpu, "gelu.cu", "gelu_backward", over(n), &a, &count, &x.view(), &d.view(), &mut out) }
            .map_err(cuda_error("gelu_backward"))?;
        Ok(self.with(n, CudaData::F32(out)))
    }

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
