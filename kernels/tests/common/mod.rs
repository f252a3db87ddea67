//! What the kernel tests share: random inputs, the error measure and an attention reference.
#![allow(dead_code)] // each test binary uses its own part

use rand::{Rng, SeedableRng};

pub fn random(n: usize, seed: u64) -> Vec<f32> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    (0..n).map(|_| rng.random_range(-2.0f32..2.0)).collect()
}

/// max |a − b| / max(1, |b|) over the elements (0 where they are equal, −∞ too). Like every
/// error here, NaN where any element is NaN (`total_cmp` ranks NaN above all): a NaN output fails
/// its `err ≤ tolerance` check instead of being skipped, as `f32::max` would skip it.
pub fn max_rel_err(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| if x == y { 0.0 } else { (x - y).abs() / y.abs().max(1.0) })
        .max_by(f32::total_cmp)
        .unwrap_or(0.0)
}

/// max |a − b| / |b| over the elements (0 where both are 0): for outputs whose elements are all
/// far below 1, such as a cross-entropy gradient over a vocabulary (≈ 1/vocab each), where
/// [`max_rel_err`] would pass any small enough value.
pub fn max_elementwise_rel_err(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| if x == y { 0.0 } else { (x - y).abs() / y.abs().max(f32::MIN_POSITIVE) })
        .max_by(f32::total_cmp)
        .unwrap_or(0.0)
}

/// max |a − b| / max |b|: the largest difference relative to the reference's largest magnitude,
/// for small outputs computed with cancellation (a softmax gradient), where an elementwise ratio
/// is meaningless near the zeros.
pub fn max_normalized_err(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    let scale = b.iter().fold(0.0f32, |m, y| m.max(y.abs())).max(f32::MIN_POSITIVE);
    a.iter().zip(b).map(|(x, y)| if x == y { 0.0 } else { (x - y).abs() / scale }).max_by(f32::total_cmp).unwrap_or(0.0)
}

/// Attention for one sequence in f64, forward and backward written out (query `i` sees key `j` iff
/// not `causal` or `j ≤ i + s − t`): `P = softmax(Q·Kᵀ/√d + M)`, `O = P·V`; `dV = Pᵀ·dO`,
/// `dS = P ⊙ (dO·Vᵀ − rowsum(dO ⊙ O))`, `dQ = dS·K/√d`, `dK = dSᵀ·Q/√d`. Returns `(O, dQ, dK, dV)`.
pub fn reference_attention(
    (q, k, v, dout): (&[f32], &[f32], &[f32], &[f32]),
    (t, s, d): (usize, usize, usize),
    causal: bool,
) -> [Vec<f32>; 4] {
    let scale = 1.0 / (d as f64).sqrt();
    let at = |x: &[f32], i: usize, c: usize| x[i * d + c] as f64;
    let visible = |i: usize| if causal { i + s - t + 1 } else { s };
    let mut p = vec![0.0f64; t * s];
    for i in 0..t {
        let sc: Vec<f64> =
            (0..visible(i)).map(|j| (0..d).map(|c| at(q, i, c) * at(k, j, c)).sum::<f64>() * scale).collect();
        let m = sc.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let z: f64 = sc.iter().map(|x| (x - m).exp()).sum();
        for (j, x) in sc.iter().enumerate() {
            p[i * s + j] = (x - m).exp() / z;
        }
    }
    let (mut o, mut dq, mut dk, mut dv) = (vec![0.0; t * d], vec![0.0; t * d], vec![0.0; s * d], vec![0.0; s * d]);
    for i in 0..t {
        for c in 0..d {
            o[i * d + c] = (0..s).map(|j| p[i * s + j] * at(v, j, c)).sum::<f64>();
        }
    }
    for i in 0..t {
        let row_dot: f64 = (0..d).map(|c| at(dout, i, c) * o[i * d + c]).sum();
        for j in 0..visible(i) {
            let dp: f64 = (0..d).map(|c| at(dout, i, c) * at(v, j, c)).sum();
            let ds = p[i * s + j] * (dp - row_dot);
            for c in 0..d {
                dq[i * d + c] += ds * at(k, j, c) * scale;
                dk[j * d + c] += ds * at(q, i, c) * scale;
                dv[j * d + c] += p[i * s + j] * at(dout, i, c);
            }
        }
    }
    [o, dq, dk, dv].map(|x| x.iter().map(|&y| y as f32).collect())
}
