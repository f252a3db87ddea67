//! Matrix multiply on the CPU: batched, any strides, through the packed GEMM of `kernels`; f32
//! products in the [`ExecutionContext`]'s precision (bf16 operands with f32 sums under bf16).

use crate::cpu::{contiguous_cow, unsupported, CpuStorage};
use crate::dtype::FloatElement;
use crate::{Error, ExecutionContext, Layout, Result};
use kernels::gemm::{bf16_microkernels, gemm_batched, GemmScalar, MatRef, MicroKernelSpec};

/// A scalar's micro-kernel for a product in the current [`ExecutionContext`].
pub(crate) trait ContextMicroKernel: GemmScalar {
    fn context_microkernel() -> MicroKernelSpec<Self>;
}

impl ContextMicroKernel for f32 {
    /// Under bf16 precision the mixed-precision kernel (`kernels::gemm::gemm_bf16`: operands
    /// rounded to bf16, f32 sums, AVX512_BF16 where the CPU has it), else the f32 one.
    fn context_microkernel() -> MicroKernelSpec<f32> {
        if ExecutionContext::current().precision.is_bf16() {
            bf16_microkernels()[0]
        } else {
            f32::best_microkernel()
        }
    }
}

impl ContextMicroKernel for f64 {
    fn context_microkernel() -> MicroKernelSpec<f64> {
        f64::best_microkernel()
    }
}

impl CpuStorage {
    /// `C[b] = A[b]·B[b]` with layouts `[batch…, m, k]` and `[batch…, k, n]` (batch dims already
    /// broadcast to the same shape), plus `bias` (`n` elements) on every row when given: C starts
    /// as the bias rows and the GEMM accumulates into it, so adding the bias costs no pass of its
    /// own. Returns a contiguous `[batch…, m, n]` storage and its row stride, `n`. bf16/f16 are
    /// multiplied in f32 and rounded back; f32 in the context's precision (bf16 operands with f32
    /// sums under bf16, as PyTorch's CPU autocast).
    pub fn matmul(
        &self,
        lhs: &Layout,
        rhs_storage: &Self,
        rhs: &Layout,
        bias: Option<(&Self, &Layout)>,
    ) -> Result<(Self, usize)> {
        // One arm per dtype: the bias (if any) must be of the operands' dtype.
        macro_rules! arm {
            ($variant:ident, $f:ident, $a:expr, $b:expr) => {{
                let bias = match bias {
                    Some((CpuStorage::$variant(c), layout)) => Some((&c[..], layout)),
                    Some((other, _)) => {
                        return Err(Error::DTypeMismatch { op: "matmul", lhs: self.dtype(), rhs: other.dtype() })
                    }
                    None => None,
                };
                CpuStorage::$variant($f($a, lhs, $b, rhs, bias).into())
            }};
        }
        let product = match (self, rhs_storage) {
            (CpuStorage::F32(a), CpuStorage::F32(b)) => arm!(F32, matmul_typed, a, b),
            (CpuStorage::F64(a), CpuStorage::F64(b)) => arm!(F64, matmul_typed, a, b),
            (CpuStorage::BF16(a), CpuStorage::BF16(b)) => arm!(BF16, matmul_via_f32, a, b),
            (CpuStorage::F16(a), CpuStorage::F16(b)) => arm!(F16, matmul_via_f32, a, b),
            (l, r) if l.dtype() != r.dtype() => {
                return Err(Error::DTypeMismatch { op: "matmul", lhs: l.dtype(), rhs: r.dtype() })
            }
            (l, _) => return Err(unsupported("matmul", l.dtype(), lhs.shape())),
        };
        Ok((product, rhs.shape()[rhs.rank() - 1]))
    }
}

/// A 16-bit product: operands widened to f32, multiplied, rounded back.
fn matmul_via_f32<T: FloatElement<Compute = f32>>(
    a: &[T],
    la: &Layout,
    b: &[T],
    lb: &Layout,
    bias: Option<(&[T], &Layout)>,
) -> Vec<T> {
    let widen = |data: &[T], l: &Layout| T::compute_slice(&contiguous_cow(data, l)).into_owned();
    let (a, b) = (widen(a, la), widen(b, lb));
    let bias = bias.map(|(c, l)| (widen(c, l), Layout::contiguous(l.shape())));
    let bias = bias.as_ref().map(|(c, l)| (&c[..], l));
    let c = matmul_typed(&a, &Layout::contiguous(la.shape()), &b, &Layout::contiguous(lb.shape()), bias);
    T::from_compute_vec(c)
}

fn matmul_typed<T: ContextMicroKernel>(
    a: &[T],
    la: &Layout,
    b: &[T],
    lb: &Layout,
    bias: Option<(&[T], &Layout)>,
) -> Vec<T> {
    let r = la.rank();
    let (m, k, n) = (la.shape()[r - 2], la.shape()[r - 1], lb.shape()[r - 1]);
    let batch_offsets = |l: &Layout| -> Vec<usize> {
        Layout::from_parts(&l.shape()[..r - 2], &l.strides()[..r - 2], l.offset()).offsets().collect()
    };
    let (a_offsets, b_offsets) = (batch_offsets(la), batch_offsets(lb));
    let mat = |data, l: &Layout, rows, cols| MatRef {
        data,
        offset: 0,
        rows,
        cols,
        row_stride: l.strides()[r - 2],
        col_stride: l.strides()[r - 1],
    };
    let len = a_offsets.len() * m * n;
    let bias = bias.map(|(c, l)| contiguous_cow(c, l));
    // The product writes every element of C without reading it (the bias, if any, is added as
    // each tile is stored), so C is not zero-filled first.
    let mut out = Vec::with_capacity(len);
    let (a, b) = (mat(a, la, m, k), mat(b, lb, k, n));
    let c = &mut out.spare_capacity_mut()[..len];
    gemm_batched(T::context_microkernel(), a, &a_offsets, b, &b_offsets, c, n, m * n, bias.as_deref());
    // Safety: `gemm_batched` initialised all `len` elements (every batch entry's m × n block,
    // the blocks m·n apart and together `len` long).
    unsafe { out.set_len(len) };
    out
}
