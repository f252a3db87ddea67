//! Indexing on the GPU: index_select / index_add (and the embedding lookup, index_select on dim 0),
//! gather / scatter_add, and concatenation. Each views its input as `(outer, size, inner)` around
//! the indexed dim; the host's ids travel as an i64 buffer.

use super::{cuda_error, over, CudaData, CudaStorage, KernelLayout};
use crate::cpu::split_at_dim;
use crate::{Error, Layout, Result};
use kernels::cuda::cost::Cost;
use kernels::launch;

/// The four index kernels of index.cu share one signature:
/// `(outer, size, inner, n, ids, input, out)`.
struct IndexCall<'a> {
    kernel: &'static str,
    op: &'static str,
    /// `(outer, size, inner)` of the indexed tensor (the input for selects, the output for adds).
    split: (usize, usize, usize),
    /// Ids per outer slice (`index_select`, `index_add`) or per `(outer, ·, inner)` slab (gather).
    n: usize,
    ids: &'a [usize],
    /// Elements the kernel walks (and the output's size for selects).
    work: usize,
}

impl CudaStorage {
    /// Runs `call` on the dense input `self` (read through `layout`) into `out`.
    fn index_kernel(
        &self,
        layout: &Layout,
        call: IndexCall,
        out: &mut kernels::cuda::cudarc::driver::CudaSlice<f32>,
    ) -> Result<()> {
        let x = self.dense(call.op, layout)?;
        let ids = self.upload_ids(call.op, call.ids)?;
        let (outer, size, inner) = call.split;
        let args = [outer as i64, size as i64, inner as i64, call.n as i64];
        // The ids and the `work` elements read, those elements written (the adds read what they
        // add to as well).
        let adds = call.kernel.ends_with("_add_f32");
        let read = 8 * call.ids.len() + 4 * call.work * if adds { 2 } else { 1 };
        let cost = Cost::bytes(read, 4 * call.work);
        // Safety: `(outer, size, inner, n, ids, x, out)` as index.cu declares; the ids were checked
        // against `size` by the tensor layer, and the buffers hold what the split says.
        unsafe {
            launch!(
                self.gpu,
                "index.cu",
                call.kernel,
                over(call.work),
                cost,
                &args[0],
                &args[1],
                &args[2],
                &args[3],
                &ids,
                &x.view(),
                out
            )
        }
        .map_err(cuda_error(call.op))
    }

    /// `out[o, j, i] = x[o, ids[j], i]`.
    pub fn index_select(&self, layout: &Layout, dim: usize, ids: &[usize]) -> Result<Self> {
        let split = split_at_dim(layout.shape(), dim);
        let work = split.0 * ids.len() * split.2;
        let mut out = self.alloc_f32("index_select", work)?;
        let call = IndexCall { kernel: "index_select_f32", op: "index_select", split, n: ids.len(), ids, work };
        self.index_kernel(layout, call, &mut out)?;
        Ok(self.with(work, CudaData::F32(out)))
    }

    /// Zeros with `dim` of size `size`, and `out[o, ids[j], i] += x[o, j, i]`.
    pub fn index_add(&self, layout: &Layout, dim: usize, ids: &[usize], size: usize) -> Result<Self> {
        let (outer, _, inner) = split_at_dim(layout.shape(), dim);
        let mut out = self.zeros_f32("index_add", outer * size * inner)?;
        let work = layout.elem_count();
        let call = IndexCall {
            kernel: "index_add_f32",
            op: "index_add",
            split: (outer, size, inner),
            n: ids.len(),
            ids,
            work,
        };
        self.index_kernel(layout, call, &mut out)?;
        Ok(self.with(outer * size * inner, CudaData::F32(out)))
    }

    /// Rows of a `(vocab, dim)` table by id.
    pub fn embedding(&self, layout: &Layout, ids: &[usize]) -> Result<Self> {
        self.index_select(layout, 0, ids)
    }

    /// `out[o, j, i] = x[o, index[o, j, i], i]`, `index` of shape `index_shape`.
    pub fn gather(&self, layout: &Layout, dim: usize, index: &[usize], index_shape: &[usize]) -> Result<Self> {
        let split = split_at_dim(layout.shape(), dim);
        let n = index_shape[dim];
        let mut out = self.alloc_f32("gather", index.len())?;
        let call = IndexCall { kernel: "gather_f32", op: "gather", split, n, ids: index, work: index.len() };
        self.index_kernel(layout, call, &mut out)?;
        Ok(self.with(index.len(), CudaData::F32(out)))
    }

    /// Zeros of `out_shape` with `out[o, index[o, j, i], i] += src[o, j, i]`.
    pub fn scatter_add(&self, layout: &Layout, dim: usize, index: &[usize], out_shape: &[usize]) -> Result<Self> {
        let split = split_at_dim(out_shape, dim);
        let total: usize = out_shape.iter().product();
        let mut out = self.zeros_f32("scatter_add", total)?;
        let n = layout.shape()[dim];
        let call = IndexCall { kernel: "scatter_add_f32", op: "scatter_add", split, n, ids: index, work: index.len() };
        self.index_kernel(layout, call, &mut out)?;
        Ok(self.with(total, CudaData::F32(out)))
    }

    /// Concatenation along `dim`: each part copied into its slab of the output.
    pub fn cat(parts: &[(&CudaStorage, &Layout)], dim: usize) -> Result<Self> {
        let (first, first_layout) = parts[0];
        let mut shape = first_layout.shape().to_vec();
        shape[dim] = parts.iter().map(|(_, l)| l.shape()[dim]).sum();
        let total: usize = shape.iter().product();
        let out_strides = Layout::contiguous(&shape).strides().to_vec();
        let mut out = first.alloc_f32("cat", total)?;
        let mut start = 0;
        for (part, layout) in parts {
            if part.ordinal != first.ordinal {
                return Err(Error::DeviceMismatch { op: "cat", lhs: first.device(), rhs: part.device() });
            }
            let dense = part.contiguous(layout)?;
            let x = dense.f32s("cat", layout.shape())?;
            let n = layout.elem_count();
            let slab = Layout::from_parts(layout.shape(), &out_strides, start * out_strides[dim]);
            let (count, lo) = (n as i64, KernelLayout::new("cat", &slab)?);
            // Safety: `copy_into_f32(n, x, out, lo)`: the slab lies inside the output.
            unsafe {
                launch!(
                    first.gpu,
                    "elementwise.cu",
                    "copy_into_f32",
                    over(n),
                    Cost::f32s(n, n),
                    &count,
                    x,
                    &mut out,
                    &lo
                )
            }
            .map_err(cuda_error("cat"))?;
            start += layout.shape()[dim];
        }
        Ok(first.with(total, CudaData::F32(out)))
    }
}
