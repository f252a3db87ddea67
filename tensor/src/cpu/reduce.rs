//! Reductions on the CPU: the reduced dims are permuted to the end (a free view), so each output
//! element reduces one contiguous group of the row-major walk.

use super::{contiguous_cow, unsupported, CpuStorage};
use crate::dtype::FloatElement;
use crate::op::ReduceOp;
use crate::{Layout, Result};
use kernels::Float;
use rayon::prelude::*;

impl CpuStorage {
    /// Reduces over `dims` (sorted, distinct, not empty unless summed: [`Storage::reduce`] checks);
    /// the result has the kept dims' shape, row-major.
    /// Sum/Max/Min keep the dtype; ArgMax/ArgMin give i64 indices into the flattened reduced dims.
    ///
    /// [`Storage::reduce`]: crate::Storage::reduce
    pub fn reduce(&self, layout: &Layout, dims: &[usize], op: ReduceOp) -> Result<Self> {
        let shape = layout.shape();
        let group: usize = dims.iter().map(|&d| shape[d]).product();
        if op == ReduceOp::Sum
            && layout.is_contiguous()
            && dims.iter().enumerate().all(|(i, &d)| i == d)
            && !dims.is_empty()
        {
            // Summing leading dims of dense data (bias gradients): add whole rows, no gather.
            return Ok(match self {
                CpuStorage::F32(v) => sum_leading(v, layout, dims.len()),
                CpuStorage::F64(v) => sum_leading(v, layout, dims.len()),
                CpuStorage::BF16(v) => sum_leading(v, layout, dims.len()),
                CpuStorage::F16(v) => sum_leading(v, layout, dims.len()),
                other => return Err(unsupported(op.name(), other.dtype(), shape)),
            });
        }
        let order: Vec<usize> = (0..layout.rank()).filter(|d| !dims.contains(d)).chain(dims.iter().copied()).collect();
        let permuted = layout.permute(&order)?;
        let outputs: usize = order[..layout.rank() - dims.len()].iter().map(|&d| shape[d]).product();
        Ok(match self {
            CpuStorage::F32(v) => reduce_typed(v, &permuted, group, outputs, op),
            CpuStorage::F64(v) => reduce_typed(v, &permuted, group, outputs, op),
            CpuStorage::BF16(v) => reduce_typed(v, &permuted, group, outputs, op),
            CpuStorage::F16(v) => reduce_typed(v, &permuted, group, outputs, op),
            other => return Err(unsupported(op.name(), other.dtype(), shape)),
        })
    }
}

fn reduce_typed<T: FloatElement>(
    data: &[T],
    permuted: &Layout,
    group: usize,
    outputs: usize,
    op: ReduceOp,
) -> CpuStorage
where
    Vec<T>: IntoCpu,
{
    if group == 0 {
        return vec![T::from_f64(0.0); outputs].into_cpu();
    }
    let values = contiguous_cow(data, permuted);
    let groups = values.par_chunks(group);
    match op {
        ReduceOp::Sum => groups.map(|g| T::from_f64(g.iter().map(|x| x.to_f64()).sum())).collect::<Vec<T>>().into_cpu(),
        ReduceOp::Max => groups.map(|g| extreme(g, |a, b| a > b).1).collect::<Vec<T>>().into_cpu(),
        ReduceOp::Min => groups.map(|g| extreme(g, |a, b| a < b).1).collect::<Vec<T>>().into_cpu(),
        ReduceOp::ArgMax => groups.map(|g| extreme(g, |a, b| a > b).0 as i64).collect::<Vec<i64>>().into_cpu(),
        ReduceOp::ArgMin => groups.map(|g| extreme(g, |a, b| a < b).0 as i64).collect::<Vec<i64>>().into_cpu(),
    }
}

/// `out[j] = Σᵢ x[i·n + j]`: dense data summed over its first `reduced` dims (in f64).
fn sum_leading<T: FloatElement>(data: &[T], layout: &Layout, reduced: usize) -> CpuStorage
where
    Vec<T>: IntoCpu,
{
    let x = &data[layout.offset()..layout.offset() + layout.elem_count()];
    let n: usize = layout.shape()[reduced..].iter().product();
    let mut acc = vec![0f64; n];
    if n > 0 {
        for row in x.chunks_exact(n) {
            acc.iter_mut().zip(row).for_each(|(a, v)| *a += v.to_f64());
        }
    }
    acc.into_iter().map(T::from_f64).collect::<Vec<T>>().into_cpu()
}

/// The first index and value that `better` prefers over every other; NaN wins (propagates).
fn extreme<T: FloatElement>(g: &[T], better: impl Fn(T::Compute, T::Compute) -> bool) -> (usize, T) {
    let mut best = (0, g[0].to_compute());
    for (i, &x) in g.iter().enumerate().skip(1) {
        let x = x.to_compute();
        if !Float::to_f64(best.1).is_nan() && (Float::to_f64(x).is_nan() || better(x, best.1)) {
            best = (i, x);
        }
    }
    (best.0, T::from_compute(best.1))
}

/// A typed vector that becomes a storage (lets generic code return the right variant).
pub(crate) trait IntoCpu {
    fn into_cpu(self) -> CpuStorage;
}

impl<T: super::IntoStorage> IntoCpu for Vec<T> {
    fn into_cpu(self) -> CpuStorage {
        T::into_storage(self)
    }
}
