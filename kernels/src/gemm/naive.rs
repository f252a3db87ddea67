//! The reference GEMM: three nested loops, exactly the definition.

use super::MatRef;
use crate::Float;

/// `C[i][j] = Σ_p A[i][p]·B[p][j]` (or `+=` with `accumulate`), C row-major with leading dimension
/// `ldc`. O(m·n·k) with no blocking: slow, obviously right, the yardstick for [`super::gemm`].
pub fn gemm_naive<T: Float>(a: MatRef<T>, b: MatRef<T>, c: &mut [T], ldc: usize, accumulate: bool) {
    assert_eq!(a.cols, b.rows, "gemm_naive: inner dimensions differ");
    for i in 0..a.rows {
        for j in 0..b.cols {
            let mut sum = T::ZERO;
            for p in 0..a.cols {
                sum += a.at(i, p) * b.at(p, j);
            }
            let out = &mut c[i * ldc + j];
            *out = if accumulate { *out + sum } else { sum };
        }
    }
}
