//! Fused attention on the CPU: converts to the compute type once and runs
//! `kernels::cpu::attention` (f32 and f64; bf16/f16 compute in f32).

use super::{by_float_dtype, CpuStorage, IntoStorage};
use crate::dtype::FloatElement;
use crate::{DType, Error, Layout, Result};
use kernels::cpu::attention::{attention_backward, attention_forward, AttentionDims};
use kernels::Float;
use std::borrow::Cow;

impl CpuStorage {
    /// `(out, p)` of [`kernels::cpu::attention::attention_forward`] from `[q, k, v]`, each a
    /// storage and a contiguous layout.
    pub fn attention(dims: &AttentionDims, scale: f64, inputs: [(&Self, &Layout); 3]) -> Result<(Self, Self)> {
        let shape = [dims.batch, dims.queries, dims.head_dim];
        by_float_dtype!("attention", inputs[0].0.dtype(), &shape, forward_typed(dims, scale, inputs))
    }

    /// `(dq, dk, dv)` of [`kernels::cpu::attention::attention_backward`] from
    /// `[q, k, v, p, d_out]`, each a storage and a contiguous layout.
    pub fn attention_backward(
        dims: &AttentionDims,
        scale: f64,
        inputs: [(&Self, &Layout); 5],
    ) -> Result<(Self, Self, Self)> {
        let shape = [dims.batch, dims.queries, dims.head_dim];
        by_float_dtype!("attention_backward", inputs[0].0.dtype(), &shape, backward_typed(dims, scale, inputs))
    }
}

/// The compute-type elements of contiguous views (borrowed when the type already is it).
fn compute<'a, T: FloatElement + IntoStorage, const N: usize>(
    op: &'static str,
    parts: [(&'a CpuStorage, &Layout); N],
) -> Result<[Cow<'a, [T::Compute]>; N]> {
    let mut out = Vec::with_capacity(N);
    for (s, layout) in parts {
        debug_assert!(layout.is_contiguous());
        let elements = T::slice(s).ok_or(Error::DTypeMismatch { op, lhs: T::DTYPE, rhs: s.dtype() })?;
        out.push(T::compute_slice(&elements[layout.offset()..layout.offset() + layout.elem_count()]));
    }
    Ok(out.try_into().unwrap_or_else(|_| unreachable!("N parts in, N out")))
}

fn store<T: FloatElement + IntoStorage>(v: Vec<T::Compute>) -> CpuStorage {
    T::into_storage(T::from_compute_vec(v))
}

fn forward_typed<T: FloatElement + IntoStorage>(
    dims: &AttentionDims,
    scale: f64,
    inputs: [(&CpuStorage, &Layout); 3],
) -> Result<(CpuStorage, CpuStorage)>
where
    T::Compute: kernels::cpu::gemm::GemmScalar,
{
    let [q, k, v] = compute::<T, 3>("attention", inputs)?;
    let mut out = vec![T::Compute::ZERO; dims.batch * dims.queries * dims.value_dim];
    let mut p = vec![T::Compute::ZERO; dims.batch * dims.queries * dims.keys];
    attention_forward(dims, T::Compute::from_f64(scale), &q, &k, &v, &mut out, &mut p);
    Ok((store::<T>(out), store::<T>(p)))
}

fn backward_typed<T: FloatElement + IntoStorage>(
    dims: &AttentionDims,
    scale: f64,
    inputs: [(&CpuStorage, &Layout); 5],
) -> Result<(CpuStorage, CpuStorage, CpuStorage)>
where
    T::Compute: kernels::cpu::gemm::GemmScalar,
{
    let [q, k, v, p, d_out] = compute::<T, 5>("attention_backward", inputs)?;
    let (mut dq, mut dk, mut dv) =
        (vec![T::Compute::ZERO; q.len()], vec![T::Compute::ZERO; k.len()], vec![T::Compute::ZERO; v.len()]);
    attention_backward(dims, T::Compute::from_f64(scale), &q, &k, &v, &p, &d_out, &mut dq, &mut dk, &mut dv);
    Ok((store::<T>(dq), store::<T>(dk), store::<T>(dv)))
}
