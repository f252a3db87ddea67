//! Indexing on the CPU: index_select / index_add, gather / scatter_add, and concatenation.
//! Each views its input as `(outer, size, inner)` around the indexed dim.

use super::{by_float_dtype, contiguous_cow, map_any, typed, CpuStorage, IntoStorage};
use crate::dtype::FloatElement;
use crate::{DType, Error, Layout, Result};
use kernels::cpu::embedding::{embedding_backward, embedding_forward};

/// `(outer, size, inner)`: the products of the dims before `dim`, `dim` itself, and after it.
pub(crate) fn split_at_dim(shape: &[usize], dim: usize) -> (usize, usize, usize) {
    (shape[..dim].iter().product(), shape[dim], shape[dim + 1..].iter().product())
}

impl CpuStorage {
    /// `out[o, j, i] = x[o, ids[j], i]`: the slices of `dim` named by `ids`, any dtype.
    pub fn index_select(&self, layout: &Layout, dim: usize, ids: &[usize]) -> Result<Self> {
        let (outer, size, inner) = split_at_dim(layout.shape(), dim);
        Ok(map_any!(self, |v| {
            let x = contiguous_cow(v, layout);
            let mut out = Vec::with_capacity(outer * ids.len() * inner);
            for o in 0..outer {
                for &id in ids {
                    let start = (o * size + id) * inner;
                    out.extend_from_slice(&x[start..start + inner]);
                }
            }
            out
        }))
    }

    /// The backward of `index_select`: a zero tensor of `dim` size `size` with
    /// `out[o, ids[j], i] += src[o, j, i]` (repeated ids accumulate).
    pub fn index_add(&self, layout: &Layout, dim: usize, ids: &[usize], size: usize) -> Result<Self> {
        by_float_dtype!("index_add", self.dtype(), layout.shape(), index_add_typed(self, layout, dim, ids, size))
    }

    /// `out[o, j, i] = x[o, index[o, j, i], i]` with `index` of shape `index_shape` (equal to the
    /// input's except at `dim`), any dtype.
    pub fn gather(&self, layout: &Layout, dim: usize, index: &[usize], index_shape: &[usize]) -> Result<Self> {
        let (_, size, inner) = split_at_dim(layout.shape(), dim);
        let (_, n, _) = split_at_dim(index_shape, dim);
        Ok(map_any!(self, |v| {
            let x = contiguous_cow(v, layout);
            index
                .iter()
                .enumerate()
                .map(|(flat, &id)| {
                    let (o, i) = (flat / (n * inner), flat % inner);
                    x[(o * size + id) * inner + i]
                })
                .collect()
        }))
    }

    /// The backward of `gather`: zeros of `out_shape` with `out[o, index[o, j, i], i] += src[o, j, i]`.
    pub fn scatter_add(&self, layout: &Layout, dim: usize, index: &[usize], out_shape: &[usize]) -> Result<Self> {
        by_float_dtype!(
            "scatter_add",
            self.dtype(),
            layout.shape(),
            scatter_add_typed(self, layout, dim, index, out_shape)
        )
    }

    /// Concatenation along `dim` of parts that agree on every other dim and share a dtype.
    pub fn cat(parts: &[(&CpuStorage, &Layout)], dim: usize) -> Result<Self> {
        let (first, first_layout) = parts[0];
        if let Some((s, _)) = parts.iter().find(|(s, _)| s.dtype() != first.dtype()) {
            return Err(Error::DTypeMismatch { op: "cat", lhs: first.dtype(), rhs: s.dtype() });
        }
        let (outer, _, inner) = split_at_dim(first_layout.shape(), dim);
        let total: usize = parts.iter().map(|(_, l)| l.elem_count()).sum();
        Ok(map_any!(first, |witness| {
            // Each part as a row-major slice (borrowed when already dense), `width` per outer index.
            let typed: Vec<_> = parts
                .iter()
                .map(|(s, l)| (contiguous_cow(slice_like(witness, s), l), l.shape()[dim] * inner))
                .collect();
            let mut out = Vec::with_capacity(total);
            for o in 0..outer {
                for (data, width) in &typed {
                    out.extend_from_slice(&data[o * width..(o + 1) * width]);
                }
            }
            out
        }))
    }
}

/// The elements of `s`, known to have the same type as `_witness`.
fn slice_like<'a, T: IntoStorage>(_witness: &[T], s: &'a CpuStorage) -> &'a [T] {
    T::slice(s).expect("cat checked every part has the same dtype")
}

fn index_add_typed<T: FloatElement + IntoStorage>(
    src: &CpuStorage,
    layout: &Layout,
    dim: usize,
    ids: &[usize],
    size: usize,
) -> Result<CpuStorage> {
    let (outer, n, inner) = split_at_dim(layout.shape(), dim);
    let src = typed::<T>("index_add", src, layout)?;
    let src = T::compute_slice(&src);
    let mut out = vec![<T::Compute as kernels::Float>::ZERO; outer * size * inner];
    for o in 0..outer {
        // Each outer slice is an embedding table (size rows of inner values): the same scatter.
        embedding_backward(
            &src[o * n * inner..(o + 1) * n * inner],
            ids,
            inner,
            &mut out[o * size * inner..(o + 1) * size * inner],
        );
    }
    Ok(T::into_storage(T::from_compute_vec(out)))
}

fn scatter_add_typed<T: FloatElement + IntoStorage>(
    src: &CpuStorage,
    layout: &Layout,
    dim: usize,
    index: &[usize],
    out_shape: &[usize],
) -> Result<CpuStorage> {
    let (outer, size, inner) = split_at_dim(out_shape, dim);
    let n = layout.shape()[dim];
    let src = typed::<T>("scatter_add", src, layout)?;
    let mut out = vec![<T::Compute as kernels::Float>::ZERO; outer * size * inner];
    for (flat, (&id, &g)) in index.iter().zip(src.iter()).enumerate() {
        let (o, i) = (flat / (n * inner), flat % inner);
        out[(o * size + id) * inner + i] += g.to_compute();
    }
    Ok(T::into_storage(T::from_compute_vec(out)))
}

impl CpuStorage {
    /// Rows of a `(vocab, dim)` table by id, through the embedding kernel (f32) or index_select.
    pub fn embedding(&self, layout: &Layout, ids: &[usize]) -> Result<Self> {
        let dim = layout.shape()[1];
        match self {
            CpuStorage::F32(v) => {
                let t = contiguous_cow(v, layout);
                let mut out = vec![0f32; ids.len() * dim];
                embedding_forward(&t, ids, dim, &mut out);
                Ok(CpuStorage::F32(out.into()))
            }
            other => other.index_select(layout, 0, ids),
        }
    }
}
