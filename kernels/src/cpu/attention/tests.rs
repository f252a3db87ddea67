//! The fused kernel against the formulas written out as plain loops in f64.

use super::*;
use rand::{rngs::StdRng, Rng, SeedableRng};

fn random(n: usize, rng: &mut StdRng) -> Vec<f64> {
    (0..n).map(|_| rng.random_range(-2.0..2.0)).collect()
}

/// `(out, p)` by the definition: for each batch entry and query, scores over the visible keys,
/// softmax, weighted sum of values.
fn reference_forward(dims: &AttentionDims, scale: f64, q: &[f64], k: &[f64], v: &[f64]) -> (Vec<f64>, Vec<f64>) {
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

/// `(dq, dk, dv)` by the chain rule written element by element.
#[allow(clippy::too_many_arguments)]
fn reference_backward(
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

fn max_rel_err(got: &[f64], want: &[f64]) -> f64 {
    let scale = want.iter().fold(1e-12f64, |m, &x| m.max(x.abs()));
    got.iter().zip(want).map(|(a, b)| (a - b).abs() / scale).fold(0.0, f64::max)
}

fn check(dims: AttentionDims) {
    let mut rng = StdRng::seed_from_u64(7);
    let AttentionDims { batch: n, queries: t, keys: s, head_dim: d, value_dim: dvw, .. } = dims;
    let (q, k, v) = (random(n * t * d, &mut rng), random(n * s * d, &mut rng), random(n * s * dvw, &mut rng));
    let d_out = random(n * t * dvw, &mut rng);
    let scale = 1.0 / (d as f64).sqrt();
    let (mut out, mut p) = (vec![f64::NAN; n * t * dvw], vec![f64::NAN; n * t * s]);
    attention_forward(&dims, scale, &q, &k, &v, &mut out, &mut p);
    let (want_out, want_p) = reference_forward(&dims, scale, &q, &k, &v);
    assert!(max_rel_err(&out, &want_out) < 1e-12, "{dims:?} out");
    assert!(max_rel_err(&p, &want_p) < 1e-12, "{dims:?} p");
    let (mut dq, mut dk, mut dv) = (vec![f64::NAN; q.len()], vec![f64::NAN; k.len()], vec![f64::NAN; v.len()]);
    attention_backward(&dims, scale, &q, &k, &v, &p, &d_out, &mut dq, &mut dk, &mut dv);
    let (want_dq, want_dk, want_dv) = reference_backward(&dims, scale, &q, &k, &v, &want_p, &d_out);
    assert!(max_rel_err(&dq, &want_dq) < 1e-12, "{dims:?} dq");
    assert!(max_rel_err(&dk, &want_dk) < 1e-12, "{dims:?} dk");
    assert!(max_rel_err(&dv, &want_dv) < 1e-12, "{dims:?} dv");
}

#[test]
fn causal_matches_the_definition_across_block_edges() {
    // 150 queries: two full blocks and a partial one.
    check(AttentionDims { batch: 3, queries: 150, keys: 150, head_dim: 16, value_dim: 16, causal: true });
}

#[test]
fn causal_with_more_keys_than_queries() {
    // Queries aligned with the last keys, as with a KV cache.
    check(AttentionDims { batch: 2, queries: 70, keys: 90, head_dim: 8, value_dim: 12, causal: true });
}

#[test]
fn unmasked_matches_the_definition() {
    check(AttentionDims { batch: 2, queries: 65, keys: 33, head_dim: 24, value_dim: 5, causal: false });
}

#[test]
fn causal_probabilities_are_zero_above_the_diagonal_and_rows_sum_to_one() {
    let dims = AttentionDims { batch: 1, queries: 80, keys: 80, head_dim: 4, value_dim: 4, causal: true };
    let mut rng = StdRng::seed_from_u64(3);
    let (q, k, v) = (random(320, &mut rng), random(320, &mut rng), random(320, &mut rng));
    let q: Vec<f32> = q.iter().map(|&x| x as f32).collect();
    let k: Vec<f32> = k.iter().map(|&x| x as f32).collect();
    let v: Vec<f32> = v.iter().map(|&x| x as f32).collect();
    let (mut out, mut p) = (vec![0f32; 320], vec![f32::NAN; 6400]);
    attention_forward(&dims, 0.5, &q, &k, &v, &mut out, &mut p);
    for (i, row) in p.chunks(80).enumerate() {
        assert!(row[i + 1..].iter().all(|&x| x == 0.0), "row {i} sees the future");
        let sum: f32 = row.iter().sum();
        assert!((sum - 1.0).abs() < 1e-5, "row {i} sums to {sum}");
    }
}

#[test]
#[should_panic(expected = "causal attention with 5 queries but only 4 keys")]
fn causal_needs_enough_keys() {
    let dims = AttentionDims { batch: 1, queries: 5, keys: 4, head_dim: 2, value_dim: 2, causal: true };
    let (mut out, mut p) = (vec![0.0; 10], vec![0.0; 20]);
    attention_forward(&dims, 1.0, &[0.0; 10], &[0.0; 8], &[0.0; 8], &mut out, &mut p);
}
