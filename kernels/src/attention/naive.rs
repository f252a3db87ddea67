//! Attention by its definition, element by element in f64: the references the fused kernels are
//! checked against.

use super::AttentionDims;

/// `(out, p)` by the definition, dense `(N, T, D)` inputs: for each batch entry and query, scores
/// over the visible keys, softmax, weighted sum of values. The reference for [`super::attention_forward`],
/// in the tests and in `emergent bench kernels`.
pub fn attention_forward_naive(
    dims: &AttentionDims,
    scale: f64,
    q: &[f64],
    k: &[f64],
    v: &[f64],
) -> (Vec<f64>, Vec<f64>) {
    let AttentionDims { batch: n, queries: t, keys: s, head_dim: d, value_dim: dv, .. } = *dims;
    let (mut out, mut p) = (vec![0.0; n * t * dv], vec![0.0; n * t * s]);
    for b in 0..n {
        for i in 0..t {
            let seen = dims.visible_keys(i + 1);
            let scores: Vec<f64> = (0..seen)
                .map(|j| scale * (0..d).map(|x| q[(b * t + i) * d + x] * k[(b * s + j) * d + x]).sum::<f64>())
                .collect();
            let max = scores.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            let sum: f64 = scores.iter().map(|x| (x - max).exp()).sum();
            for j in 0..seen {
                let pij = (scores[j] - max).exp() / sum;
                p[(b * t + i) * s + j] = pij;
                for y in 0..dv {
                    out[(b * t + i) * dv + y] += pij * v[(b * s + j) * dv + y];
                }
            }
        }
    }
    (out, p)
}

/// `(dq, dk, dv)` by the chain rule written element by element (dense inputs, `p` from
/// [`attention_forward_naive`]): the reference for [`super::attention_backward`].
#[allow(clippy::too_many_arguments)]
pub fn attention_backward_naive(
    dims: &AttentionDims,
    scale: f64,
    q: &[f64],
    k: &[f64],
    v: &[f64],
    p: &[f64],
    d_out: &[f64],
) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let AttentionDims { batch: n, queries: t, keys: s, head_dim: d, value_dim: dvw, .. } = *dims;
    let (mut dq, mut dk, mut dv) = (vec![0.0; n * t * d], vec![0.0; n * s * d], vec![0.0; n * s * dvw]);
    for b in 0..n {
        for i in 0..t {
            let row = |j: usize| p[(b * t + i) * s + j];
            let dp: Vec<f64> = (0..s)
                .map(|j| (0..dvw).map(|y| d_out[(b * t + i) * dvw + y] * v[(b * s + j) * dvw + y]).sum())
                .collect();
            let dot: f64 = (0..s).map(|j| row(j) * dp[j]).sum();
            for j in 0..s {
                let ds = row(j) * (dp[j] - dot) * scale;
                for x in 0..d {
                    dq[(b * t + i) * d + x] += ds * k[(b * s + j) * d + x];
                    dk[(b * s + j) * d + x] += ds * q[(b * t + i) * d + x];
                }
                for y in 0..dvw {
                    dv[(b * s + j) * dvw + y] += row(j) * d_out[(b * t + i) * dvw + y];
                }
            }
        }
    }
    (dq, dk, dv)
}
