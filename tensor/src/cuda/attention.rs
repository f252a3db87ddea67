//! Fused attention on the GPU (the flash-attention kernels of attention.cu): heads are gathered
//! into dense `(B·H, rows, cols)` blocks (read in place when already so), the kernels run, and the
//! results are written where the caller's head layouts say. What the forward keeps for the backward
//! is each query row's log-sum-exp `(B·H, T)`, not the `T × S` probabilities.

use super::{cuda_error, over, CudaData, CudaStorage, Dense, KernelLayout};
use crate::{Layout, Result};
use kernels::cpu::attention::{AttentionDims, HeadLayout};
use kernels::cuda::cudarc::driver::CudaSlice;
use kernels::cuda::launch::{self, AttentionShape, AttentionVersion};
use kernels::cuda::matmul_precision;
use kernels::launch;

/// The `(B, H, rows, cols)` view that a head layout describes for `batch = B·H` sequences.
fn head_view(l: &HeadLayout, batch: usize, rows: usize, cols: usize) -> Layout {
    Layout::from_parts(
        &[batch / l.heads, l.heads, rows, cols],
        &[l.batch_stride, l.head_stride, l.row_stride, 1],
        l.offset,
    )
}

/// The kernels for head size `d`: on tensor cores when the matrix products run in bf16.
fn version_for(d: usize) -> AttentionVersion {
    AttentionVersion::best_for(d, matmul_precision().is_bf16())
}

fn shape_of(dims: &AttentionDims, scale: f64) -> AttentionShape {
    AttentionShape {
        bh: dims.batch,
        t: dims.queries,
        s: dims.keys,
        d: dims.head_dim,
        causal: dims.causal,
        scale: scale as f32,
    }
}

impl CudaStorage {
    /// The heads of `self` under `layout` as a dense `(batch, rows, cols)` block.
    fn heads(
        &self,
        op: &'static str,
        layout: &HeadLayout,
        batch: usize,
        rows: usize,
        cols: usize,
    ) -> Result<Dense<'_>> {
        self.dense(op, &head_view(layout, batch, rows, cols))
    }

    /// Writes the dense `(batch, rows, cols)` block `x` into `out` where `layout` says.
    fn scatter_heads(
        &self,
        x: &CudaSlice<f32>,
        out: &mut CudaSlice<f32>,
        layout: &HeadLayout,
        (batch, rows, cols): (usize, usize, usize),
    ) -> Result<()> {
        let n = batch * rows * cols;
        let (count, lo) = (n as i64, KernelLayout::new("attention", &head_view(layout, batch, rows, cols))?);
        // Safety: `copy_into_f32(n, x, out, lo)`; the head layout lies inside `out`.
        unsafe { launch!(self.gpu, "elementwise.cu", "copy_into_f32", over(n), &count, x, out, &lo) }
            .map_err(cuda_error("attention"))
    }

    /// `(out laid out by out_layout, lse)` from `[q, k, v]` read through their head layouts.
    pub fn attention(
        dims: &AttentionDims,
        scale: f64,
        inputs: [(&Self, HeadLayout); 3],
        out_layout: HeadLayout,
    ) -> Result<(Self, Self)> {
        let shape = shape_of(dims, scale);
        shape.check().map_err(cuda_error("attention"))?;
        if dims.value_dim != dims.head_dim {
            return Err(crate::Error::invalid(
                "attention",
                format!("the CUDA kernel needs values as wide as queries: {dims:?}"),
            ));
        }
        let this = inputs[0].0;
        let (b, t, s, d) = (dims.batch, dims.queries, dims.keys, dims.head_dim);
        let q = inputs[0].0.heads("attention", &inputs[0].1, b, t, d)?;
        let k = inputs[1].0.heads("attention", &inputs[1].1, b, s, d)?;
        let v = inputs[2].0.heads("attention", &inputs[2].1, b, s, d)?;
        let (mut o, mut lse) = (this.alloc_f32("attention", b * t * d)?, this.alloc_f32("attention", b * t)?);
        let version = version_for(d);
        launch::attention_forward(&this.gpu, version, shape, (&q.view(), &k.view(), &v.view()), &mut o, &mut lse)
            .map_err(cuda_error("attention"))?;
        let mut out = this.alloc_f32("attention", b * t * d)?;
        this.scatter_heads(&o, &mut out, &out_layout, (b, t, d))?;
        Ok((this.with(b * t * d, CudaData::F32(out)), this.with(b * t, CudaData::F32(lse))))
    }

    /// The gradients `[dq, dk, dv]` in one buffer of `len` elements laid out by `grad_layouts`,
    /// from `[q, k, v, out, lse, d_out]`.
    pub fn attention_backward(
        dims: &AttentionDims,
        scale: f64,
        inputs: [(&Self, HeadLayout); 6],
        grad_layouts: [HeadLayout; 3],
        len: usize,
    ) -> Result<Self> {
        let shape = shape_of(dims, scale);
        shape.check().map_err(cuda_error("attention_backward"))?;
        let op = "attention_backward";
        let this = inputs[0].0;
        let (b, t, s, d) = (dims.batch, dims.queries, dims.keys, dims.head_dim);
        let rows = [t, s, s, t, 0, t];
        let mut dense = Vec::with_capacity(6);
        for (i, (storage, layout)) in inputs.iter().enumerate() {
            dense.push(if i == 4 {
                // The log-sum-exp rows: (B·H, T) dense.
                storage.dense(op, &Layout::from_parts(&[b * t], &[1], layout.offset))?
            } else {
                storage.heads(op, layout, b, rows[i], d)?
            });
        }
        // The tiled and tensor-core backward kernels add into dq.
        let (mut dot, mut dq) = (this.alloc_f32(op, b * t)?, this.zeros_f32(op, b * t * d)?);
        let (mut dk, mut dv) = (this.alloc_f32(op, b * s * d)?, this.alloc_f32(op, b * s * d)?);
        launch::attention_backward(
            &this.gpu,
            version_for(d),
            shape,
            (&dense[0].view(), &dense[1].view(), &dense[2].view()),
            (&dense[3].view(), &dense[4].view(), &dense[5].view()),
            &mut dot,
            (&mut dq, &mut dk, &mut dv),
        )
        .map_err(cuda_error(op))?;
        let mut grads = this.alloc_f32(op, len)?;
        this.scatter_heads(&dq, &mut grads, &grad_layouts[0], (b, t, d))?;
        this.scatter_heads(&dk, &mut grads, &grad_layouts[1], (b, s, d))?;
        this.scatter_heads(&dv, &mut grads, &grad_layouts[2], (b, s, d))?;
        Ok(this.with(len, CudaData::F32(grads)))
    }
}
