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
        if rows < mr {
            panel.fill(T::ZERO);
        }
        if a.row_stride == 1 {
            // Transposed A (a column-major view): the `rows` values of each k are contiguous.
            for kk in 0..kc {
                let start = a.offset + row0 + (pc + kk) * a.col_stride;
                panel[kk * mr..kk * mr + rows].copy_from_slice(&a.data[start..start + rows]);
            }
        } else {
            // Walk each source row along k (its elements are `col_stride` apart, 1 for row-major A)
            // and write it down column `i` of the panel; iterators, so no index is bounds-checked.
            for i in 0..rows {
                let start = a.offset + (row0 + i) * a.row_stride + pc * a.col_stride;
                let source = &a.data[start..=start + (kc - 1) * a.col_stride];
                let column = panel[i..].iter_mut().step_by(mr);
                if a.col_stride == 1 {
                    column.zip(source).for_each(|(p, &v)| *p = v);
                } else {
                    column.zip(source.iter().step_by(a.col_stride)).for_each(|(p, &v)| *p = v);
                }
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
                dst[cols..].fill(T::ZERO);
            }
        }
        if b.col_stride != 1 {
            // Transposed B: each column is contiguous along k, so read column by column.
            for j in 0..cols {
                let start = b.offset + pc * b.row_stride + (col0 + j) * b.col_stride;
                for kk in 0..kc {
                    panel[kk * nr + j] = b.data[start + kk * b.row_stride];
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
