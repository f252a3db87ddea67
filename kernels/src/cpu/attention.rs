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

use super::gemm::{gemm_serial, GemmScalar, MatRef};
use super::simd::widest;
use super::softmax::{softmax_backward_in_place, softmax_in_place};
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

    fn check<T>(&self, q: &[T], k: &[T], v: &[T], out: &[T], p: &[T]) {
        let AttentionDims { batch: n, queries: t, keys: s, head_dim: d, value_dim: dv, causal } = *self;
        assert!(n > 0 && t > 0 && s > 0 && d > 0 && dv > 0, "attention kernel with an empty dimension: {self:?}");
        assert!(!causal || s >= t, "causal attention with {t} queries but only {s} keys");
        assert_eq!(q.len(), n * t * d, "q");
        assert_eq!(k.len(), n * s * d, "k");
        assert_eq!(v.len(), n * s * dv, "v");
        assert_eq!(out.len(), n * t * dv, "out");
        assert_eq!(p.len(), n * t * s, "p");
    }
}

/// Forward. `q (N, T, D)`, `k (N, S, D)`, `v (N, S, Dv)`, all row-major; writes the output
/// `out (N, T, Dv)` and the probabilities `p (N, T, S)` (0 at masked keys), which backward needs.
/// Panics if a buffer's length disagrees with `dims` or a size is 0 (the tensor layer checks
/// shapes first and leaves empty problems to the composed op).
pub fn attention_forward<T: GemmScalar>(
    dims: &AttentionDims,
    scale: T,
    q: &[T],
    k: &[T],
    v: &[T],
    out: &mut [T],
    p: &mut [T],
) {
    dims.check(q, k, v, out, p);
    let AttentionDims { queries: t, keys: s, head_dim: d, value_dim: dv, .. } = *dims;
    let tasks = p.par_chunks_mut(t * s).zip(out.par_chunks_mut(t * dv)).enumerate().flat_map(|(n, (p, out))| {
        let blocks = p.par_chunks_mut(QUERY_BLOCK * s).zip(out.par_chunks_mut(QUERY_BLOCK * dv));
        blocks.enumerate().map(move |(block, (p, out))| (n, block * QUERY_BLOCK, p, out))
    });
    tasks.for_each(|(n, r0, p, out)| {
        let rows = QUERY_BLOCK.min(t - r0);
        let (q, k, v) =
            (&q[n * t * d..][r0 * d..(r0 + rows) * d], &k[n * s * d..][..s * d], &v[n * s * dv..][..s * dv]);
        let seen = dims.visible_keys(r0 + rows);
        // Scores of the block's rows against the keys they can see, straight into P's rows.
        let keys_t = MatRef::row_major(&k[..seen * d], seen, d).t();
        gemm_serial(MatRef::row_major(q, rows, d), keys_t, p, s, false);
        for (i, row) in p.chunks_exact_mut(s).enumerate() {
            let row_seen = dims.visible_keys(r0 + i + 1);
            widest(|| scaled_softmax(&mut row[..row_seen], scale));
            row[row_seen..].fill(T::ZERO);
        }
        let probs = MatRef { data: &*p, offset: 0, rows, cols: seen, row_stride: s, col_stride: 1 };
        gemm_serial(probs, MatRef::row_major(&v[..seen * dv], seen, dv), out, dv, false);
    });
}

/// `row ← softmax(scale·row)`, the scaled scores rounded before the softmax as in the composed op.
#[inline(always)]
fn scaled_softmax<T: Float>(row: &mut [T], scale: T) {
    row.iter_mut().for_each(|x| *x *= scale);
    softmax_in_place(row);
}

/// Backward: from the forward's inputs, its probabilities `p` and the output gradient
/// `d_out (N, T, Dv)`, writes `dq (N, T, D)`, `dk (N, S, D)`, `dv (N, S, Dv)` (formulas in the
/// module documentation). Batch entries run in parallel.
#[allow(clippy::too_many_arguments)]
pub fn attention_backward<T: GemmScalar>(
    dims: &AttentionDims,
    scale: T,
    q: &[T],
    k: &[T],
    v: &[T],
    p: &[T],
    d_out: &[T],
    dq: &mut [T],
    dk: &mut [T],
    dv: &mut [T],
) {
    dims.check(q, k, v, d_out, p);
    dims.check(dq, dk, dv, d_out, p);
    let AttentionDims { queries: t, keys: s, head_dim: d, value_dim: dvw, .. } = *dims;
    let entries = dq.par_chunks_mut(t * d).zip(dk.par_chunks_mut(s * d)).zip(dv.par_chunks_mut(s * dvw));
    entries.enumerate().for_each_init(Vec::new, |scratch: &mut Vec<T>, (b, ((dq, dk), dv))| {
        let q = &q[b * t * d..][..t * d];
        let (k, v) = (&k[b * s * d..][..s * d], &v[b * s * dvw..][..s * dvw]);
        let (p, d_out) = (&p[b * t * s..][..t * s], &d_out[b * t * dvw..][..t * dvw]);
        dk.fill(T::ZERO);
        dv.fill(T::ZERO);
        for r0 in (0..t).step_by(QUERY_BLOCK) {
            let rows = QUERY_BLOCK.min(t - r0);
            let seen = dims.visible_keys(r0 + rows);
            let probs = MatRef { data: p, offset: r0 * s, rows, cols: seen, row_stride: s, col_stride: 1 };
            let d_out_block = MatRef::row_major(&d_out[r0 * dvw..(r0 + rows) * dvw], rows, dvw);
            // dV[..seen] += Pᵀ·dO
            gemm_serial(probs.t(), d_out_block, &mut dv[..seen * dvw], dvw, true);
            // dP = dO·Vᵀ, then dS = P ⊙ (dP − Σⱼ dP ⊙ P)·scale, in place.
            scratch.resize(rows * seen, T::ZERO);
            let ds = &mut scratch[..rows * seen];
            gemm_serial(d_out_block, MatRef::row_major(&v[..seen * dvw], seen, dvw).t(), ds, seen, false);
            for (i, ds_row) in ds.chunks_exact_mut(seen).enumerate() {
                let p_row = &p[(r0 + i) * s..][..seen];
                widest(|| scaled_softmax_backward(p_row, ds_row, scale));
            }
            let ds = MatRef::row_major(&*ds, rows, seen);
            // dQ = dS·K; dK[..seen] += dSᵀ·Q
            gemm_serial(ds, MatRef::row_major(&k[..seen * d], seen, d), &mut dq[r0 * d..(r0 + rows) * d], d, false);
            let q_block = MatRef::row_major(&q[r0 * d..(r0 + rows) * d], rows, d);
            gemm_serial(ds.t(), q_block, &mut dk[..seen * d], d, true);
        }
    });
}

/// `g ← scale·p ⊙ (g − Σⱼ gⱼ·pⱼ)`: the softmax backward of one row, times the score scale.
#[inline(always)]
fn scaled_softmax_backward<T: Float>(p: &[T], g: &mut [T], scale: T) {
    softmax_backward_in_place(p, g);
    g.iter_mut().for_each(|g| *g *= scale);
}

#[cfg(test)]
mod tests;
