//! Packing: copy a block of A or B into the order the micro-kernel reads it, zero-padding the edges
//! so the micro-kernel never branches on the matrix size.

use super::MatRef;
use crate::Float;
use rayon::prelude::*;

/// Packs rows `ic..ic+mc`, columns `pc..pc+kc` of A into `⌈mc/mr⌉` micro-panels. Panel `p` holds, for
/// each `kk < kc`, the `mr` values `A[ic + p·mr + i][pc + kk]`, `i < mr` (zero past `mc`).
pub fn pack_a<T: Float>(buf: &mut [T], a: MatRef<T>, ic: usize, mc: usize, pc: usize, kc: usize, mr: usize) {
    for (p, panel) in buf.chunks_exact_mut(mr * kc).enumerate() {
        let row0 = ic + p * mr;
        let rows = mr.min(ic + mc - row0);
        for kk in 0..kc {
            let dst = &mut panel[kk * mr..(kk + 1) * mr];
            for (i, d) in dst.iter_mut().enumerate() {
                *d = if i < rows { a.at(row0 + i, pc + kk) } else { T::ZERO };
            }
        }
    }
}

/// Packs rows `pc..pc+kc`, columns `jc..jc+nc` of B into `⌈nc/nr⌉` micro-panels. Panel `p` holds, for
/// each `kk < kc`, the `nr` values `B[pc + kk][jc + p·nr + j]`, `j < nr` (zero past `nc`).
#[allow(clippy::too_many_arguments)]
pub fn pack_b<T: Float>(
    buf: &mut [T],
    b: MatRef<T>,
    pc: usize,
    kc: usize,
    jc: usize,
    nc: usize,
    nr: usize,
    parallel: bool,
) {
    let pack_panel = |(p, panel): (usize, &mut [T])| {
        let col0 = jc + p * nr;
        let cols = nr.min(jc + nc - col0);
        for kk in 0..kc {
            let dst = &mut panel[kk * nr..(kk + 1) * nr];
            if b.col_stride == 1 {
                let start = b.offset + (pc + kk) * b.row_stride + col0;
                dst[..cols].copy_from_slice(&b.data[start..start + cols]);
                dst[cols..].fill(T::ZERO);
            } else {
                for (j, d) in dst.iter_mut().enumerate() {
                    *d = if j < cols { b.at(pc + kk, col0 + j) } else { T::ZERO };
                }
            }
        }
    };
    if parallel {
        buf.par_chunks_exact_mut(nr * kc).enumerate().for_each(pack_panel);
    } else {
        buf.chunks_exact_mut(nr * kc).enumerate().for_each(pack_panel);
    }
}
