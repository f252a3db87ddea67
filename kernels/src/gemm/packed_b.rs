//! An operand B packed once, whole, for several products that share it: each block of an
//! attention head's queries against the head's keys, and its probabilities against the head's
//! values. A product may use a leading part of it — its first rows (a shallower k) and first
//! columns — as the blocks of a causal mask do, so keys a block cannot see are neither packed
//! again nor multiplied.

use super::{round_up, with_packing_buffer, GemmScalar, MatRef, MicroKernelSpec, Packed, TileStore};

/// B (`k × n`) in `spec`'s micro-panels, each the full depth `k` (no k blocks: the products that
/// reuse a packed B are shallow, an attention head's width or its keys).
pub struct PackedB<'a, T> {
    spec: MicroKernelSpec<T>,
    panels: &'a [T],
    k: usize,
    n: usize,
}

impl<'a, T: GemmScalar> PackedB<'a, T> {
    /// Packs all of `b` with `spec`'s packing into `buffer`, grown as needed (the caller keeps it
    /// between uses, so packing allocates nothing after the first).
    pub fn new(spec: MicroKernelSpec<T>, b: MatRef<T>, buffer: &'a mut Vec<T>) -> Self {
        let (k, n) = (b.rows, b.cols);
        let len = round_up(n, spec.nr) * spec.words(k);
        if buffer.len() < len {
            buffer.resize(len, T::ZERO);
        }
        if k > 0 && n > 0 {
            (spec.pack_b)(&mut buffer[..len], b, 0, k, 0, n, spec.nr, false);
        }
        Self { spec, panels: &buffer[..len], k, n }
    }

    /// `C = A·B′` (or `C += A·B′` with `accumulate`) on the calling thread, where `B′` is B's first
    /// `a.cols` rows and first `n` columns; C row-major with leading dimension `ldc`. Panics if `A`
    /// is deeper than B, `n` wider, or (bf16 pairs) `a.cols` ends inside a packed word.
    ///
    /// # Safety
    /// `c` must address `(a.rows − 1)·ldc + n` elements, initialised when accumulating, that
    /// nothing else accesses during the call.
    pub unsafe fn multiply_raw(&self, a: MatRef<T>, n: usize, c: *mut T, ldc: usize, accumulate: bool) {
        let MicroKernelSpec { kernel, mr, nr, mc: mc_max, pack_a, .. } = self.spec;
        let (m, k) = (a.rows, a.cols);
        assert!(k <= self.k && n <= self.n, "packed B is {} × {}: no {k} × {n} part", self.k, self.n);
        assert!(k == self.k || self.spec.words(k) < self.spec.words(k + 1), "depth {k} splits a packed word");
        assert!(m == 0 || n == 0 || ldc >= n, "gemm: ldc {ldc} < n {n}");
        if m == 0 || n == 0 {
            return;
        }
        if k == 0 {
            if !accumulate {
                (0..m).for_each(|i| std::slice::from_raw_parts_mut(c.add(i * ldc), n).fill(T::ZERO));
            }
            return;
        }
        let (words, panel_len) = (self.spec.words(k), nr * self.spec.words(self.k));
        let store = if accumulate { TileStore::Accumulate } else { TileStore::Overwrite };
        for ic in (0..m).step_by(mc_max) {
            let mc = (m - ic).min(mc_max);
            with_packing_buffer(Packed::A, round_up(mc, mr) * words, |packed_a: &mut [T]| {
                pack_a(packed_a, a, ic, mc, 0, k, mr);
                for panel in 0..n.div_ceil(nr) {
                    // The panel's first `words` words are B′'s rows: panels are laid out word by word.
                    let pb = self.panels[panel * panel_len..].as_ptr();
                    for ir in (0..mc).step_by(mr) {
                        let pa = packed_a[(ir / mr) * mr * words..].as_ptr();
                        let tile = c.add((ic + ir) * ldc + panel * nr);
                        kernel(words, pa, pb, tile, ldc, (mc - ir).min(mr), (n - panel * nr).min(nr), store);
                    }
                }
            });
        }
    }
}
