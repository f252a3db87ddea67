//! Matrix multiply on the CPU: batched, any strides, through the packed GEMM of `kernels`.

use super::{contiguous_cow, CpuStorage};
use crate::{Error, Layout, Result};
use half::{bf16, f16};
use kernels::cpu::gemm::{gemm_batched, GemmScalar, MatRef};

impl CpuStorage {
    /// `C[b] = A[b]·B[b]` with layouts `[batch…, m, k]` and `[batch…, k, n]` (batch dims already
    /// broadcast to the same shape). Returns a contiguous `[batch…, m, n]` storage.
    /// bf16/f16 are multiplied in f32 and rounded back.
    pub fn matmul(&self, lhs: &Layout, rhs_storage: &Self, rhs: &Layout) -> Result<Self> {
        Ok(match (self, rhs_storage) {
            (CpuStorage::F32(a), CpuStorage::F32(b)) => CpuStorage::F32(matmul_typed(a, lhs, b, rhs)),
            (CpuStorage::F64(a), CpuStorage::F64(b)) => CpuStorage::F64(matmul_typed(a, lhs, b, rhs)),
            (CpuStorage::BF16(a), CpuStorage::BF16(b)) => {
                let (a, b) = (to_f32(a, lhs, bf16::to_f32), to_f32(b, rhs, bf16::to_f32));
                let c = matmul_typed(&a, &Layout::contiguous(lhs.shape()), &b, &Layout::contiguous(rhs.shape()));
                CpuStorage::BF16(c.into_iter().map(bf16::from_f32).collect())
            }
            (CpuStorage::F16(a), CpuStorage::F16(b)) => {
                let (a, b) = (to_f32(a, lhs, f16::to_f32), to_f32(b, rhs, f16::to_f32));
                let c = matmul_typed(&a, &Layout::contiguous(lhs.shape()), &b, &Layout::contiguous(rhs.shape()));
                CpuStorage::F16(c.into_iter().map(f16::from_f32).collect())
            }
            (l, r) if l.dtype() != r.dtype() => return Err(Error::DTypeMismatch { op: "matmul", lhs: l.dtype(), rhs: r.dtype() }),
            (l, _) => return Err(super::unsupported("matmul", l.dtype(), lhs.shape())),
        })
    }
}

fn to_f32<T: Copy>(data: &[T], layout: &Layout, f: fn(T) -> f32) -> Vec<f32> {
    contiguous_cow(data, layout).iter().map(|&x| f(x)).collect()
}

fn matmul_typed<T: GemmScalar>(a: &[T], la: &Layout, b: &[T], lb: &Layout) -> Vec<T> {
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
    let mut out = vec![T::ZERO; a_offsets.len() * m * n];
    gemm_batched(mat(a, la, m, k), &a_offsets, mat(b, lb, k, n), &b_offsets, &mut out, n, m * n, false);
    out
}
