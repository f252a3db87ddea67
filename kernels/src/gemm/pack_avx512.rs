//! Packing for the AVX-512 f32 micro-kernel: the same panels as [`super::pack`]'s `pack_a` and
//! `pack_b`, written with 512-bit loads and stores. The training step's products read A and B in
//! all four layouts (`x·W`, `dy·Wᵀ`, `xᵀ·dy`); two of them ask for a transpose while packing —
//! row-major A (each panel row gathers one element from each of `mr` rows of A) and transposed B
//! (one element from each of `nr` columns) — which the generic loops do an element at a time with
//! strided stores. Here 16 source runs are loaded 16 elements at a time and transposed in
//! registers ([`transpose_16x16`]), then stored as 16 panel rows; the other two layouts are
//! straight copies of `mr`- or `nr`-wide runs, done with masked vector moves instead of a `memcpy`
//! call per run. Layouts not covered fall back to the generic loops.

use super::pack::{pack_a, pack_b};
use super::MatRef;
use rayon::prelude::*;
use std::arch::x86_64::*;

/// [`pack_a`] (same panels, bit for bit) with AVX-512 where A is row-major or transposed and the
/// panels are at most 16 rows wide. The CPU must have AVX-512F (the micro-kernel's spec says so).
pub fn pack_a_avx512(buf: &mut [f32], a: MatRef<f32>, ic: usize, mc: usize, pc: usize, kc: usize, mr: usize) {
    // Run i of a panel is row i of A: its elements `row_stride` apart, each k step `col_stride`.
    let Some(layout) = Runs::of(a.row_stride, a.col_stride).filter(|_| mr <= 16 && kc > 0) else {
        return pack_a(buf, a, ic, mc, pc, kc, mr);
    };
    for (p, panel) in buf.chunks_exact_mut(mr * kc).enumerate() {
        let row0 = ic + p * mr;
        let first = a.offset + row0 * a.row_stride + pc * a.col_stride;
        let runs = mr.min(ic + mc - row0);
        let source = Source { data: a.data, first, run_stride: a.row_stride, step: a.col_stride, runs, len: kc };
        // Safety: AVX-512F is present (this packer belongs to the AVX-512 kernel); `source`
        // lies within A (rows and k range of the block) and the panel holds `kc·mr` elements.
        unsafe { write_panel(panel, 0, mr, &source, layout) };
    }
}

/// [`pack_b`] (same panels, bit for bit) with AVX-512 where B is row-major or transposed and the
/// panels are a whole number of 16-column groups wide.
#[allow(clippy::too_many_arguments)]
pub fn pack_b_avx512(
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
    let Some(layout) = Runs::of(b.col_stride, b.row_stride).filter(|_| nr.is_multiple_of(16) && kc > 0) else {
        return pack_b(buf, b, pc, kc, jc, nc, nr, parallel);
    };
    let pack_panel = |(p, panel): (usize, &mut [f32])| {
        let col0 = jc + p * nr;
        let cols = nr.min(jc + nc - col0);
        // Each group of 16 columns of the panel, from its own 16 (or fewer) source runs.
        for group in (0..nr).step_by(16) {
            let runs = cols.saturating_sub(group).min(16);
            let first = b.offset + pc * b.row_stride + (col0 + group.min(cols)) * b.col_stride;
            let (run_stride, step) = (b.col_stride, b.row_stride);
            let source = Source { data: b.data, first, run_stride, step, runs, len: kc };
            // Safety: as in `pack_a_avx512`; columns `group..group + 16` exist in each panel row.
            unsafe { write_panel(panel, group, nr, &source, layout) };
        }
    };
    if parallel {
        buf.par_chunks_exact_mut(nr * kc).enumerate().for_each(pack_panel);
    } else {
        buf.chunks_exact_mut(nr * kc).enumerate().for_each(pack_panel);
    }
}

/// How a panel's source lies: `runs` sequences of `len` elements each, element `kk` of run `i` at
/// `data[first + i·run_stride + kk·step]`.
struct Source<'a> {
    data: &'a [f32],
    first: usize,
    run_stride: usize,
    step: usize,
    runs: usize,
    len: usize,
}

/// Which way the source's runs go relative to the panel.
#[derive(Clone, Copy, Debug)]
enum Runs {
    /// Each run is contiguous along k (step 1): a panel row takes one element from each run —
    /// a transpose.
    AlongK,
    /// The runs sit side by side (run stride 1) and each k step is one contiguous row of them —
    /// a copy.
    AcrossPanel,
}

impl Runs {
    /// The vector path for runs `run_stride` apart whose elements are `step` apart, if one fits.
    fn of(run_stride: usize, step: usize) -> Option<Runs> {
        if step == 1 && run_stride != 1 {
            Some(Runs::AlongK)
        } else if run_stride == 1 {
            Some(Runs::AcrossPanel)
        } else {
            None
        }
    }
}

/// Writes columns `col0..col0 + 16` (clipped to `width`) of a panel whose rows are `width` apart:
/// `panel[kk·width + col0 + i] = run i's element kk` for `i < runs`, 0 for the columns past `runs`.
///
/// # Safety
/// AVX-512F must be available; every source element named by `source` must lie in `source.data`
/// (checked in debug builds); `panel` must hold `source.len·width` elements and `col0 < width`.
#[target_feature(enable = "avx512f")]
unsafe fn write_panel(panel: &mut [f32], col0: usize, width: usize, source: &Source, layout: Runs) {
    let Source { data, first, run_stride, step, runs, len } = *source;
    debug_assert!(panel.len() >= len * width && col0 < width && runs <= 16);
    debug_assert!(runs == 0 || first + (runs - 1) * run_stride + (len - 1) * step < data.len());
    let columns = (width - col0).min(16);
    let store_mask: __mmask16 = ((1u32 << columns) - 1) as __mmask16;
    let load_mask: __mmask16 = ((1u32 << runs) - 1) as __mmask16;
    let (src, out) = (data.as_ptr().add(first), panel.as_mut_ptr().add(col0));
    match layout {
        Runs::AlongK => {
            let mut kk = 0;
            while kk + 16 <= len {
                let mut block = [_mm512_setzero_ps(); 16];
                for (i, row) in block.iter_mut().enumerate().take(runs) {
                    *row = _mm512_loadu_ps(src.add(i * run_stride + kk));
                }
                transpose_16x16(&mut block);
                for (t, row) in block.iter().enumerate() {
                    _mm512_mask_storeu_ps(out.add((kk + t) * width), store_mask, *row);
                }
                kk += 16;
            }
            for kk in kk..len {
                for i in 0..columns {
                    *out.add(kk * width + i) = if i < runs { *src.add(i * run_stride + kk) } else { 0.0 };
                }
            }
        }
        Runs::AcrossPanel => {
            for kk in 0..len {
                let row = _mm512_maskz_loadu_ps(load_mask, src.add(kk * step));
                _mm512_mask_storeu_ps(out.add(kk * width), store_mask, row);
            }
        }
    }
}

/// Transposes a 16×16 block of f32 held as 16 rows: afterwards `rows[j]` lane `i` is the old
/// `rows[i]` lane `j`. Three rounds of pairing: 32-bit lanes of row pairs (`unpack*_ps`), 64-bit
/// pairs of those (`unpack*_pd`), then 128-bit quarters, twice (`shuffle_f32x4`).
#[target_feature(enable = "avx512f")]
fn transpose_16x16(rows: &mut [__m512; 16]) {
    let mut t = [_mm512_setzero_ps(); 16];
    for i in 0..8 {
        t[2 * i] = _mm512_unpacklo_ps(rows[2 * i], rows[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_ps(rows[2 * i], rows[2 * i + 1]);
    }
    let (pd, ps) = (_mm512_castps_pd, _mm512_castpd_ps);
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

    /// Each packer against the generic one, bit for bit, on blocks that reach every path: panels
    /// with fewer rows/columns than the tile, depths that are not a multiple of 16 (the scalar
    /// tail) and under 16, blocks that start inside the matrix, in all four layouts.
    #[test]
    fn panels_equal_the_generic_packing() {
        if crate::cpu::isa::isa() < crate::cpu::isa::Isa::Avx512 {
            eprintln!("no AVX-512 on this CPU: skipped");
            return;
        }
        let (m, k) = (61, 77);
        let data = matrix(m, k);
        for transposed in [false, true] {
            let a = if transposed { MatRef::row_major(&data, k, m).t() } else { MatRef::row_major(&data, m, k) };
            for (ic, mc, pc, kc, mr) in [
                (0usize, 61usize, 0usize, 77usize, 14usize),
                (3, 29, 5, 16, 14),
                (14, 9, 60, 17, 14),
                (0, 61, 1, 5, 16),
            ] {
                let len = mc.div_ceil(mr) * mr * kc;
                let fast = packed(len, |buf| pack_a_avx512(buf, a, ic, mc, pc, kc, mr));
                let slow = packed(len, |buf| pack_a(buf, a, ic, mc, pc, kc, mr));
                assert_eq!(fast, slow, "A transposed={transposed} block {:?}", (ic, mc, pc, kc, mr));
            }
            let b = if transposed { MatRef::row_major(&data, m, k).t() } else { MatRef::row_major(&data, k, m) };
            for (pc, kc, jc, nc, nr) in [
                (0usize, 77usize, 0usize, 61usize, 32usize),
                (5, 16, 3, 40, 32),
                (60, 17, 20, 41, 16),
                (1, 3, 0, 7, 32),
            ] {
                for parallel in [false, true] {
                    let len = nc.div_ceil(nr) * nr * kc;
                    let fast = packed(len, |buf| pack_b_avx512(buf, b, pc, kc, jc, nc, nr, parallel));
                    let slow = packed(len, |buf| pack_b(buf, b, pc, kc, jc, nc, nr, parallel));
                    assert_eq!(fast, slow, "B transposed={transposed} block {:?}", (pc, kc, jc, nc, nr));
                }
            }
        }
    }

    #[test]
    fn transpose_16x16_by_hand() {
        if crate::cpu::isa::isa() < crate::cpu::isa::Isa::Avx512 {
            return;
        }
        let m: Vec<f32> = (0..256).map(|i| i as f32).collect();
        // Safety: AVX-512F checked above; each row is 16 floats of `m`.
        let out = unsafe {
            let mut rows = [_mm512_setzero_ps(); 16];
            for (i, r) in rows.iter_mut().enumerate() {
                *r = _mm512_loadu_ps(m.as_ptr().add(16 * i));
            }
            transpose_16x16(&mut rows);
            let mut out = vec![0f32; 256];
            for (i, r) in rows.iter().enumerate() {
                _mm512_storeu_ps(out.as_mut_ptr().add(16 * i), *r);
            }
            out
        };
        for i in 0..16 {
            for j in 0..16 {
                assert_eq!(out[16 * j + i], m[16 * i + j], "({i}, {j})");
            }
        }
    }
}
