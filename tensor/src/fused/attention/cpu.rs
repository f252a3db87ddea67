//! Fused attention on the CPU: converts to the compute type once and runs
//! `kernels::attention` (f32 and f64; bf16/f16 compute in f32), its products in the
//! [`ExecutionContext`](crate::ExecutionContext)'s precision as every product (under bf16, bf16
//! operands and f32 sums, as PyTorch's CPU autocast runs attention). Operands are whole storages
//! read through [`HeadLayout`]s, so strided heads are not copied.

use super::AttentionKernels;
use crate::cpu::{by_float_dtype, from_compute, CpuStorage, IntoStorage};
use crate::dtype::FloatElement;
use crate::fused::matmul::ContextMicroKernel;
use crate::{DType, Error, Result};
use kernels::attention::{attention_backward, attention_forward, AttentionDims, HeadLayout, Heads, HeadsMut};
use kernels::Float;
use std::borrow::Cow;

impl AttentionKernels for CpuStorage {
    /// `(out, p)` of [`kernels::attention::attention_forward`] from `[q, k, v]`; `out` is a
    /// new buffer laid out by `out_layout`, `p` dense `(N, T, S)`.
    fn attention(
        dims: &AttentionDims,
        scale: f64,
        inputs: [(&Self, HeadLayout); 3],
        out_layout: HeadLayout,
    ) -> Result<(Self, Self)> {
        let shape = [dims.batch, dims.queries, dims.head_dim];
        by_float_dtype!("attention", inputs[0].0.dtype(), &shape, forward_typed(dims, scale, inputs, out_layout))
    }

    /// The gradients of [`kernels::attention::attention_backward`] from
    /// `[q, k, v, out, p, d_out]` (the output is not read: the saved `p` holds what it would give),
    /// in one new buffer of `len` elements holding dq, dk, dv as laid out by `grad_layouts`.
    fn attention_backward(
        dims: &AttentionDims,
        scale: f64,
        inputs: [(&Self, HeadLayout); 6],
        grad_layouts: [HeadLayout; 3],
        len: usize,
    ) -> Result<Self> {
        let [q, k, v, _out, p, d_out] = inputs;
        let inputs = [q, k, v, p, d_out];
        let shape = [dims.batch, dims.queries, dims.head_dim];
        by_float_dtype!(
            "attention_backward",
            inputs[0].0.dtype(),
            &shape,
            backward_typed(dims, scale, inputs, grad_layouts, len)
        )
    }
}

/// Each storage's elements in the compute type (borrowed when the type already is it).
fn compute<'a, T: FloatElement + IntoStorage, const N: usize>(
    op: &'static str,
    parts: [(&'a CpuStorage, HeadLayout); N],
) -> Result<[Cow<'a, [T::Compute]>; N]> {
    let mut out = Vec::with_capacity(N);
    for (s, _) in parts {
        let elements = T::slice(s).ok_or(Error::DTypeMismatch { op, lhs: T::DTYPE, rhs: s.dtype() })?;
        out.push(T::compute_slice(elements));
    }
    Ok(out.try_into().unwrap_or_else(|_| unreachable!("N parts in, N out")))
}

fn forward_typed<T: FloatElement + IntoStorage>(
    dims: &AttentionDims,
    scale: f64,
    inputs: [(&CpuStorage, HeadLayout); 3],
    out_layout: HeadLayout,
) -> Result<(CpuStorage, CpuStorage)>
where
    T::Compute: ContextMicroKernel,
{
    let layouts = inputs.map(|(_, l)| l);
    let [q, k, v] = compute::<T, 3>("attention", inputs)?;
    let heads = [&q, &k, &v].map(|x| &x[..]);
    let heads = [0, 1, 2].map(|i| Heads { data: heads[i], layout: layouts[i] });
    let mut out = vec![T::Compute::ZERO; dims.batch * dims.queries * dims.value_dim];
    let mut p = vec![T::Compute::ZERO; dims.batch * dims.queries * dims.keys];
    let out_heads = HeadsMut { data: &mut out, layout: out_layout };
    attention_forward(T::Compute::context_microkernel(), dims, T::Compute::from_f64(scale), heads, out_heads, &mut p);
    Ok((from_compute::<T>(out), from_compute::<T>(p)))
}

fn backward_typed<T: FloatElement + IntoStorage>(
    dims: &AttentionDims,
    scale: f64,
    inputs: [(&CpuStorage, HeadLayout); 5],
    grad_layouts: [HeadLayout; 3],
    len: usize,
) -> Result<CpuStorage>
where
    T::Compute: ContextMicroKernel,
{
    let layouts = inputs.map(|(_, l)| l);
    let [q, k, v, p, d_out] = compute::<T, 5>("attention_backward", inputs)?;
    let data = [&q, &k, &v].map(|x| &x[..]);
    let heads = [0, 1, 2].map(|i| Heads { data: data[i], layout: layouts[i] });
    let p = &p[layouts[3].offset..][..dims.batch * dims.queries * dims.keys];
    let d_out = Heads { data: &d_out[..], layout: layouts[4] };
    let mut grads = vec![T::Compute::ZERO; len];
    let spec = T::Compute::context_microkernel();
    attention_backward(spec, dims, T::Compute::from_f64(scale), heads, p, d_out, &mut grads, grad_layouts);
    Ok(from_compute::<T>(grads))
}
