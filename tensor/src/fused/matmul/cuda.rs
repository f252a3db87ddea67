//! Matrix products on the GPU through cuBLAS, strided batched, in the precision
//! the [`crate::ExecutionContext`]'s precision names: f32, TF32 tensor cores, or bf16 tensor cores (operands
//! rounded to bf16 by our conversion kernel or inside cuBLAS, f32 accumulation and result).
//! Row-major operands are handed to column-major cuBLAS as their transposes: `C = A·B` is
//! `Cᵀ = Bᵀ·Aᵀ`, and a transposed view is read in place (`OP_T`).

use crate::cuda::bf16_image::{aligned_run, Span};
use crate::cuda::{
    c_row_stride, cuda_error, driver_error, matmul_precision, over, CudaData, CudaStorage, KernelLayout,
};
use crate::{Layout, Result};
use half::bf16;
use kernels::cuda::blas_lt::LtMatrix;
use kernels::cuda::cost::{Cost, Math};
use kernels::cuda::cudarc::cublas::sys::{self, cublasOperation_t};
use kernels::cuda::cudarc::cublas::{Gemm, GemmConfig, StridedBatchedConfig};
use kernels::cuda::cudarc::cublaslt::sys::cudaDataType as CudaDataType;
use kernels::cuda::cudarc::driver::{CudaSlice, CudaStream, CudaView, DevicePtr, DevicePtrMut, SyncOnDrop};
use kernels::cuda::profile::product_name;
use kernels::cuda::MatmulPrecision;
use kernels::launch;
use std::sync::Arc;

/// An operand as cuBLAS reads it: a batch of `rows × cols` matrices at `offset + b·batch_stride`.
struct Operand {
    /// The storage to read (the original, or a dense copy when the layout has no such form).
    dense: Option<CudaStorage>,
    offset: usize,
    batch_stride: usize,
    op: cublasOperation_t,
    ld: usize,
}

/// One stride that walks every batch dim in order (0 when all are broadcast), if there is one.
fn uniform_batch_stride(shape: &[usize], strides: &[usize]) -> Option<usize> {
    let dims: Vec<(usize, usize)> = shape.iter().zip(strides).filter(|(&n, _)| n > 1).map(|(&n, &s)| (n, s)).collect();
    let Some(&(_, last)) = dims.last() else { return Some(0) };
    dims.windows(2).all(|w| w[0].1 == w[1].1 * w[1].0).then_some(last)
}

/// How cuBLAS can read `(batch…, rows, cols)` through `layout`: a row-major matrix is the
/// column-major `cols × rows` matrix (`OP_N`, ld = row stride); a transposed view (unit row
/// stride) is read with `OP_T`, ld = column stride.
fn as_operand(layout: &Layout) -> Option<(usize, cublasOperation_t, usize)> {
    let r = layout.rank();
    let (rows, cols) = (layout.shape()[r - 2], layout.shape()[r - 1]);
    let (rs, cs) = (layout.strides()[r - 2], layout.strides()[r - 1]);
    let batch = uniform_batch_stride(&layout.shape()[..r - 2], &layout.strides()[..r - 2])?;
    if cs == 1 || cols == 1 {
        let ld = if rows == 1 { cols } else { rs };
        (ld >= cols.max(1)).then_some((batch, cublasOperation_t::CUBLAS_OP_N, ld))
    } else if rs == 1 || rows == 1 {
        let ld = if cols == 1 { rows } else { cs };
        (ld >= rows.max(1)).then_some((batch, cublasOperation_t::CUBLAS_OP_T, ld))
    } else {
        None
    }
}

impl CudaStorage {
    fn operand(&self, layout: &Layout) -> Result<Operand> {
        if let Some((batch_stride, op, ld)) = as_operand(layout) {
            return Ok(Operand { dense: None, offset: layout.offset(), batch_stride, op, ld });
        }
        let r = layout.rank();
        let (rows, cols) = (layout.shape()[r - 2], layout.shape()[r - 1]);
        let dense = self.contiguous(layout)?;
        let batch_stride = rows * cols;
        Ok(Operand { dense: Some(dense), offset: 0, batch_stride, op: cublasOperation_t::CUBLAS_OP_N, ld: cols.max(1) })
    }

    /// `C[b] = A[b]·B[b]` for `[batch…, m, k]·[batch…, k, n]` (batch dims broadcast to one shape),
    /// f32 or bf16 operands (a bf16 one, such as the fused classifier's gradient, puts the product
    /// on bf16 tensor cores in any precision, the other operand rounded to bf16),
    /// plus `bias` (`n` elements) on every row: in bf16, cuBLASLt adds it in the product's epilogue;
    /// otherwise (or where cuBLASLt declines) C starts as the bias rows and cuBLAS accumulates into
    /// it (β = 1). Returns the `[batch…, m, n]` buffer and the stride of its rows: without a bias,
    /// `c_row_stride(n)`, so that cuBLAS writes C with its fastest kernels; with one, `n`.
    pub fn matmul(
        &self,
        lhs: &Layout,
        rhs: &Self,
        rhs_layout: &Layout,
        bias: Option<(&Self, &Layout)>,
    ) -> Result<(Self, usize)> {
        let r = lhs.rank();
        let (m, k, n) = (lhs.shape()[r - 2], lhs.shape()[r - 1], rhs_layout.shape()[r - 1]);
        let batch: usize = lhs.shape()[..r - 2].iter().product();
        let ldc = if bias.is_some() { n } else { c_row_stride(n) };
        let total = batch * m * ldc;
        let stored_bf16 = [self.float_operand(lhs)?, rhs.float_operand(rhs_layout)?].contains(&true);
        let bf16 = (matmul_precision() == MatmulPrecision::Bf16 || stored_bf16) && total > 0 && k > 0;
        let operands = if bf16 { Some((self.bf16_operand(lhs)?, rhs.bf16_operand(rhs_layout)?)) } else { None };
        if let (Some((a, b)), Some(bias)) = (&operands, bias) {
            if let Some(c) = self.gemm_bf16_bias_epilogue(a, b, bias, None, (batch, m, n, k))? {
                return Ok((self.with(total, CudaData::F32(c)), ldc));
            }
        }
        let mut c = match bias {
            Some((b, bl)) => {
                let rows_layout = Layout::from_parts(&[batch * m, n], &[0, bl.strides()[0]], bl.offset());
                let x = b.f32s("matmul", bl.shape())?;
                let mut c = self.alloc_f32("matmul", total)?;
                let (op, s, count, lx) = (9i32, 1.0f32, total as i64, KernelLayout::new("matmul", &rows_layout)?);
                let cost = Cost::f32s(n, total);
                // Safety: `unary_f32` copies the bias into each of the batch·m rows of c.
                unsafe {
                    launch!(self.gpu, "elementwise.cu", "unary_f32", over(total), cost, &op, &s, &count, x, &lx, &mut c)
                }
                .map_err(cuda_error("matmul"))?;
                c
            }
            // β = 0: cuBLAS writes C without reading it; only an empty product leaves it as is.
            None if k == 0 => self.zeros_f32("matmul", total)?,
            None => self.alloc_f32("matmul", total)?,
        };
        if total == 0 || k == 0 {
            return Ok((self.with(total, CudaData::F32(c)), ldc));
        }
        if let Some((a, b)) = &operands {
            {
                let (c_ptr, _c) = c.device_ptr_mut(&self.gpu.stream);
                let out = OutMatrix { ptr: c_ptr, ld: ldc, dtype: sys::cudaDataType::CUDA_R_32F };
                self.gemm_bf16(a, b, out, (batch, m, n, k), bias.is_some())?;
            }
            return Ok((self.with(total, CudaData::F32(c)), ldc));
        }
        let (a, b) = (self.operand(lhs)?, rhs.operand(rhs_layout)?);
        let a_buf = a.dense.as_ref().unwrap_or(self).f32s("matmul", lhs.shape())?;
        let b_buf = b.dense.as_ref().unwrap_or(rhs).f32s("matmul", rhs_layout.shape())?;
        if matmul_precision() == MatmulPrecision::Bf16InCublas {
            // f32 operands, rounded to bf16 by cuBLAS inside the product.
            let stream = &self.gpu.stream;
            let (a_view, b_view) = (a_buf.slice(a.offset..), b_buf.slice(b.offset..));
            let (a_ptr, _a) = a_view.device_ptr(stream);
            let (b_ptr, _b) = b_view.device_ptr(stream);
            let f32_ = sys::cudaDataType::CUDA_R_32F;
            let a = ExOperand { ptr: a_ptr, dtype: f32_, op: a.op, ld: a.ld, batch_stride: a.batch_stride };
            let b = ExOperand { ptr: b_ptr, dtype: f32_, op: b.op, ld: b.ld, batch_stride: b.batch_stride };
            let compute = sys::cublasComputeType_t::CUBLAS_COMPUTE_32F_FAST_16BF;
            let name = "cuBLAS bf16 gemm (f32 operands)";
            {
                let (c_ptr, _c) = c.device_ptr_mut(stream);
                let out = OutMatrix { ptr: c_ptr, ld: ldc, dtype: f32_ };
                self.gemm_ex(name, (a, b), out, (batch, m, n, k), bias.is_some(), compute)?;
            }
            return Ok((self.with(total, CudaData::F32(c)), ldc));
        }
        let cfg = StridedBatchedConfig {
            gemm: GemmConfig {
                transa: b.op,
                transb: a.op,
                m: n as i32,
                n: m as i32,
                k: k as i32,
                alpha: 1.0f32,
                lda: b.ld as i32,
                ldb: a.ld as i32,
                beta: if bias.is_some() { 1.0 } else { 0.0 },
                ldc: ldc as i32,
            },
            batch_size: batch as i32,
            stride_a: b.batch_stride as i64,
            stride_b: a.batch_stride as i64,
            stride_c: (m * ldc) as i64,
        };
        let blas = self.gpu.blas(matmul_precision()).map_err(cuda_error("matmul"))?;
        // Safety: each operand's matrices lie inside its buffer from its offset (its layout says
        // so), and c holds batch·m rows of ldc ≥ n floats.
        let (call, math) = match matmul_precision() {
            MatmulPrecision::Tf32 => ("cuBLAS TF32 gemm", Math::Tf32TensorCores),
            _ => ("cuBLAS f32 gemm", Math::CudaCores),
        };
        let matrices = |stride: usize| if stride == 0 { 1 } else { batch };
        let operands =
            (Cost::operand(matrices(a.batch_stride), (m, k), 4), Cost::operand(matrices(b.batch_stride), (k, n), 4));
        let cost = Cost::product((batch, m, n, k), operands, 4, bias.is_some(), math);
        self.gpu
            .launch(&product_name(call, (batch, m, n, k)), cost, || unsafe {
                blas.gemm_strided_batched(cfg, &b_buf.slice(b.offset..), &a_buf.slice(a.offset..), &mut c)
            })
            .map_err(driver_error("matmul"))?;
        Ok((self.with(total, CudaData::F32(c)), ldc))
    }
}

impl CudaStorage {
    /// `C = A·B + bias + R` for `A (m, k)`, `B (k, n)`: a linear layer's output added onto the
    /// residual stream `R` (dense f32 rows of n) in the product's own pass, R read as cuBLASLt's C
    /// matrix under bf16 products, so the layer's output is never written alone. Returns C (rows
    /// n apart), or `None` where that path does not apply (other precisions, no cuBLASLt, a
    /// strided or unaligned R): the caller adds R itself.
    pub(crate) fn linear_onto_bf16(
        &self,
        lhs: &Layout,
        (rhs, rhs_layout): (&Self, &Layout),
        bias: (&Self, &Layout),
        (residual, residual_layout): (&Self, &Layout),
    ) -> Result<Option<Self>> {
        let (m, k, n) = (lhs.shape()[0], lhs.shape()[1], rhs_layout.shape()[1]);
        let stored_bf16 = [self.float_operand(lhs)?, rhs.float_operand(rhs_layout)?].contains(&true);
        let bf16 = matmul_precision() == MatmulPrecision::Bf16 || stored_bf16;
        let dense = residual_layout.is_contiguous() && residual_layout.elem_count() == m * n;
        let CudaData::F32(r) = &residual.data else { return Ok(None) };
        if !bf16 || !dense || m * n == 0 || k == 0 || residual_layout.offset() % 64 != 0 {
            return Ok(None);
        }
        let (a, b) = (self.bf16_operand(lhs)?, rhs.bf16_operand(rhs_layout)?);
        let onto = Some(r.slice(residual_layout.offset()..));
        let c = self.gemm_bf16_bias_epilogue(&a, &b, bias, onto, (1, m, n, k))?;
        Ok(c.map(|c| self.with(m * n, CudaData::F32(c))))
    }

    /// Checks that this operand is f32 or bf16; whether it is bf16.
    fn float_operand(&self, layout: &Layout) -> Result<bool> {
        match &self.data {
            CudaData::BF16(_) => Ok(true),
            _ => self.f32s("matmul", layout.shape()).map(|_| false),
        }
    }

    /// `C = A·B` for `A (m, k)` and `B (k, n)` (f32 operands rounded to bf16 as [`Self::matmul`]
    /// rounds them, bf16 ones read as they are) on bf16 tensor cores, into a new bf16 `C` rounded
    /// once from the f32 sums, in rows `aligned_run(n)` apart (16-byte aligned; the padding is
    /// left unwritten): the fused classifier's logits, which so never exist in f32. Returns C and
    /// its row stride.
    pub(crate) fn matmul_into_bf16(
        &self,
        lhs: &Layout,
        rhs: &Self,
        rhs_layout: &Layout,
    ) -> Result<(CudaSlice<bf16>, usize)> {
        let (&[m, k], &[k2, n]) = (lhs.shape(), rhs_layout.shape()) else {
            let shapes = format!("{:?} · {:?}", lhs.shape(), rhs_layout.shape());
            return Err(crate::Error::invalid("matmul", format!("a bf16 product takes two matrices, got {shapes}")));
        };
        if k != k2 {
            return Err(crate::Error::ShapeMismatch {
                op: "matmul",
                lhs: lhs.shape().to_vec(),
                rhs: rhs_layout.shape().to_vec(),
            });
        }
        self.float_operand(lhs)?;
        rhs.float_operand(rhs_layout)?;
        let ldc = aligned_run(n);
        let stream = &self.gpu.stream;
        if m * n == 0 || k == 0 {
            return Ok((stream.alloc_zeros::<bf16>((m * ldc).max(1)).map_err(driver_error("matmul"))?, ldc));
        }
        // Safety: the first n elements of every row are written by the product below; the
        // padding, which nothing reads, is not.
        let mut c = unsafe { stream.alloc::<bf16>(m * ldc) }.map_err(driver_error("matmul"))?;
        let (a, b) = (self.bf16_operand(lhs)?, rhs.bf16_operand(rhs_layout)?);
        {
            let (c_ptr, _c) = c.device_ptr_mut(stream);
            let out = OutMatrix { ptr: c_ptr, ld: ldc, dtype: sys::cudaDataType::CUDA_R_16BF };
            self.gemm_bf16(&a, &b, out, (1, m, n, k), false)?;
        }
        Ok((c, ldc))
    }
}

/// An operand in bf16 for the tensor cores, as cuBLAS reads it: from element `offset` of its data
/// on, `batch_stride` 0 when one matrix serves the whole batch.
struct Bf16Operand<'a> {
    data: Bf16Data<'a>,
    offset: usize,
    op: cublasOperation_t,
    ld: usize,
    batch_stride: usize,
}

/// Where a bf16 operand lies: an f32 tensor's rounding (its image, or a copy), or a bf16 tensor's
/// own buffer, read in place.
enum Bf16Data<'a> {
    Rounded(Arc<CudaSlice<bf16>>),
    Stored(&'a CudaSlice<bf16>),
}

impl Bf16Operand<'_> {
    /// The device address of the operand's first element, and the guard that keeps the stream's
    /// order for its buffer while the address is in use.
    fn device_ptr<'s>(&'s self, stream: &'s Arc<CudaStream>) -> (u64, SyncOnDrop<'s>) {
        let data = match &self.data {
            Bf16Data::Rounded(d) => d.as_ref(),
            Bf16Data::Stored(d) => d,
        };
        let (ptr, guard) = data.device_ptr(stream);
        (ptr + (self.offset * size_of::<bf16>()) as u64, guard)
    }
}

impl CudaStorage {
    /// The f32 elements `layout` reads, rounded to bf16, in rows of its last dim's length that start
    /// `stride` apart (padding past each row is left unwritten).
    pub(crate) fn to_bf16(&self, layout: &Layout, stride: usize) -> Result<CudaSlice<bf16>> {
        let x = self.f32s("matmul", layout.shape())?;
        let (n, cols) = (layout.elem_count(), layout.shape().last().copied().unwrap_or(1).max(1));
        let rows = n.div_ceil(cols);
        // Safety: written (but for the row padding, which no product reads) by the kernel below.
        let mut out =
            unsafe { self.gpu.stream.alloc::<bf16>((rows * stride).max(1)) }.map_err(driver_error("matmul"))?;
        let (count, lx, cols, stride) = (n as i64, KernelLayout::new("matmul", layout)?, cols as i64, stride as i64);
        // Safety: `f32_to_bf16(n, x, lx, cols, stride, out)`: lx reads n elements inside x; out
        // holds rows·stride bf16.
        let cost = Cost::bytes(4 * n, 2 * n);
        unsafe {
            launch!(self.gpu, "convert.cu", "f32_to_bf16", over(n), cost, &count, x, &lx, &cols, &stride, &mut out)
        }
        .map_err(cuda_error("matmul"))?;
        Ok(out)
    }

    /// The `(batch…, rows, cols)` operand `layout` reads, in bf16. A matrix cuBLAS can read in place
    /// (row-major, or a transposed view) is converted in its memory order, so the copy reads and
    /// writes consecutive elements and keeps its `OP_N` / `OP_T`; a broadcast batch is converted
    /// once; anything else becomes dense row-major. Runs start 16-byte aligned (padded to a
    /// multiple of 8 elements), as cuBLAS reads bf16 fastest. Runs evenly spaced in memory (dense,
    /// or padded rows) are rounded once while the buffer is unchanged (its
    /// [`bf16 image`](crate::cuda::bf16_image)): the backward finds them again.
    /// A bf16 tensor is read where it lies when cuBLAS can, else from a dense copy.
    fn bf16_operand(&self, layout: &Layout) -> Result<Bf16Operand<'_>> {
        let r = layout.rank();
        let (rows, cols) = (layout.shape()[r - 2], layout.shape()[r - 1]);
        let batch: usize = layout.shape()[..r - 2].iter().product();
        if let CudaData::BF16(stored) = &self.data {
            return Ok(match as_operand(layout) {
                Some((batch_stride, op, ld)) => {
                    Bf16Operand { data: Bf16Data::Stored(stored), offset: layout.offset(), op, ld, batch_stride }
                }
                None => {
                    let CudaData::BF16(dense) = self.contiguous(layout)?.data else { unreachable!("a bf16 copy") };
                    let (data, op) = (Bf16Data::Rounded(Arc::new(dense)), cublasOperation_t::CUBLAS_OP_N);
                    Bf16Operand { data, offset: 0, op, ld: cols.max(1), batch_stride: rows * cols }
                }
            });
        }
        let Some((batch_stride, op, ld)) = as_operand(layout) else {
            let ld = aligned_run(cols);
            let data = Bf16Data::Rounded(Arc::new(self.to_bf16(layout, ld)?));
            return Ok(Bf16Operand {
                data,
                offset: 0,
                op: cublasOperation_t::CUBLAS_OP_N,
                ld,
                batch_stride: rows * ld,
            });
        };
        // In memory, an `OP_N` matrix is `rows` runs of `cols` elements, an `OP_T` one `cols` runs
        // of `rows`; runs start `ld` apart.
        let (runs, run) = if op == cublasOperation_t::CUBLAS_OP_N { (rows, cols) } else { (cols, rows) };
        let (matrices, stride) = if batch_stride == 0 { (1, 0) } else { (batch, batch_stride) };
        let memory = Layout::from_parts(&[matrices, runs, run], &[stride, ld, 1], layout.offset());
        let evenly_spaced = matrices == 1 || stride == runs * ld;
        let span = Span::new(memory.offset(), matrices * runs, run, ld);
        let ld = aligned_run(run);
        let data = Bf16Data::Rounded(if evenly_spaced {
            self.bf16_image.get_or_round(span, || self.to_bf16(&memory, ld))?
        } else {
            Arc::new(self.to_bf16(&memory, ld)?)
        });
        let batch_stride = if batch_stride == 0 { 0 } else { runs * ld };
        Ok(Bf16Operand { data, offset: 0, op, ld, batch_stride })
    }

    /// `C[b] (+)= A[b]·B[b]` on bf16 tensor cores for bf16 `A (batch, m, k)`, `B (batch, k, n)` into
    /// `C (batch, m, n)` (f32, or bf16 rounded from the f32 sums), accumulating in f32
    /// (`accumulate`: β = 1, onto the bias rows). cuBLAS takes its fastest kernels only where n and k are multiples of 8, so each
    /// of them splits into its largest multiple of 8 and the remainder (< 8), and the product is
    /// made of up to four parts, those over the remainder of k accumulated onto the others (β = 1).
    /// On an H200, GPT-2's LM head (vocabulary 50257) ran its `logits = h·Eᵀ` (n = 50257) at
    /// 95 TFLOP/s whole and 587 split (into rows padded by [`c_row_stride`]), and
    /// `dh = dlogits·E` (k = 50257) at 131 whole and 752 split.
    fn gemm_bf16(
        &self,
        a: &Bf16Operand,
        b: &Bf16Operand,
        c: OutMatrix,
        (batch, m, n, k): (usize, usize, usize, usize),
        accumulate: bool,
    ) -> Result<()> {
        let stream = &self.gpu.stream;
        let (a_ptr, _a) = a.device_ptr(stream);
        let (b_ptr, _b) = b.device_ptr(stream);
        let bf = sys::cudaDataType::CUDA_R_16BF;
        let a = ExOperand { ptr: a_ptr, dtype: bf, op: a.op, ld: a.ld, batch_stride: a.batch_stride };
        let b = ExOperand { ptr: b_ptr, dtype: bf, op: b.op, ld: b.ld, batch_stride: b.batch_stride };
        let compute = sys::cublasComputeType_t::CUBLAS_COMPUTE_32F;
        let transposed = |o: &ExOperand| o.op == cublasOperation_t::CUBLAS_OP_T;
        for (n0, n_part) in parts_of_8(n) {
            for (k0, k_part) in parts_of_8(k) {
                // A's k indexes its runs when A is read transposed; B's k when it is not, its n
                // when it is.
                let a = a.from(k0, transposed(&a));
                let b = b.from(k0, !transposed(&b)).from(n0, transposed(&b));
                let c = OutMatrix { ptr: c.ptr + (n0 * element_bytes(c.dtype)) as u64, ..c };
                let dims = (batch, m, n_part, k_part);
                self.gemm_ex("cuBLAS bf16 gemm", (a, b), c, dims, accumulate || k0 > 0, compute)?;
            }
        }
        Ok(())
    }

    /// `C[b] = A[b]·B[b] + bias (+ R[b])` on bf16 tensor cores through cuBLASLt, the bias (`n`
    /// contiguous f32) added in the epilogue, and `onto`'s dense f32 rows R (a residual stream)
    /// as the product's C matrix (β = 1), into a new f32 buffer; `None` where cuBLASLt declines
    /// (no library, no algorithm for these shapes, a strided or unaligned bias), so the caller
    /// takes the plain path.
    fn gemm_bf16_bias_epilogue(
        &self,
        a: &Bf16Operand,
        b: &Bf16Operand,
        (bias, bias_layout): (&Self, &Layout),
        onto: Option<CudaView<f32>>,
        (batch, m, n, k): (usize, usize, usize, usize),
    ) -> Result<Option<CudaSlice<f32>>> {
        // cuBLASLt's algorithms may assume 256-byte aligned pointers: the operands and C are fresh
        // buffers, and a bias is usually a whole parameter; any other bias takes the plain path.
        if (n > 1 && bias_layout.strides()[0] != 1) || bias_layout.offset() % 64 != 0 {
            return Ok(None);
        }
        let Ok(lt) = self.gpu.blas_lt() else { return Ok(None) };
        let mut c = self.alloc_f32("matmul", batch * m * n)?;
        let stream = &self.gpu.stream;
        let done = {
            let (a_ptr, _a) = a.device_ptr(stream);
            let (b_ptr, _b) = b.device_ptr(stream);
            let bias = bias.f32s("matmul", bias_layout.shape())?.slice(bias_layout.offset()..);
            let (bias_ptr, _bias) = bias.device_ptr(stream);
            let onto = onto.as_ref().map(|r| r.device_ptr(stream));
            let (c_ptr, _c) = c.device_ptr_mut(stream);
            // Column-major, as for cuBLAS (see `gemm_ex`): D = Cᵀ (n × m) = op(B)·op(A) in
            // column-major views, B's matrix first; each operand as stored, before its op.
            let stored = |o: &Bf16Operand, ptr: u64, (rows, cols): (usize, usize)| {
                let transposed = o.op == cublasOperation_t::CUBLAS_OP_T;
                let (rows, cols) = if transposed { (cols, rows) } else { (rows, cols) };
                let (rows, cols, ld, batch_stride) = (rows as u64, cols as u64, o.ld as i64, o.batch_stride as i64);
                (LtMatrix { ptr, dtype: CudaDataType::CUDA_R_16BF, rows, cols, ld, batch_stride }, transposed)
            };
            let (first, second) = (stored(b, b_ptr, (n, k)), stored(a, a_ptr, (k, m)));
            let (rows, cols, ld, batch_stride) = (n as u64, m as u64, n as i64, (m * n) as i64);
            let d = LtMatrix { ptr: c_ptr, dtype: CudaDataType::CUDA_R_32F, rows, cols, ld, batch_stride };
            let compute = kernels::cuda::cudarc::cublaslt::sys::cublasComputeType_t::CUBLAS_COMPUTE_32F;
            // Safety: each operand lies in its buffer as its op, leading dimension and batch stride
            // say; the bias holds n floats from its offset; C, and R where given, batch·m·n.
            let what =
                if onto.is_some() { "cuBLASLt bf16 gemm + bias + residual" } else { "cuBLASLt bf16 gemm + bias" };
            let name = product_name(what, (batch, m, n, k));
            let added = (bias_ptr, onto.as_ref().map(|(ptr, _)| *ptr));
            unsafe { lt.matmul_bias(&self.gpu, &name, first, second, d, added, batch as i32, compute) }
        };
        Ok(done.is_ok().then_some(c))
    }

    /// `C[b] (+)= A[b]·B[b]` (`C (batch, m, n)`, rows `ldc` apart, f32 or bf16) by
    /// `cublasGemmStridedBatchedEx` with the operands' data types and the `compute` type
    /// (`accumulate`: β = 1, onto the bias rows or an earlier part of the product).
    fn gemm_ex(
        &self,
        name: &str,
        (a, b): (ExOperand, ExOperand),
        c: OutMatrix,
        (batch, m, n, k): (usize, usize, usize, usize),
        accumulate: bool,
        compute: sys::cublasComputeType_t,
    ) -> Result<()> {
        let blas = self.gpu.blas(matmul_precision()).map_err(cuda_error("matmul"))?;
        let (alpha, beta) = (1.0f32, if accumulate { 1.0f32 } else { 0.0 });
        let (c_ptr, ldc, c_type) = (c.ptr, c.ld, c.dtype);
        let math = match (compute, a.dtype) {
            (sys::cublasComputeType_t::CUBLAS_COMPUTE_32F_FAST_16BF, _) | (_, sys::cudaDataType::CUDA_R_16BF) => {
                Math::Bf16TensorCores
            }
            _ => Math::CudaCores,
        };
        let operands = (a.bytes(batch, (m, k)), b.bytes(batch, (k, n)));
        let cost = Cost::product((batch, m, n, k), operands, element_bytes(c_type), accumulate, math);
        self.gpu.launch(&product_name(name, (batch, m, n, k)), cost, || {
            // Safety: A's and B's matrices lie in their buffers as their ops, leading dimensions
            // and batch strides say; C's batch·m rows of n elements, ldc apart, in its buffer.
            let status = unsafe {
                sys::cublasGemmStridedBatchedEx(
                    *blas.handle(),
                    b.op,
                    a.op,
                    n as i32,
                    m as i32,
                    k as i32,
                    (&alpha as *const f32).cast(),
                    b.ptr as *const std::ffi::c_void,
                    b.dtype,
                    b.ld as i32,
                    b.batch_stride as i64,
                    a.ptr as *const std::ffi::c_void,
                    a.dtype,
                    a.ld as i32,
                    a.batch_stride as i64,
                    (&beta as *const f32).cast(),
                    c_ptr as *mut std::ffi::c_void,
                    c_type,
                    ldc as i32,
                    (m * ldc) as i64,
                    batch as i32,
                    compute,
                    sys::cublasGemmAlgo_t::CUBLAS_GEMM_DEFAULT,
                )
            };
            match status {
                sys::cublasStatus_t::CUBLAS_STATUS_SUCCESS => Ok(()),
                _ => Err(driver_error::<String>("matmul")(format!("cublasGemmStridedBatchedEx: {status:?}"))),
            }
        })
    }
}

/// A matrix operand as `cublasGemmStridedBatchedEx` takes it: the device address of its first
/// element, its data type, op, leading dimension and batch stride.
#[derive(Clone, Copy)]
struct ExOperand {
    ptr: u64,
    dtype: sys::cudaDataType,
    op: cublasOperation_t,
    ld: usize,
    batch_stride: usize,
}

impl ExOperand {
    /// The operand from index `i` of one of its dimensions on: `i` runs on where that dimension
    /// counts the runs (`counts_runs`), else `i` elements into each run.
    fn from(&self, i: usize, counts_runs: bool) -> Self {
        let skipped = if counts_runs { i * self.ld } else { i };
        Self { ptr: self.ptr + (skipped * self.element_bytes()) as u64, ..*self }
    }

    fn element_bytes(&self) -> usize {
        element_bytes(self.dtype)
    }

    /// The bytes a product reads of this operand's `batch` matrices of `dims` (one where its batch
    /// stride is 0).
    fn bytes(&self, batch: usize, dims: (usize, usize)) -> usize {
        Cost::operand(if self.batch_stride == 0 { 1 } else { batch }, dims, self.element_bytes())
    }
}

/// The output of `cublasGemmStridedBatchedEx`: its first element's device address, row stride
/// (its batch stride is m rows) and data type (f32 or bf16).
#[derive(Clone, Copy)]
struct OutMatrix {
    ptr: u64,
    ld: usize,
    dtype: sys::cudaDataType,
}

/// Bytes of an element of a product's f32 or bf16 matrix.
fn element_bytes(dtype: sys::cudaDataType) -> usize {
    if dtype == sys::cudaDataType::CUDA_R_32F {
        4
    } else {
        2
    }
}

/// `(start, len)` of the parts of a dimension of `n`: its largest multiple of 8, then the rest,
/// each where not empty (one part when n is below 8 or a multiple of it).
fn parts_of_8(n: usize) -> impl Iterator<Item = (usize, usize)> {
    let whole = n - n % 8;
    [(0, whole), (whole, n - whole)].into_iter().filter(|&(_, len)| len > 0)
}

#[cfg(test)]
mod tests {
    use super::{as_operand, uniform_batch_stride};
    use crate::Layout;
    use kernels::cuda::cudarc::cublas::sys::cublasOperation_t::{CUBLAS_OP_N, CUBLAS_OP_T};

    #[test]
    fn batch_dims_collapse_to_one_stride_when_they_walk_in_order() {
        assert_eq!(uniform_batch_stride(&[2, 3], &[60, 20]), Some(20));
        assert_eq!(uniform_batch_stride(&[2, 1, 3], &[60, 7, 20]), Some(20), "size-1 dims do not count");
        assert_eq!(uniform_batch_stride(&[4, 3], &[0, 0]), Some(0), "a broadcast batch");
        assert_eq!(uniform_batch_stride(&[], &[]), Some(0), "no batch");
        assert_eq!(uniform_batch_stride(&[2, 3], &[20, 60]), None, "permuted batch dims");
    }

    #[test]
    fn operands_are_read_in_place_when_cublas_can() {
        // Row-major (4, 5): OP_N with the row stride as leading dimension.
        assert_eq!(as_operand(&Layout::contiguous(&[4, 5])), Some((0, CUBLAS_OP_N, 5)));
        // The transposed view of a (5, 4) matrix: OP_T, leading dimension 4.
        let t = Layout::contiguous(&[5, 4]).permute(&[1, 0]).unwrap();
        assert_eq!(as_operand(&t), Some((0, CUBLAS_OP_T, 4)));
        // A batch of 3 row-major matrices, and one matrix broadcast over a batch of 3.
        assert_eq!(as_operand(&Layout::contiguous(&[3, 4, 5])), Some((20, CUBLAS_OP_N, 5)));
        let shared = Layout::contiguous(&[4, 5]).broadcast_to(&[3, 4, 5]).unwrap();
        assert_eq!(as_operand(&shared), Some((0, CUBLAS_OP_N, 5)));
        // A column slice keeps its row stride; a view with no unit stride needs a copy.
        let narrowed = Layout::contiguous(&[4, 8]).narrow(1, 2, 5).unwrap();
        assert_eq!(as_operand(&narrowed), Some((0, CUBLAS_OP_N, 8)));
        assert_eq!(as_operand(&Layout::from_parts(&[4, 5], &[10, 2], 0)), None);
    }
}
