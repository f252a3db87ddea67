//! Fused attention on the GPU (the flash-attention kernels of attention.cu). The kernels read and
//! write every head where the caller's head layouts say (the packed output of the qkv projection,
//! the `(B, T, H·d)` attention output), so no head is gathered or scattered. What the forward keeps
//! for the backward is each query row's log-sum-exp `(B·H, T)`, not the `T × S` probabilities.

use super::AttentionKernels;
use crate::cuda::{cuda_error, matmul_precision, CudaData, CudaStorage};
use crate::Result;
use crate::{AttentionPath, ExecutionContext};
use kernels::attention::cuda::{
    attention_backward, attention_forward, pipelining_misfit, AttentionShape, AttentionVersion, HeadsIn,
};
use kernels::attention::{AttentionDims, HeadLayout};
use kernels::cuda::cudarc::driver::CudaView;
use kernels::cuda::Gpu;

/// The kernels for head size `d` and `scale`: the version the [`ExecutionContext`] names if any
/// ([`AttentionPath::FusedVersion`]), else on tensor cores when the matrix products run in bf16,
/// the forward pipelined where the operands it streams (`kv`: K and V) allow it, and the WMMA
/// kernels for a scale the FlashAttention-2 ones do not take (not positive). The backward is not pipelined unless forced: on an
/// H200 its pipelined kernel took 0.547 ms against 0.523 for the synchronous one (GPT-2's 8 × 12
/// heads × 1024 × 64, `emergent bench kernels`), where the pipelined forward took 0.173 against 0.244.
fn version_for(gpu: &Gpu, shape: &AttentionShape, kv: Option<[(&str, &HeadsIn); 2]>) -> AttentionVersion {
    let forced = match ExecutionContext::current().attention {
        AttentionPath::FusedVersion(version) => Some(version),
        AttentionPath::Fused | AttentionPath::Composed => None,
    };
    forced.unwrap_or_else(|| {
        let pipelinable = kv.is_some_and(|kv| pipelining_misfit(gpu, shape.d, kv).is_none());
        match AttentionVersion::best_for(shape.d, matmul_precision().is_bf16(), pipelinable) {
            best if best.takes_scale(shape.scale) => best,
            _ => AttentionVersion::TensorCores,
        }
    })
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
    /// The whole f32 buffer: head layouts address it from its first element.
    fn whole(&self, op: &'static str) -> Result<CudaView<'_, f32>> {
        Ok(self.f32s(op, &[self.len])?.slice(..))
    }
}

impl AttentionKernels for CudaStorage {
    /// `(out laid out by out_layout, lse)` from `[q, k, v]` read through their head layouts.
    fn attention(
        dims: &AttentionDims,
        scale: f64,
        inputs: [(&Self, HeadLayout); 3],
        out_layout: HeadLayout,
    ) -> Result<(Self, Self)> {
        let op = "attention";
        let shape = shape_of(dims, scale);
        shape.check().map_err(cuda_error(op))?;
        if dims.value_dim != dims.head_dim {
            return Err(crate::Error::invalid(
                op,
                format!("the CUDA kernel needs values as wide as queries: {dims:?}"),
            ));
        }
        let this = inputs[0].0;
        let (b, t, d) = (dims.batch, dims.queries, dims.head_dim);
        let [q, k, v] = [inputs[0].0.whole(op)?, inputs[1].0.whole(op)?, inputs[2].0.whole(op)?];
        let heads = [(&q, inputs[0].1), (&k, inputs[1].1), (&v, inputs[2].1)];
        // The output layout covers all b·t·d elements: the kernel writes every one.
        let (mut out, mut lse) = (this.alloc_f32(op, b * t * d)?, this.alloc_f32(op, b * t)?);
        // Heads merged into (B, T, H·d) rows are the output projection's input: in bf16 the kernel
        // writes their image too.
        let width = out_layout.heads * d;
        let merged = out_layout == HeadLayout::packed(out_layout.heads, t, d, width, 0);
        let mut image = if merged { this.output_image(op, (b * t * d / width, width))? } else { None };
        let o_bf16 = image.as_mut().map(|(image, stride)| (image, *stride));
        let version = version_for(&this.gpu, &shape, Some([("k", &heads[1]), ("v", &heads[2])]));
        attention_forward(&this.gpu, version, shape, heads, (&mut out, out_layout, o_bf16), &mut lse)
            .map_err(cuda_error(op))?;
        let mut out = this.with(b * t * d, CudaData::F32(out));
        out.keep_output_image(image, width);
        Ok((out, this.with(b * t, CudaData::F32(lse))))
    }

    /// The gradients `[dq, dk, dv]` in one buffer of `len` elements laid out by `grad_layouts`,
    /// from `[q, k, v, out, lse, d_out]`.
    fn attention_backward(
        dims: &AttentionDims,
        scale: f64,
        inputs: [(&Self, HeadLayout); 6],
        grad_layouts: [HeadLayout; 3],
        len: usize,
    ) -> Result<Self> {
        let op = "attention_backward";
        let shape = shape_of(dims, scale);
        shape.check().map_err(cuda_error(op))?;
        let this = inputs[0].0;
        let (b, t) = (dims.batch, dims.queries);
        let mut views = Vec::with_capacity(6);
        for (storage, _) in &inputs {
            views.push(storage.whole(op)?);
        }
        let at = |i: usize| (&views[i], inputs[i].1);
        // The log-sum-exp rows: (B·H, T) dense from their offset.
        let rows = inputs[4].1.offset..inputs[4].1.offset + b * t;
        let lse = views[4].try_slice(rows.clone()).ok_or_else(|| {
            crate::Error::invalid(op, format!("log-sum-exp rows {rows:?} of a buffer of {}", inputs[4].0.len))
        })?;
        // Written in full: dk and dv by the kernels, dq zeroed by the first and added into by the rest.
        let (mut dot, mut grads) = (this.alloc_f32(op, b * t)?, this.alloc_f32(op, len)?);
        attention_backward(
            &this.gpu,
            version_for(&this.gpu, &shape, None),
            shape,
            [at(0), at(1), at(2)],
            [at(3), at(5)],
            &lse,
            &mut dot,
            (&mut grads, grad_layouts),
        )
        .map_err(cuda_error(op))?;
        Ok(this.with(len, CudaData::F32(grads)))
    }
}
