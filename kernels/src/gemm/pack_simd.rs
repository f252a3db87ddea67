//! Packing for the AVX-512 and AVX2 f32 micro-kernels: the same panels as [`super::pack`]'s
//! `pack_a` and `pack_b`, bit for bit. Two of the layouts the training step's products read
//! (`x·W`, `dy·Wᵀ`, `xᵀ·dy`) ask for a transpose while packing — row-major A (each panel row
//! gathers one element from each of `mr` rows of A) and transposed B (one element from each of
//! `nr` columns) — which the generic loops do an element at a time with strided stores. Here a
//! register's worth of source runs (16 with AVX-512, 8 with AVX2) is loaded a register at a time,
//! transposed in registers ([`PackVector::transpose`]) and stored as panel rows. The other two
//! layouts are copies of `mr`- or `nr`-wide runs, which the generic loops already do well (a
//! full-width run is a copy of a width known at compile time; masked vector moves for the edge
//! runs measured slower than their `memcpy` on Zen 4); they fall back to those.

use super::pack::{pack_a, pack_b};
use super::MatRef;
use crate::cpu::isa::{isa, Isa};
use crate::cpu::simd::widest;
use rayon::prelude::*;
use std::arch::x86_64::*;

/// [`pack_a`] (same panels, bit for bit), with `V`'s transposes where A is row-major and the
/// panels are at most one vector wide. For a kernel of `V`'s instruction set (a [`super::PackA`]).
pub fn pack_a_simd<V: PackVector>(
    buf: &mut [f32],
    a: MatRef<f32>,
    ic: usize,
    mc: usize,
    pc: usize,
    kc: usize,
    mr: usize,
) {
    // Run i of a panel is row i of A: its elements `row_stride` apart, each k step `col_stride`.
    if !transposes(a.row_stride, a.col_stride) || mr > V::LANES || kc == 0 {
        return pack_a(buf, a, ic, mc, pc, kc, mr);
    }
    for (p, panel) in buf.chunks_exact_mut(mr * kc).enumerate() {
        let row0 = ic + p * mr;
        let first = a.offset + row0 * a.row_stride + pc * a.col_stride;
        let runs = mr.min(ic + mc - row0);
        let source = Source { data: a.data, first, run_stride: a.row_stride, runs, len: kc };
        write_panel::<V>(panel, 0, mr, &source);
    }
}

/// [`pack_b`] (same panels, bit for bit), with `V`'s transposes where B is transposed (column
/// major) and the panels are a whole number of vectors wide. For a kernel of `V`'s instruction set
/// (a [`super::PackB`]).
#[allow(clippy::too_many_arguments)]
pub fn pack_b_simd<V: PackVector>(
    buf: &mut [f32],
    b: MatRef<f32>,
    pc: usize,
    kc: usize,
    jc: usize,
    nc: usize,
    nr: usize,
    parallel: bool,
) {
    // Run j of a panel is column j of B: its elements `col_stride` apart, each k step `row_stride`.
    if !transposes(b.col_stride, b.row_stride) || !nr.is_multiple_of(V::LANES) || kc == 0 {
        return pack_b(buf, b, pc, kc, jc, nc, nr, parallel);
    }
    let pack_panel = |(p, panel): (usize, &mut [f32])| {
        let col0 = jc + p * nr;
        let cols = nr.min(jc + nc - col0);
        // Each vector-wide group of the panel's columns, from its own source runs (fewer, or
        // none, past the matrix's last column).
        for group in (0..nr).step_by(V::LANES) {
            let runs = cols.saturating_sub(group).min(V::LANES);
            let first = b.offset + pc * b.row_stride + (col0 + group.min(cols)) * b.col_stride;
            let source = Source { data: b.data, first, run_stride: b.col_stride, runs, len: kc };
            write_panel::<V>(panel, group, nr, &source);
        }
    };
    if parallel {
        buf.par_chunks_exact_mut(nr * kc).enumerate().for_each(pack_panel);
    } else {
        buf.chunks_exact_mut(nr * kc).enumerate().for_each(pack_panel);
    }
}

/// How a panel's source lies: `runs` contiguous sequences of `len` elements each, element `kk` of
/// run `i` at `data[first + i·run_stride + kk]`.
struct Source<'a> {
    data: &'a [f32],
    first: usize,
    run_stride: usize,
    runs: usize,
    len: usize,
}

/// `panel[q·width + i] = runs[i·len + q]` for `i < count`, `q < len`, and 0 in the columns
/// `count..width`: `count` contiguous runs interleaved into panel rows `width` apart, with
/// AVX-512 transposes (the bf16 packers' pairs, written as runs of 32-bit words first). Needs
/// `width ≤ 16` or a multiple of 16, and AVX-512F.
pub fn interleave_avx512(panel: &mut [f32], width: usize, runs: &[f32], count: usize, len: usize) {
    assert!(width <= Avx512::LANES || width.is_multiple_of(Avx512::LANES), "interleave: width {width}");
    for group in (0..width).step_by(Avx512::LANES) {
        let in_group = count.saturating_sub(group).min(Avx512::LANES);
        let first = group.min(count) * len;
        let source = Source { data: runs, first, run_stride: len, runs: in_group, len };
        write_panel::<Avx512>(panel, group, width, &source);
    }
}

/// Whether packing runs `run_stride` apart, their elements `step` apart, is a transpose: each
/// run is contiguous along k and a panel row takes one element from each.
fn transposes(run_stride: usize, step: usize) -> bool {
    step == 1 && run_stride != 1
}

/// Writes columns `col0..col0 + V::LANES` (clipped to `width`) of a panel whose rows are `width`
/// apart: `panel[kk·width + col0 + i] = run i's element kk` for `i < runs`, 0 for the columns past
/// `runs`. Compiled for the widest instruction set this CPU has ([`widest`]); panics if that does
/// not include `V`'s (the packers are only handed to kernels of that set).
fn write_panel<V: PackVector>(panel: &mut [f32], col0: usize, width: usize, source: &Source) {
    let Source { data, first, run_stride, runs, len } = *source;
    assert!(isa() >= V::ISA, "write_panel: {:?} vectors on a CPU limited to {:?}", V::ISA, isa());
    assert!(panel.len() >= len * width && col0 < width && runs <= V::LANES, "write_panel: bad panel");
    assert!(runs == 0 || first + (runs - 1) * run_stride + len - 1 < data.len(), "write_panel: bad source");
    let columns = (width - col0).min(V::LANES);
    // (With no runs, `first` may lie past the data: the pointer is then never read through.)
    let (src, out) = (data.as_ptr().wrapping_add(first), panel[col0..].as_mut_ptr());
    // Safety: the CPU has `V`'s instruction set (checked above; `widest` compiles for it); the
    // source elements lie in `data` and the panel rows in `panel` (both checked above). A row narrower than a vector (`columns < LANES`, only with
    // `col0 = 0`) is stored whole, spilling into the rows after it, which their own stores then
    // overwrite; rows whose spill would leave the panel are stored masked.
    widest(
        #[inline(always)]
        || unsafe {
            let mut kk = 0;
            while kk + V::LANES <= len {
                let mut block = V::zero_block();
                for (i, row) in block.as_mut().iter_mut().enumerate().take(runs) {
                    *row = V::load(src.add(i * run_stride + kk));
                }
                V::transpose(&mut block);
                for (t, row) in block.as_ref().iter().enumerate() {
                    let at = out.add((kk + t) * width);
                    if columns == V::LANES || (kk + t) * width + V::LANES <= len * width {
                        V::store(at, *row);
                    } else {
                        V::store_first(at, columns, *row);
                    }
                }
                kk += V::LANES;
            }
            for kk in kk..len {
                for i in 0..columns {
                    *out.add(kk * width + i) = if i < runs { *src.add(i * run_stride + kk) } else { 0.0 };
                }
            }
        },
    )
}

/// The vector moves the packers need, for one instruction set: `LANES` f32 to a register `V`,
/// and a block of `LANES` registers (`LANES × LANES` values) to transpose.
///
/// # Safety
/// Every function needs the instruction set's CPU features; pointers must address the lanes
/// they move (only the first `n` for the `_first` moves).
pub trait PackVector {
    /// The instruction set the moves need.
    const ISA: Isa;
    const LANES: usize;
    type V: Copy;
    type Block: AsRef<[Self::V]> + AsMut<[Self::V]>;
    unsafe fn zero_block() -> Self::Block;
    unsafe fn load(p: *const f32) -> Self::V;
    unsafe fn store(p: *mut f32, v: Self::V);
    /// The first `n` lanes to `p`, nothing after.
    unsafe fn store_first(p: *mut f32, n: usize, v: Self::V);
    /// Afterwards `block[j]` lane `i` is the old `block[i]` lane `j`.
    unsafe fn transpose(block: &mut Self::Block);
}

/// 16 lanes in a zmm register.
pub struct Avx512;

impl PackVector for Avx512 {
    const ISA: Isa = Isa::Avx512;
    const LANES: usize = 16;
    type V = __m512;
    type Block = [__m512; 16];

    #[inline(always)]
    unsafe fn zero_block() -> [__m512; 16] {
        [_mm512_setzero_ps(); 16]
    }
    #[inline(always)]
    unsafe fn load(p: *const f32) -> __m512 {
        _mm512_loadu_ps(p)
    }
    #[inline(always)]
    unsafe fn store(p: *mut f32, v: __m512) {
        _mm512_storeu_ps(p, v)
    }
    #[inline(always)]
    unsafe fn store_first(p: *mut f32, n: usize, v: __m512) {
        _mm512_mask_storeu_ps(p, ((1u32 << n) - 1) as __mmask16, v)
    }
    /// Three rounds of pairing: 32-bit lanes of row pairs (`unpack*_ps`), 64-bit pairs of those
    /// (`unpack*_pd`), then 128-bit quarters, twice (`shuffle_f32x4`).
    #[inline(always)]
    unsafe fn transpose(rows: &mut [__m512; 16]) {
        let mut t = [_mm512_setzero_ps(); 16];
        for i in 0..8 {
            t[2 * i] = _mm512_unpacklo_ps(rows[2 * i], rows[2 * i + 1]);
            t[2 * i + 1] = _mm512_unpackhi_ps(rows[2 * i], rows[2 * i + 1]);
        }
        let (pd, ps) = (|x| _mm512_castps_pd(x), |x| _mm512_castpd_ps(x));
        for b in (0..16).step_by(4) {
            rows[b] = ps(_mm512_unpacklo_pd(pd(t[b]), pd(t[b + 2])));
            rows[b + 1] = ps(_mm512_unpackhi_pd(pd(t[b]), pd(t[b + 2])));
            rows[b + 2] = ps(_mm512_unpacklo_pd(pd(t[b + 1]), pd(t[b + 3])));
            rows[b + 3] = ps(_mm512_unpackhi_pd(pd(t[b + 1]), pd(t[b + 3])));
        }
        for b in [0, 8] {
            for j in 0..4 {
                t[b + j] = _mm512_shuffle_f32x4::<0x88>(rows[b + j], rows[b + 4 + j]);
                t[b + 4 + j] = _mm512_shuffle_f32x4::<0xdd>(rows[b + j], rows[b + 4 + j]);
            }
        }
        for j in 0..8 {
            rows[j] = _mm512_shuffle_f32x4::<0x88>(t[j], t[8 + j]);
            rows[8 + j] = _mm512_shuffle_f32x4::<0xdd>(t[j], t[8 + j]);
        }
    }
}

/// 8 lanes in a ymm register.
pub struct Avx2;

impl Avx2 {
    /// All ones in lanes `0..n`: the mask of AVX2's masked store.
    #[inline(always)]
    unsafe fn first(n: usize) -> __m256i {
        _mm256_cmpgt_epi32(_mm256_set1_epi32(n as i32), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7))
    }
}

impl PackVector for Avx2 {
    const ISA: Isa = Isa::Avx2;
    const LANES: usize = 8;
    type V = __m256;
    type Block = [__m256; 8];

    #[inline(always)]
    unsafe fn zero_block() -> [__m256; 8] {
        [_mm256_setzero_ps(); 8]
    }
    #[inline(always)]
    unsafe fn load(p: *const f32) -> __m256 {
        _mm256_loadu_ps(p)
    }
    #[inline(always)]
    unsafe fn store(p: *mut f32, v: __m256) {
        _mm256_storeu_ps(p, v)
    }
    #[inline(always)]
    unsafe fn store_first(p: *mut f32, n: usize, v: __m256) {
        _mm256_maskstore_ps(p, Self::first(n), v)
    }
    /// Pairs of 32-bit lanes (`unpack*_ps`), pairs of those (`shuffle_ps`), then 128-bit halves
    /// (`permute2f128`).
    #[inline(always)]
    unsafe fn transpose(rows: &mut [__m256; 8]) {
        let mut t = [_mm256_setzero_ps(); 8];
        for i in 0..4 {
            t[2 * i] = _mm256_unpacklo_ps(rows[2 * i], rows[2 * i + 1]);
            t[2 * i + 1] = _mm256_unpackhi_ps(rows[2 * i], rows[2 * i + 1]);
        }
        let mut s = [_mm256_setzero_ps(); 8];
        for b in [0, 4] {
            s[b] = _mm256_shuffle_ps::<0x44>(t[b], t[b + 2]);
            s[b + 1] = _mm256_shuffle_ps::<0xee>(t[b], t[b + 2]);
            s[b + 2] = _mm256_shuffle_ps::<0x44>(t[b + 1], t[b + 3]);
            s[b + 3] = _mm256_shuffle_ps::<0xee>(t[b + 1], t[b + 3]);
        }
        for j in 0..4 {
            rows[j] = _mm256_permute2f128_ps::<0x20>(s[j], s[4 + j]);
            rows[4 + j] = _mm256_permute2f128_ps::<0x31>(s[j], s[4 + j]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matrix(rows: usize, cols: usize) -> Vec<f32> {
        (0..rows * cols).map(|i| i as f32 * 0.5 - 7.0).collect()
    }

    /// The bits a packer leaves in a buffer of `len` that starts as NaN (so a slot it misses shows).
    fn packed(len: usize, pack: impl FnOnce(&mut [f32])) -> Vec<u32> {
        let mut buf = vec![f32::NAN; len];
        pack(&mut buf);
        buf.iter().map(|x| x.to_bits()).collect()
    }

    /// `V`'s packers against the generic ones, bit for bit, on blocks that reach every path:
    /// panels with fewer rows/columns than the tile, depths that are a multiple of the vector
    /// width (the last row stored masked), not one (the scalar tail) and under it, blocks that
    /// start inside the matrix, the tile shapes of both kernels (and a full-vector A panel), in
    /// all four layouts (the two without a transpose take the generic path).
    fn check_packers<V: PackVector>() {
        let (m, k) = (61, 77);
        let data = matrix(m, k);
        for transposed in [false, true] {
            let a = if transposed { MatRef::row_major(&data, k, m).t() } else { MatRef::row_major(&data, m, k) };
            let a_blocks: [(usize, usize, usize, usize, usize); 5] =
                [(0, 61, 0, 77, 14), (3, 29, 5, 16, 14), (14, 9, 60, 17, 6), (0, 61, 1, 5, V::LANES), (7, 40, 2, 9, 6)];
            for (ic, mc, pc, kc, mr) in a_blocks.into_iter().filter(|b| b.4 <= V::LANES) {
                let len = mc.div_ceil(mr) * mr * kc;
                let fast = packed(len, |buf| pack_a_simd::<V>(buf, a, ic, mc, pc, kc, mr));
                let slow = packed(len, |buf| pack_a(buf, a, ic, mc, pc, kc, mr));
                assert_eq!(
                    fast,
                    slow,
                    "{} lanes, A transposed={transposed} block {:?}",
                    V::LANES,
                    (ic, mc, pc, kc, mr)
                );
            }
            let b = if transposed { MatRef::row_major(&data, m, k).t() } else { MatRef::row_major(&data, k, m) };
            let b_blocks: [(usize, usize, usize, usize, usize); 4] =
                [(0, 77, 0, 61, 32), (5, 16, 3, 40, 32), (60, 17, 20, 41, 16), (1, 3, 0, 7, 16)];
            for (pc, kc, jc, nc, nr) in b_blocks {
                for parallel in [false, true] {
                    let len = nc.div_ceil(nr) * nr * kc;
                    let fast = packed(len, |buf| pack_b_simd::<V>(buf, b, pc, kc, jc, nc, nr, parallel));
                    let slow = packed(len, |buf| pack_b(buf, b, pc, kc, jc, nc, nr, parallel));
                    let block = (pc, kc, jc, nc, nr);
                    assert_eq!(fast, slow, "{} lanes, B transposed={transposed} block {block:?}", V::LANES);
                }
            }
        }
    }

    #[test]
    fn panels_equal_the_generic_packing() {
        if isa() >= Isa::Avx512 {
            check_packers::<Avx512>();
        }
        if isa() >= Isa::Avx2 {
            check_packers::<Avx2>();
        } else {
            eprintln!("no AVX2 on this CPU: skipped");
        }
    }

    /// `V::transpose` on `0, 1, 2, …` row by row gives the numbers column by column.
    fn check_transpose<V: PackVector>() {
        let n = V::LANES;
        let m: Vec<f32> = (0..n * n).map(|i| i as f32).collect();
        let mut out = vec![0f32; n * n];
        widest(
            #[inline(always)]
            || unsafe {
                // Safety: the caller checked the CPU has V's instruction set; rows of `n` floats.
                let mut block = V::zero_block();
                for (i, row) in block.as_mut().iter_mut().enumerate() {
                    *row = V::load(m.as_ptr().add(n * i));
                }
                V::transpose(&mut block);
                for (i, row) in block.as_ref().iter().enumerate() {
                    V::store_first(out.as_mut_ptr().add(n * i), n, *row);
                }
            },
        );
        for i in 0..n {
            for j in 0..n {
                assert_eq!(out[n * j + i], m[n * i + j], "{n} lanes ({i}, {j})");
            }
        }
    }

    /// The bf16 packers' interleaving of word runs against the word-at-a-time loop, for both
    /// tile widths, partial panels and depths around the vector width.
    #[test]
    fn interleaved_runs_equal_the_scalar_loop() {
        if isa() < Isa::Avx512 {
            return;
        }
        let runs = matrix(32, 40);
        for (width, count, len) in [(14, 14, 40), (14, 3, 16), (32, 32, 33), (32, 20, 7), (32, 0, 5), (16, 16, 32)] {
            let fast = packed(width * len, |panel| interleave_avx512(panel, width, &runs, count, len));
            let slow =
                packed(width * len, |panel| super::super::pack::interleave_scalar(panel, width, &runs, count, len));
            assert_eq!(fast, slow, "width {width}, {count} runs of {len}");
        }
    }

    #[test]
    fn transposes_by_hand() {
        if isa() >= Isa::Avx512 {
            check_transpose::<Avx512>();
        }
        if isa() >= Isa::Avx2 {
            check_transpose::<Avx2>();
        }
    }
}
