//! Scaled dot-product attention (F1), fused on the CPU:
//! `P = softmax(scale·Q·Kᵀ + M)`, `O = P·V`, with `M = −∞` where a query may not see a key.
//!
//! The composed version (matmul, scale, add the mask, softmax, matmul) makes five passes over a
//! `T × S` score matrix per head and multiplies every query with every key, even the half a causal
//! mask throws away. Here each block of [`QUERY_BLOCK`] query rows is one task: its scores against
//! only the keys the block can see (causal: up to its last row) go straight into the rows of `P`,
//! are scaled, masked and normalised there while they are in cache, and multiply `V`. For T = 256 a
//! causal forward does 5/8 of the composed version's multiply-adds.
//!
//! Backward, per batch entry, block by block, with `dO` the output gradient:
//! `dV += Pᵀ·dO`; `dP = dO·Vᵀ`; `dS = P ⊙ (dP − Σⱼ dP ⊙ P)·scale`; `dQ = dS·K`; `dK += dSᵀ·Q`.
//! `P` is kept from the forward pass (for these sizes storing it is cheaper than recomputing it).
//!
//! Each batch entry is one task (forward and backward; a training step has `batch × heads` of them,
//! more than there are threads): the operands its blocks share — `Kᵀ` and `V` forward, `Vᵀ` and
//! `K` backward — are packed for the micro-kernel once ([`PackedB`]) and each block multiplies the
//! leading part it can see. The products run on the micro-kernel the
//! caller names: the f32 one, or under bf16 precision a mixed-precision one (bf16 operands, f32
//! sums; scores, probabilities and the softmax stay f32), as PyTorch's CPU autocast runs attention.

pub mod cuda;

mod naive;

pub use naive::{attention_backward_naive, attention_forward_naive};

use crate::cpu::simd::widest;
use crate::cpu::SendPtr;
use crate::gemm::{gemm_serial_raw, GemmScalar, MatRef, MicroKernelSpec, PackedB};
use crate::softmax::{softmax_backward_in_place, softmax_in_place};
use crate::Float;
use rayon::prelude::*;

/// Query rows per task: the scores of a block (`QUERY_BLOCK × S`) stay in L2 between the GEMM that
/// writes them and the softmax and GEMM that read them.
pub const QUERY_BLOCK: usize = 64;

/// The sizes of one attention call: `batch` independent problems (batch × heads), each with
/// `queries` (T) rows of width `head_dim` (D) attending over `keys` (S) keys of width `head_dim`
/// and values of width `value_dim` (Dv).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AttentionDims {
    pub batch: usize,
    pub queries: usize,
    pub keys: usize,
    pub head_dim: usize,
    pub value_dim: usize,
    /// Query `i` sees key `j` only if `j ≤ i + (S − T)` (queries aligned with the last keys, as with
    /// a KV cache). Needs `S ≥ T`.
    pub causal: bool,
}

impl AttentionDims {
    /// How many leading keys query rows `0..rows_end` can see (the union over those rows).
    pub fn visible_keys(&self, rows_end: usize) -> usize {
        if self.causal {
            (rows_end + self.keys - self.queries).min(self.keys)
        } else {
            self.keys
        }
    }

    /// Panics on an empty size, too few keys for a causal mask, inputs reaching outside their
    /// buffers, or `p` not holding `N·T·S` elements.
    fn check<T>(&self, [q, k, v]: &[Heads<T>; 3], p_len: usize) {
        let AttentionDims { batch: n, queries: t, keys: s, head_dim: d, value_dim: dv, causal } = *self;
        assert!(n > 0 && t > 0 && s > 0 && d > 0 && dv > 0, "attention kernel with an empty dimension: {self:?}");
        assert!(!causal || s >= t, "causal attention with {t} queries but only {s} keys");
        q.layout.check_bounds("q", n, t, d, q.data.len());
        k.layout.check_bounds("k", n, s, d, k.data.len());
        v.layout.check_bounds("v", n, s, dv, v.data.len());
        assert_eq!(p_len, n * t * s, "p");
    }
}

/// Where each batch entry's matrix lies in a buffer: entry `n = b·heads + h` starts at
/// `offset + b·batch_stride + h·head_stride`, its rows are `row_stride` apart and each row's
/// elements are contiguous. Covers dense `(N, rows, cols)` buffers and heads packed side by side
/// in the rows of a `(B, T, H·D)` activation (GPT-2's `[Q | K | V]` projection and its merged
/// attention output), so neither needs a copy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HeadLayout {
    pub offset: usize,
    pub heads: usize,
    pub batch_stride: usize,
    pub head_stride: usize,
    pub row_stride: usize,
}

impl HeadLayout {
    /// Dense `(N, rows, cols)`.
    pub fn dense(rows: usize, cols: usize) -> Self {
        Self { offset: 0, heads: 1, batch_stride: rows * cols, head_stride: 0, row_stride: cols }
    }

    /// `heads` matrices of `rows × cols` side by side in each `(rows, width)` slab of a
    /// `(B, rows, width)` buffer, the first starting at column `column`.
    pub fn packed(heads: usize, rows: usize, cols: usize, width: usize, column: usize) -> Self {
        Self { offset: column, heads, batch_stride: rows * width, head_stride: cols, row_stride: width }
    }

    /// The same layout in a buffer whose first element sits `by` elements further in.
    pub fn shifted(self, by: usize) -> Self {
        Self { offset: self.offset + by, ..self }
    }

    fn start(&self, n: usize) -> usize {
        self.offset + (n / self.heads) * self.batch_stride + (n % self.heads) * self.head_stride
    }

    /// The entry's `rows × cols` matrix (from row `row0`) as a GEMM operand.
    fn mat<'a, T: Copy>(&self, data: &'a [T], n: usize, row0: usize, rows: usize, cols: usize) -> MatRef<'a, T> {
        let offset = self.start(n) + row0 * self.row_stride;
        MatRef { data, offset, rows, cols, row_stride: self.row_stride, col_stride: 1 }
    }

    /// The elements `[first, end)` that `batch` matrices of `rows × cols` can touch.
    fn span(&self, batch: usize, rows: usize, cols: usize) -> (usize, usize) {
        (self.start(0), self.start(batch - 1) + (rows - 1) * self.row_stride + cols)
    }

    /// The columns `[first, end)` of a row that one batch index's heads use (meaningful when the
    /// offset is a column of the first row, as for packed heads).
    fn columns(&self, cols: usize) -> (usize, usize) {
        (self.offset, self.offset + (self.heads - 1) * self.head_stride + cols)
    }

    /// Why `batch` matrices of `rows × cols` do not lie within `len` elements under this layout, if
    /// they do not; with `disjoint`, also when two of them share an element (so they may not be
    /// written at the same time). The batch must be whole groups of `heads`, so the last entry
    /// starts furthest in.
    pub fn misfit(&self, batch: usize, rows: usize, cols: usize, len: usize, disjoint: bool) -> Option<String> {
        if self.heads == 0 || cols > self.row_stride {
            return Some(format!("bad layout {self:?} for {cols} columns"));
        }
        if !batch.is_multiple_of(self.heads) {
            return Some(format!("{batch} entries are not whole groups of {} heads", self.heads));
        }
        let last = if batch == 0 || rows == 0 { 0 } else { self.span(batch, rows, cols).1 };
        if last > len {
            return Some(format!("layout {self:?} reaches element {last} of {len}"));
        }
        let heads_fit =
            self.heads == 1 || (cols <= self.head_stride && self.heads * self.head_stride <= self.row_stride);
        let batches_fit = batch <= self.heads || rows * self.row_stride <= self.batch_stride;
        (disjoint && !(heads_fit && batches_fit))
            .then(|| format!("layout {self:?} overlaps itself for {rows} × {cols} matrices"))
    }

    /// Panics unless every element of `batch` matrices of `rows × cols` lies within `len`.
    fn check_bounds(&self, name: &str, batch: usize, rows: usize, cols: usize, len: usize) {
        if let Some(why) = self.misfit(batch, rows, cols, len, false) {
            panic!("{name}: {why}");
        }
    }

    /// [`HeadLayout::check_bounds`], and that no two matrices share an element (so tasks may write
    /// them at the same time).
    fn check_disjoint(&self, name: &str, batch: usize, rows: usize, cols: usize, len: usize) {
        if let Some(why) = self.misfit(batch, rows, cols, len, true) {
            panic!("{name}: {why}");
        }
    }
}

/// A read-only buffer and the layout of its matrices.
#[derive(Clone, Copy, Debug)]
pub struct Heads<'a, T> {
    pub data: &'a [T],
    pub layout: HeadLayout,
}

/// A writable buffer and the layout of its matrices (which must not overlap).
#[derive(Debug)]
pub struct HeadsMut<'a, T> {
    pub data: &'a mut [T],
    pub layout: HeadLayout,
}

/// `C = A·B` (or `C += A·B`) into the `A.rows × B.cols` block of entry `n`, from row `row0`, of
/// the buffer at `ptr` laid out by `layout`.
///
/// # Safety
/// The layout was checked with `check_disjoint` against the buffer, and no other task touches this
/// block meanwhile.
unsafe fn gemm_into<T: GemmScalar>(
    spec: MicroKernelSpec<T>,
    (ptr, layout): (SendPtr<T>, &HeadLayout),
    (n, row0): (usize, usize),
    (a, b): (MatRef<T>, MatRef<T>),
    accumulate: bool,
) {
    gemm_serial_raw(spec, a, b, block_start(ptr, layout, (n, row0)), layout.row_stride, accumulate);
}

/// Where row `row0` of entry `n`'s matrix starts in the buffer at `ptr` laid out by `layout`.
///
/// # Safety
/// As [`gemm_into`].
unsafe fn block_start<T>(ptr: SendPtr<T>, layout: &HeadLayout, (n, row0): (usize, usize)) -> *mut T {
    ptr.get().add(layout.start(n) + row0 * layout.row_stride)
}

/// The depth of a product over the first `seen` keys: `seen` rounded up to whole packed words
/// (bf16 pairs), at most `keys`. The keys this adds are masked ones, whose probabilities (and so
/// their score gradients) are 0, so the sums are those over `seen` keys.
fn key_depth<T>(spec: &MicroKernelSpec<T>, seen: usize, keys: usize) -> usize {
    seen.next_multiple_of(spec.k_per_word).min(keys)
}

/// Forward: `q (N, T, D)`, `k (N, S, D)`, `v (N, S, Dv)` in any [`HeadLayout`]; writes the output
/// `out (N, T, Dv)` in its layout and the probabilities `p (N, T, S)` (dense, 0 at masked keys),
/// which backward needs. Products on `spec` (`T::best_microkernel()`, or a bf16 one). Panics if a
/// layout reaches outside its buffer, an output layout overlaps itself, or a size is 0 (the tensor
/// layer checks shapes first and leaves empty problems to the composed op).
pub fn attention_forward<T: GemmScalar>(
    spec: MicroKernelSpec<T>,
    dims: &AttentionDims,
    scale: T,
    [q, k, v]: [Heads<T>; 3],
    out: HeadsMut<T>,
    p: &mut [T],
) {
    dims.check(&[q, k, v], p.len());
    let AttentionDims { queries: t, keys: s, head_dim: d, value_dim: dv, .. } = *dims;
    out.layout.check_disjoint("out", dims.batch, t, dv, out.data.len());
    let out_ptr = SendPtr(out.data.as_mut_ptr());
    // One task per batch entry: its keys and values packed once, for all its blocks of queries.
    p.par_chunks_mut(t * s).enumerate().for_each_init(PackedKeysValues::default, |buffers, (b, p)| {
        let seen_by_all = dims.visible_keys(t);
        let keys_t = PackedB::new(spec, k.layout.mat(k.data, b, 0, seen_by_all, d).t(), &mut buffers.keys);
        let values = PackedB::new(spec, v.layout.mat(v.data, b, 0, seen_by_all, dv), &mut buffers.values);
        for (block, p) in p.chunks_mut(QUERY_BLOCK * s).enumerate() {
            let r0 = block * QUERY_BLOCK;
            let rows = QUERY_BLOCK.min(t - r0);
            let seen = dims.visible_keys(r0 + rows);
            // Scores of the block's rows against the keys they can see, straight into P's rows.
            // Safety: this task alone writes this block of P, `rows` rows of `s ≥ seen`.
            unsafe { keys_t.multiply_raw(q.layout.mat(q.data, b, r0, rows, d), seen, p.as_mut_ptr(), s, false) };
            for (i, row) in p.chunks_exact_mut(s).enumerate() {
                let row_seen = dims.visible_keys(r0 + i + 1);
                widest(
                    #[inline(always)]
                    || scaled_softmax(&mut row[..row_seen], scale),
                );
                row[row_seen..].fill(T::ZERO);
            }
            let depth = key_depth(&spec, seen, s);
            let probs = MatRef { data: &*p, offset: 0, rows, cols: depth, row_stride: s, col_stride: 1 };
            // Safety: out's layout was checked disjoint; this task alone writes entry b's rows.
            unsafe {
                let at = block_start(out_ptr, &out.layout, (b, r0));
                values.multiply_raw(probs, dv, at, out.layout.row_stride, false);
            }
        }
    });
}

/// A task's buffers, kept between the batch entries it runs: the entry's keys and values packed
/// as GEMM operands, and (backward) a block's score gradients.
#[derive(Default)]
struct PackedKeysValues<T> {
    keys: Vec<T>,
    values: Vec<T>,
    scores: Vec<T>,
}

/// `row ← softmax(scale·row)`, the scaled scores rounded before the softmax as in the composed op.
#[inline(always)]
fn scaled_softmax<T: Float>(row: &mut [T], scale: T) {
    row.iter_mut().for_each(|x| *x *= scale);
    softmax_in_place(row);
}

/// Backward: from the forward's inputs `[q, k, v]`, its probabilities `p` (dense `(N, T, S)`) and
/// the output gradient `d_out (N, T, Dv)`, writes `dq (N, T, D)`, `dk (N, S, D)` and
/// `dv (N, S, Dv)` into `grads` (formulas in the module documentation), each in its own layout:
/// apart, or interleaved in the same rows (one packed `[dQ | dK | dV]` buffer), never overlapping.
/// Batch entries run in parallel. Panics as [`attention_forward`], or if the layouts overlap.
#[allow(clippy::too_many_arguments)]
pub fn attention_backward<T: GemmScalar>(
    spec: MicroKernelSpec<T>,
    dims: &AttentionDims,
    scale: T,
    [q, k, v]: [Heads<T>; 3],
    p: &[T],
    d_out: Heads<T>,
    grads: &mut [T],
    [dq_layout, dk_layout, dv_layout]: [HeadLayout; 3],
) {
    dims.check(&[q, k, v], p.len());
    let AttentionDims { batch: n, queries: t, keys: s, head_dim: d, value_dim: dvw, .. } = *dims;
    d_out.layout.check_bounds("d_out", n, t, dvw, d_out.data.len());
    let outputs = [(dq_layout, t, d), (dk_layout, s, d), (dv_layout, s, dvw)];
    for (name, (layout, rows, cols)) in ["dq", "dk", "dv"].into_iter().zip(outputs) {
        layout.check_disjoint(name, n, rows, cols, grads.len());
    }
    for (i, j) in [(0, 1), (0, 2), (1, 2)] {
        assert!(apart(outputs[i], outputs[j], n), "gradient layouts overlap: {:?} and {:?}", outputs[i], outputs[j]);
    }
    let ptr = SendPtr(grads.as_mut_ptr());
    let (dq, dk, dv) = (&dq_layout, &dk_layout, &dv_layout);
    (0..n).into_par_iter().for_each_init(PackedKeysValues::default, |buffers, b| {
        // Safety (every write below): the three layouts were checked disjoint from themselves and
        // each other, and only this task writes entry b.
        unsafe {
            zero_rows(ptr, dk, b, s, d);
            zero_rows(ptr, dv, b, s, dvw);
        }
        let seen_by_all = dims.visible_keys(t);
        let values_t = PackedB::new(spec, v.layout.mat(v.data, b, 0, seen_by_all, dvw).t(), &mut buffers.values);
        let keys = PackedB::new(spec, k.layout.mat(k.data, b, 0, seen_by_all, d), &mut buffers.keys);
        for r0 in (0..t).step_by(QUERY_BLOCK) {
            let rows = QUERY_BLOCK.min(t - r0);
            let seen = key_depth(&spec, dims.visible_keys(r0 + rows), s);
            let probs = MatRef { data: p, offset: (b * t + r0) * s, rows, cols: seen, row_stride: s, col_stride: 1 };
            let d_out_block = d_out.layout.mat(d_out.data, b, r0, rows, dvw);
            // dV[..seen] += Pᵀ·dO
            unsafe { gemm_into(spec, (ptr, dv), (b, 0), (probs.t(), d_out_block), true) };
            // dP = dO·Vᵀ, then dS = P ⊙ (dP − Σⱼ dP ⊙ P)·scale, in place.
            buffers.scores.resize(rows * seen, T::ZERO);
            let ds = &mut buffers.scores[..rows * seen];
            // Safety: `ds` holds `rows` rows of `seen`.
            unsafe { values_t.multiply_raw(d_out_block, seen, ds.as_mut_ptr(), seen, false) };
            for (i, ds_row) in ds.chunks_exact_mut(seen).enumerate() {
                let p_row = &p[(b * t + r0 + i) * s..][..seen];
                widest(
                    #[inline(always)]
                    || scaled_softmax_backward(p_row, ds_row, scale),
                );
            }
            let ds = MatRef::row_major(&*ds, rows, seen);
            // dQ = dS·K; dK[..seen] += dSᵀ·Q
            unsafe {
                keys.multiply_raw(ds, d, block_start(ptr, dq, (b, r0)), dq.row_stride, false);
                gemm_into(spec, (ptr, dk), (b, 0), (ds.t(), q.layout.mat(q.data, b, r0, rows, d)), true);
            }
        }
    });
}

/// Zeroes entry `n`'s `rows × cols` matrix.
///
/// # Safety
/// As [`gemm_into`].
unsafe fn zero_rows<T: Float>(ptr: SendPtr<T>, layout: &HeadLayout, n: usize, rows: usize, cols: usize) {
    for r in 0..rows {
        std::slice::from_raw_parts_mut(ptr.get().add(layout.start(n) + r * layout.row_stride), cols).fill(T::ZERO);
    }
}

/// Whether two layouts' matrices (`(layout, rows, cols)`, `batch` of each) share no element: their
/// element ranges are disjoint, or they share one grid of rows and use disjoint columns of it.
fn apart(a: (HeadLayout, usize, usize), b: (HeadLayout, usize, usize), batch: usize) -> bool {
    let disjoint = |x: (usize, usize), y: (usize, usize)| x.1 <= y.0 || y.1 <= x.0;
    let grid = |l: &HeadLayout| (l.heads, l.batch_stride, l.head_stride, l.row_stride);
    let columns_apart = grid(&a.0) == grid(&b.0)
        && disjoint(a.0.columns(a.2), b.0.columns(b.2))
        && a.0.columns(a.2).1.max(b.0.columns(b.2).1) <= a.0.row_stride;
    columns_apart || disjoint(a.0.span(batch, a.1, a.2), b.0.span(batch, b.1, b.2))
}

/// `g ← scale·p ⊙ (g − Σⱼ gⱼ·pⱼ)`: the softmax backward of one row, times the score scale.
#[inline(always)]
fn scaled_softmax_backward<T: Float>(p: &[T], g: &mut [T], scale: T) {
    softmax_backward_in_place(p, g);
    g.iter_mut().for_each(|g| *g *= scale);
}

#[cfg(test)]
mod tests;
