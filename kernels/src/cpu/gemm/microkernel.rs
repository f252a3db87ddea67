//! Micro-kernels: `C[0..mr, 0..nr] (+)= Σ_kk Apanel[kk]·Bpanel[kk]ᵀ`, an outer-product update of one
//! `MR×NR` register tile per step of `kk`.

use crate::Float;

/// A micro-kernel: `(kc, packed A panel, packed B panel, C tile, ldc, valid rows, valid cols, accumulate)`.
pub type MicroKernel<T> = unsafe fn(usize, *const T, *const T, *mut T, usize, usize, usize, bool);

/// A scalar type the packed GEMM supports, with its register-tile shape and micro-kernel.
pub trait GemmScalar: Float {
    /// Rows of the register tile.
    const MR: usize;
    /// Columns of the register tile.
    const NR: usize;
    /// The fastest micro-kernel this CPU runs, chosen once per GEMM (runtime feature detection).
    fn select_microkernel() -> MicroKernel<Self>;
}

impl GemmScalar for f32 {
    const MR: usize = 6;
    const NR: usize = 16;
    fn select_microkernel() -> MicroKernel<f32> {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
            return avx2::microkernel_f32_6x16;
        }
        microkernel_portable::<f32, 6, 16>
    }
}

impl GemmScalar for f64 {
    const MR: usize = 4;
    const NR: usize = 8;
    fn select_microkernel() -> MicroKernel<f64> {
        microkernel_portable::<f64, 4, 8>
    }
}

/// Portable micro-kernel: the tile is a `[[T; NR]; MR]` array the compiler keeps in registers and
/// vectorises as it can. Used for f64 and on CPUs without AVX2+FMA.
///
/// Safety: `a` holds `kc·MR`, `b` holds `kc·NR` elements; `c` addresses `mr` rows of `nr` elements
/// with row stride `ldc`.
#[allow(clippy::too_many_arguments)]
pub unsafe fn microkernel_portable<T: Float, const MR: usize, const NR: usize>(
    kc: usize,
    a: *const T,
    b: *const T,
    c: *mut T,
    ldc: usize,
    mr: usize,
    nr: usize,
    accumulate: bool,
) {
    let a = std::slice::from_raw_parts(a, kc * MR);
    let b = std::slice::from_raw_parts(b, kc * NR);
    let mut acc = [[T::ZERO; NR]; MR];
    for (a_k, b_k) in a.chunks_exact(MR).zip(b.chunks_exact(NR)) {
        for i in 0..MR {
            for j in 0..NR {
                acc[i][j] += a_k[i] * b_k[j];
            }
        }
    }
    for (i, acc_row) in acc.iter().enumerate().take(mr) {
        let row = std::slice::from_raw_parts_mut(c.add(i * ldc), nr);
        for (out, &v) in row.iter_mut().zip(acc_row) {
            *out = if accumulate { *out + v } else { v };
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    /// The 6×16 f32 AVX2+FMA micro-kernel: per step of `kk`, two 8-wide loads of B, six broadcasts
    /// of A and twelve fused multiply-adds into twelve ymm accumulators.
    ///
    /// Safety: as [`super::microkernel_portable`] with MR = 6, NR = 16, on a CPU with AVX2 and FMA.
    #[allow(clippy::too_many_arguments)]
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn microkernel_f32_6x16(
        kc: usize,
        a: *const f32,
        b: *const f32,
        c: *mut f32,
        ldc: usize,
        mr: usize,
        nr: usize,
        accumulate: bool,
    ) {
        let mut acc = [[_mm256_setzero_ps(); 2]; 6];
        let (mut a, mut b) = (a, b);
        for _ in 0..kc {
            let b0 = _mm256_loadu_ps(b);
            let b1 = _mm256_loadu_ps(b.add(8));
            for (i, acc_row) in acc.iter_mut().enumerate() {
                let ai = _mm256_broadcast_ss(&*a.add(i));
                acc_row[0] = _mm256_fmadd_ps(ai, b0, acc_row[0]);
                acc_row[1] = _mm256_fmadd_ps(ai, b1, acc_row[1]);
            }
            a = a.add(6);
            b = b.add(16);
        }
        if mr == 6 && nr == 16 {
            for (i, acc_row) in acc.iter().enumerate() {
                for (h, &v) in acc_row.iter().enumerate() {
                    let p = c.add(i * ldc + 8 * h);
                    let v = if accumulate { _mm256_add_ps(_mm256_loadu_ps(p), v) } else { v };
                    _mm256_storeu_ps(p, v);
                }
            }
        } else {
            // Edge tile: spill the registers, copy the valid part.
            let mut tile = [0f32; 96];
            for (i, acc_row) in acc.iter().enumerate() {
                _mm256_storeu_ps(tile.as_mut_ptr().add(16 * i), acc_row[0]);
                _mm256_storeu_ps(tile.as_mut_ptr().add(16 * i + 8), acc_row[1]);
            }
            for i in 0..mr {
                for j in 0..nr {
                    let p = c.add(i * ldc + j);
                    *p = if accumulate { *p + tile[16 * i + j] } else { tile[16 * i + j] };
                }
            }
        }
    }
}
