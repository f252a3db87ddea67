//! Reductions on the GPU: the reduced dims are permuted to the end and the view made dense, so
//! each output element reduces one row (a block per row; sums accumulate in f64 as on the CPU).
//! Sums over the leading dims of dense data (bias gradients) are column sums instead.

use super::bf16_image::aligned_run;
use super::bf16_image::Span;
use super::matmul_precision;
use super::{cuda_error, driver_error, CudaData, CudaStorage};
use crate::op::ReduceOp;
use crate::{Layout, Result};
use half::bf16;
use kernels::cuda::cost::{Cost, Math};
use kernels::cuda::cudarc::driver::{CudaSlice, LaunchConfig};
use kernels::cuda::launch::grid;
use kernels::cuda::launch::Bf16Copy;
use kernels::cuda::CudaError;
use kernels::cuda::MatmulPrecision;
use kernels::launch;

impl CudaStorage {
    /// `out[c] = Σ_r x[r, c]` for the dense `layout` seen as `(rows, cols)`: the first `leading`
    /// dims are summed. With an `image` (a buffer and its row stride), the same pass writes the
    /// rows rounded to bf16 there.
    fn column_sums(
        &self,
        layout: &Layout,
        leading: usize,
        image: Option<(&mut CudaSlice<bf16>, usize)>,
    ) -> Result<Self> {
        let (rows, cols) = leading_and_rest(layout, leading);
        let x = self.dense("sum", layout)?;
        let copy = Bf16Copy::new(&self.gpu, image, (rows, cols)).map_err(cuda_error("sum"))?;
        self.column_sums_by((rows, cols), |cfg, chunk, partial| {
            let (r, c, ch, view) = (rows as i64, cols as i32, chunk as i64, x.view());
            // x read; f64 partial sums (and x's bf16 copy) written.
            let cost = Cost::bytes(4 * rows * cols, 8 * partial.len() + copy.bytes(rows * cols))
                .with_flops(rows * cols, Math::CudaCores);
            // Safety: `column_sums_partial(rows, cols, chunk, x, partial, copy)`; partial holds
            // chunks·cols, the copy rows of its stride (checked).
            unsafe {
                launch!(self.gpu, "reduce.cu", "column_sums_partial", cfg, cost, &r, &c, &ch, &view, partial, &copy)
            }
        })
    }

    /// [`CudaStorage::column_sums`] of bf16 data `x` (a gradient written in bf16 alone), whose
    /// rows (dense runs of `cols`) lie `stride` apart from `offset`, read as they are.
    fn column_sums_bf16(
        &self,
        x: &CudaSlice<bf16>,
        (rows, cols): (usize, usize),
        offset: usize,
        stride: usize,
    ) -> Result<Self> {
        if rows > 0 && cols > 0 && (stride < cols || offset + (rows - 1) * stride + cols > x.len()) {
            return Err(crate::Error::invalid("sum", format!("{rows} rows of {cols}, {stride} apart, past the data")));
        }
        let view = x.slice(offset..);
        self.column_sums_by((rows, cols), |cfg, chunk, partial| {
            let (r, c, st, ch) = (rows as i64, cols as i32, stride as i64, chunk as i64);
            let cost = Cost::bytes(2 * rows * cols, 8 * partial.len()).with_flops(rows * cols, Math::CudaCores);
            // Safety: `column_sums_partial_bf16(rows, cols, stride, chunk, x, partial)`: x holds the
            // rows (checked), partial chunks·cols.
            unsafe {
                launch!(self.gpu, "reduce.cu", "column_sums_partial_bf16", cfg, cost, &r, &c, &st, &ch, &view, partial)
            }
        })
    }

    /// The two steps of a column sum over `(rows, cols)`: `partial_sums(cfg, chunk, partial)`
    /// launches the first (a block column per 256 columns and chunk of rows, into `partial`), then
    /// each column adds its chunks in order.
    fn column_sums_by(
        &self,
        (rows, cols): (usize, usize),
        partial_sums: impl FnOnce(LaunchConfig, usize, &mut CudaSlice<f64>) -> std::result::Result<(), CudaError>,
    ) -> Result<Self> {
        // Chunks of at least 64 rows, at most 65 535 of them (the grid's y limit); a thread per
        // column of each chunk.
        let chunk = 64.max(rows.div_ceil(65_535));
        let chunks = rows.div_ceil(chunk).max(1);
        let cfg = LaunchConfig {
            grid_dim: (cols.div_ceil(256).max(1) as u32, chunks as u32, 1),
            block_dim: (256, 1, 1),
            shared_mem_bytes: 0,
        };
        // Safety: written in full by the kernel below (a sum per chunk and column, empty chunks' 0).
        let mut partial = unsafe { self.gpu.stream.alloc::<f64>(chunks * cols.max(1)) }.map_err(driver_error("sum"))?;
        partial_sums(cfg, chunk, &mut partial).map_err(cuda_error("sum"))?;
        let mut out = self.alloc_f32("sum", cols)?;
        let (n, c) = (chunks as i32, cols as i32);
        // Safety: `column_sums_finish(chunks, cols, partial, out)`.
        unsafe {
            launch!(
                self.gpu,
                "reduce.cu",
                "column_sums_finish",
                grid(cols.div_ceil(256), 256),
                Cost::bytes(8 * chunks * cols, 4 * cols).with_flops(chunks * cols, Math::CudaCores),
                &n,
                &c,
                &partial,
                &mut out
            )
        }
        .map_err(cuda_error("sum"))?;
        Ok(self.with(cols, CudaData::F32(out)))
    }

    /// `Σ` over the leading dims of `layout` `(…, n)`: a linear layer's bias gradient from its
    /// output gradient. Under bf16 matrix products, unless the buffer keeps that image already, the
    /// pass that sums also rounds the elements into the buffer's bf16 image (`bf16_image.rs`),
    /// in rows padded as a product's operand, so the layer's two backward products (`dy·Wᵀ`,
    /// `xᵀ·dy`) find it: the gradient is read once for all three.
    ///
    /// A gradient written in bf16 alone (`CudaData::BF16`, rows padded as a product's output) is
    /// summed as it is, its rows read in place.
    pub fn bias_grad(&self, layout: &Layout) -> Result<Self> {
        let leading = layout.rank().saturating_sub(1);
        let n = layout.elem_count();
        if let CudaData::BF16(x) = &self.data {
            let (rows, cols) = leading_and_rest(layout, leading);
            return match layout.reshape(&[rows, cols]).and_then(|matrix| matrix.row_stride()) {
                Some(stride) => self.column_sums_bf16(x, (rows, cols), layout.offset(), stride),
                // Rows that are not dense runs (a transposed view): summed from a dense copy.
                None => {
                    let dense = self.contiguous(layout)?;
                    let CudaData::BF16(x) = &dense.data else { unreachable!("a bf16 copy is bf16") };
                    dense.column_sums_bf16(x, (rows, cols), 0, cols)
                }
            };
        }
        if matmul_precision() != MatmulPrecision::Bf16 || !layout.is_contiguous() || n == 0 || leading == 0 {
            return self.column_sums(layout, leading, None);
        }
        let cols = layout.shape()[leading];
        let (rows, stride) = (n / cols, aligned_run(cols));
        let mut sums = None;
        self.bf16_image.get_or_round(Span::dense(layout.offset(), n, cols), || {
            // Safety: written (but for the row padding, which no product reads) by the kernel.
            let mut image = unsafe { self.gpu.stream.alloc::<bf16>(rows * stride) }.map_err(driver_error("sum"))?;
            sums = Some(self.column_sums(layout, leading, Some((&mut image, stride)))?);
            Ok(image)
        })?;
        match sums {
            Some(sums) => Ok(sums),
            None => self.column_sums(layout, leading, None),
        }
    }

    /// Reduces over `dims` (sorted, distinct, not empty unless summed: [`Storage::reduce`] checks);
    /// the result has the kept dims' shape, row-major. Sum/Max/Min give f32, ArgMax/ArgMin i64
    /// indices into the flattened reduced dims.
    ///
    /// [`Storage::reduce`]: crate::Storage::reduce
    pub fn reduce(&self, layout: &Layout, dims: &[usize], op: ReduceOp) -> Result<Self> {
        let shape = layout.shape();
        let group: usize = dims.iter().map(|&d| shape[d]).product();
        if op == ReduceOp::Sum && layout.is_contiguous() && dims.iter().enumerate().all(|(i, &d)| i == d) {
            // Summing leading dims of dense data (bias gradients): column sums, no transposed copy.
            return self.column_sums(layout, dims.len(), None);
        }
        let order: Vec<usize> = (0..layout.rank()).filter(|d| !dims.contains(d)).chain(dims.iter().copied()).collect();
        let rows: usize = order[..layout.rank() - dims.len()].iter().map(|&d| shape[d]).product();
        let x = self.dense(op.name(), &layout.permute(&order)?)?;
        let x = &x.view();
        let (r, c) = (rows as i32, group as i64);
        match op {
            ReduceOp::Sum | ReduceOp::Max | ReduceOp::Min => {
                let code = match op {
                    ReduceOp::Sum => 0i32,
                    ReduceOp::Max => 1,
                    _ => 2,
                };
                let mut out = self.alloc_f32(op.name(), rows)?;
                // Safety: `reduce_rows_f32(op, rows, cols, x, out)`, a block per row.
                unsafe {
                    let cost = Cost::f32s(rows * group, rows).with_flops(rows * group, Math::CudaCores);
                    launch!(self.gpu, "reduce.cu", "reduce_rows_f32", grid(rows, 256), cost, &code, &r, &c, x, &mut out)
                }
                .map_err(cuda_error(op.name()))?;
                Ok(self.with(rows, CudaData::F32(out)))
            }
            ReduceOp::ArgMax | ReduceOp::ArgMin => {
                let is_min = i32::from(op == ReduceOp::ArgMin);
                // Safety: written in full by the kernel below.
                let mut out =
                    unsafe { self.gpu.stream.alloc::<i64>(rows.max(1)) }.map_err(super::driver_error(op.name()))?;
                let cfg = grid(rows.div_ceil(128), 128);
                // Safety: `argreduce_rows_f32(is_min, rows, cols, x, out)`, a thread per row.
                let cost = Cost::bytes(4 * rows * group, 8 * rows).with_flops(rows * group, Math::CudaCores);
                unsafe {
                    launch!(self.gpu, "reduce.cu", "argreduce_rows_f32", cfg, cost, &is_min, &r, &c, x, &mut out)
                }
                .map_err(cuda_error(op.name()))?;
                Ok(self.with(rows, CudaData::I64(out)))
            }
        }
    }
}

/// `(rows, cols)` of `layout` seen as a matrix: the product of its first `leading` dims and of the
/// rest.
fn leading_and_rest(layout: &Layout, leading: usize) -> (usize, usize) {
    (layout.shape()[..leading].iter().product(), layout.shape()[leading..].iter().product())
}
