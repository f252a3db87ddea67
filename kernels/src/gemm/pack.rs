//! Packing: copy a block of A or B into the order the micro-kernel reads it, zero-padding the edges
//! so the micro-kernel never branches on the matrix size.

use super::MatRef;
use crate::Float;
use half::bf16;
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
        if a.row_stride == 1 && rows == mr {
            // Transposed A (a column-major view): the `mr` values of each k are contiguous.
            copy_runs(panel, &a.data[a.offset + row0 + pc * a.col_stride..], a.col_stride, kc, mr);
        } else if a.row_stride == 1 {
            // The same for the last panel's `rows < mr` rows.
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
        if b.col_stride == 1 && cols == nr {
            // Row-major B, a whole panel: each k's `nr` values are contiguous.
            copy_runs(panel, &b.data[b.offset + pc * b.row_stride + col0..], b.row_stride, kc, nr);
            return;
        }
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

/// `panel[kk·width..][..width] = source[kk·stride..][..width]` for `kk < runs`: full-width panel
/// rows copied from runs `stride` apart. For the micro-kernels' widths the copy's length is known
/// at compile time (a few vector moves rather than a `memcpy` call per run, which cost 5% of an
/// AVX2 training step).
fn copy_runs<T: Copy>(panel: &mut [T], source: &[T], stride: usize, runs: usize, width: usize) {
    /// The copy for one width known at compile time.
    #[inline(always)]
    fn copy<T: Copy, const W: usize>(panel: &mut [T], source: &[T], stride: usize, runs: usize) {
        for (kk, row) in panel.chunks_exact_mut(W).take(runs).enumerate() {
            let run: &[T; W] = source[kk * stride..][..W].try_into().expect("a run of W elements");
            row.copy_from_slice(run);
        }
    }
    match width {
        6 => copy::<T, 6>(panel, source, stride, runs),
        14 => copy::<T, 14>(panel, source, stride, runs),
        16 => copy::<T, 16>(panel, source, stride, runs),
        32 => copy::<T, 32>(panel, source, stride, runs),
        _ => {
            for (kk, row) in panel.chunks_exact_mut(width).take(runs).enumerate() {
                row.copy_from_slice(&source[kk * stride..][..width]);
            }
        }
    }
}

/// Two f32 rounded to bf16 (to nearest, ties to even) in one 32-bit word: `lo` in the low half,
/// `hi` in the high half, the order `vdpbf16ps` pairs them in. Kept in an f32 slot of the packed
/// buffer (its bits, not a number).
fn bf16_pair(lo: f32, hi: f32) -> f32 {
    let (lo, hi) = (u32::from(bf16::from_f32(lo).to_bits()), u32::from(bf16::from_f32(hi).to_bits()));
    f32::from_bits(lo | hi << 16)
}

/// `words[q] = (values[2q], values[2q + 1])` rounded to bf16 (a zero completes an odd count):
/// consecutive elements in pairs, for `⌈values.len()/2⌉` words.
fn pairs_of(values: &[f32], words: &mut [f32]) {
    let mut done = 0;
    #[cfg(target_arch = "x86_64")]
    if simd::available() {
        // Safety: the features were detected.
        done = unsafe { simd::pairs_of(values, words) };
    }
    for (q, word) in words.iter_mut().enumerate().skip(done) {
        *word = bf16_pair(values[2 * q], values.get(2 * q + 1).copied().unwrap_or(0.0));
    }
}

/// `words[i] = (lo[i], hi[i])` rounded to bf16: two runs side by side, for `words.len()` words.
fn pair_up(lo: &[f32], hi: &[f32], words: &mut [f32]) {
    let mut done = 0;
    #[cfg(target_arch = "x86_64")]
    if simd::available() {
        // Safety: the features were detected.
        done = unsafe { simd::pair_up(lo, hi, words) };
    }
    for (i, word) in words.iter_mut().enumerate().skip(done) {
        *word = bf16_pair(lo[i], hi[i]);
    }
}

/// [`pack_a`], each element rounded to bf16 (kept as the f32 of that value): for an f32
/// micro-kernel computing the bf16 product.
pub fn pack_a_bf16_rounded(buf: &mut [f32], a: MatRef<f32>, ic: usize, mc: usize, pc: usize, kc: usize, mr: usize) {
    pack_a(buf, a, ic, mc, pc, kc, mr);
    round_to_bf16(buf);
}

/// [`pack_b`], each element rounded to bf16 (kept as the f32 of that value).
#[allow(clippy::too_many_arguments)]
pub fn pack_b_bf16_rounded(
    buf: &mut [f32],
    b: MatRef<f32>,
    pc: usize,
    kc: usize,
    jc: usize,
    nc: usize,
    nr: usize,
    parallel: bool,
) {
    pack_b(buf, b, pc, kc, jc, nc, nr, parallel);
    round_to_bf16(buf);
}

/// Each value rounded to the nearest bf16 (ties to even), in place.
fn round_to_bf16(values: &mut [f32]) {
    values.iter_mut().for_each(|x| *x = bf16::from_f32(*x).to_f32());
}

/// [`pack_a`] for the bf16 kernels: panel `p` holds, for each pair `q < ⌈kc/2⌉`, the `mr` words
/// `(A[i][pc + 2q], A[i][pc + 2q + 1])` of rows `i = ic + p·mr + …` rounded to bf16 (zero past `mc`
/// and past `kc`).
pub fn pack_a_bf16_pairs(buf: &mut [f32], a: MatRef<f32>, ic: usize, mc: usize, pc: usize, kc: usize, mr: usize) {
    let pairs = kc.div_ceil(2);
    if !mc.is_multiple_of(mr) {
        // The last panel's rows past `mc` stay zero.
        buf[(mc / mr) * mr * pairs..].fill(0.0);
    }
    if a.row_stride == 1 {
        // Transposed A: each k's `mc` values are contiguous. Pair two k's a word for all rows at
        // once, then hand each panel its rows.
        let column = |k: usize| &a.data[a.offset + ic + k * a.col_stride..][..mc];
        let mut paired = vec![0f32; mc];
        for q in 0..pairs {
            let k = pc + 2 * q;
            if 2 * q + 1 < kc {
                pair_up(column(k), column(k + 1), &mut paired);
            } else {
                paired.iter_mut().zip(column(k)).for_each(|(w, &v)| *w = bf16_pair(v, 0.0));
            }
            for (panel, rows) in buf.chunks_exact_mut(mr * pairs).zip(paired.chunks(mr)) {
                panel[q * mr..q * mr + rows.len()].copy_from_slice(rows);
            }
        }
        return;
    }
    // Each source row along k, in pairs, as a run of words; then the runs down the panel's columns.
    let mut row_words = vec![0f32; mr * pairs];
    for (p, panel) in buf.chunks_exact_mut(mr * pairs).enumerate() {
        let row0 = ic + p * mr;
        let rows = mr.min(ic + mc - row0);
        for (i, words) in row_words.chunks_exact_mut(pairs).take(rows).enumerate() {
            let start = a.offset + (row0 + i) * a.row_stride + pc * a.col_stride;
            if a.col_stride == 1 {
                pairs_of(&a.data[start..start + kc], words);
            } else {
                let row = a.data[start..=start + (kc - 1) * a.col_stride].iter().step_by(a.col_stride);
                write_pairs(words.iter_mut(), row);
            }
        }
        interleave(panel, mr, &row_words, rows, pairs);
    }
}

/// `panel[q·width + i] = runs[i·len + q]` for `i < count`, `q < len`, and 0 in the columns
/// `count..width`: runs of words written down the panel's columns (with AVX-512 transposes where
/// the CPU has them).
fn interleave(panel: &mut [f32], width: usize, runs: &[f32], count: usize, len: usize) {
    #[cfg(target_arch = "x86_64")]
    if crate::cpu::isa::isa() >= crate::cpu::isa::Isa::Avx512 && (width <= 16 || width.is_multiple_of(16)) {
        return super::pack_simd::interleave_avx512(panel, width, runs, count, len);
    }
    interleave_scalar(panel, width, runs, count, len)
}

/// [`interleave`] a word at a time.
pub(super) fn interleave_scalar(panel: &mut [f32], width: usize, runs: &[f32], count: usize, len: usize) {
    for (q, row) in panel.chunks_exact_mut(width).take(len).enumerate() {
        for (i, word) in row.iter_mut().enumerate() {
            *word = if i < count { runs[i * len + q] } else { 0.0 };
        }
    }
}

/// [`pack_b`] for the bf16 kernels: panel `p` holds, for each pair `q < ⌈kc/2⌉`, the `nr` words
/// `(B[pc + 2q][j], B[pc + 2q + 1][j])` of columns `j = jc + p·nr + …` rounded to bf16 (zero past
/// `nc` and past `kc`).
#[allow(clippy::too_many_arguments)]
pub fn pack_b_bf16_pairs(
    buf: &mut [f32],
    b: MatRef<f32>,
    pc: usize,
    kc: usize,
    jc: usize,
    nc: usize,
    nr: usize,
    parallel: bool,
) {
    let pairs = kc.div_ceil(2);
    let pack_panel = |(p, panel): (usize, &mut [f32])| {
        let col0 = jc + p * nr;
        let cols = nr.min(jc + nc - col0);
        if cols < nr {
            panel.fill(0.0);
        }
        if b.col_stride == 1 {
            // Row-major B: each word pairs two rows' elements, both rows read in order.
            let row = |k: usize| &b.data[b.offset + k * b.row_stride + col0..][..cols];
            for (q, words) in panel.chunks_exact_mut(nr).enumerate() {
                let k = pc + 2 * q;
                if 2 * q + 1 < kc {
                    pair_up(row(k), row(k + 1), &mut words[..cols]);
                } else {
                    words.iter_mut().zip(row(k)).for_each(|(w, &v)| *w = bf16_pair(v, 0.0));
                }
            }
        } else {
            // Each source column along k, in pairs, as a run of words; then the runs down the
            // panel's columns.
            let mut column_words = vec![0f32; nr * pairs];
            for (j, words) in column_words.chunks_exact_mut(pairs).take(cols).enumerate() {
                let start = b.offset + pc * b.row_stride + (col0 + j) * b.col_stride;
                if b.row_stride == 1 {
                    pairs_of(&b.data[start..start + kc], words);
                } else {
                    let column = b.data[start..=start + (kc - 1) * b.row_stride].iter().step_by(b.row_stride);
                    write_pairs(words.iter_mut(), column);
                }
            }
            interleave(panel, nr, &column_words, cols, pairs);
        }
    };
    if parallel {
        buf.par_chunks_exact_mut(nr * pairs).enumerate().for_each(pack_panel);
    } else {
        buf.chunks_exact_mut(nr * pairs).enumerate().for_each(pack_panel);
    }
}

/// Writes consecutive pairs of `values` (the last one completed by a zero) into `words`.
fn write_pairs<'a>(words: impl Iterator<Item = &'a mut f32>, mut values: impl Iterator<Item = &'a f32>) {
    for word in words {
        let lo = values.next().copied().unwrap_or(0.0);
        let hi = values.next().copied().unwrap_or(0.0);
        *word = bf16_pair(lo, hi);
    }
}

/// The bf16 pairing 16 words at a time: `vcvtne2ps2bf16` rounds 32 f32 (to nearest even, as
/// `bf16::from_f32` does) and, for two runs side by side, `vpermw` interleaves them.
#[cfg(target_arch = "x86_64")]
mod simd {
    use std::arch::x86_64::*;

    pub fn available() -> bool {
        crate::cpu::isa::avx512_bf16()
    }

    /// [`super::pairs_of`] for the whole groups of 16 words that `values` fills; returns how many
    /// words it wrote.
    #[target_feature(enable = "avx512f,avx512bw,avx512bf16")]
    pub unsafe fn pairs_of(values: &[f32], words: &mut [f32]) -> usize {
        let groups = (values.len() / 32).min(words.len() / 16);
        for g in 0..groups {
            let (first, second) =
                (_mm512_loadu_ps(values.as_ptr().add(32 * g)), _mm512_loadu_ps(values.as_ptr().add(32 * g + 16)));
            // bf16 lanes 0..16 from `first`, 16..32 from `second`: the elements in order, so
            // word q holds (value 2q, value 2q + 1).
            let rounded: __m512i = std::mem::transmute(_mm512_cvtne2ps_pbh(second, first));
            _mm512_storeu_si512(words.as_mut_ptr().add(16 * g) as *mut __m512i, rounded);
        }
        16 * groups
    }

    /// [`super::pair_up`] for the whole groups of 16 words; returns how many words it wrote.
    #[target_feature(enable = "avx512f,avx512bw,avx512bf16")]
    pub unsafe fn pair_up(lo: &[f32], hi: &[f32], words: &mut [f32]) -> usize {
        let groups = words.len() / 16;
        // bf16 lane 2t takes lane t (from `lo`), lane 2t + 1 lane 16 + t (from `hi`).
        let interleave = _mm512_set_epi16(
            31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8, 23, 7, 22, 6, 21, 5, 20, 4, 19, 3, 18, 2, 17,
            1, 16, 0,
        );
        for g in 0..groups {
            let (l, h) = (_mm512_loadu_ps(lo.as_ptr().add(16 * g)), _mm512_loadu_ps(hi.as_ptr().add(16 * g)));
            let rounded: __m512i = std::mem::transmute(_mm512_cvtne2ps_pbh(h, l));
            let paired = _mm512_permutexvar_epi16(interleave, rounded);
            _mm512_storeu_si512(words.as_mut_ptr().add(16 * g) as *mut __m512i, paired);
        }
        16 * groups
    }
}
