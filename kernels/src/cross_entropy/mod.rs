//! Cross-entropy of logits against class indices, fused: no softmax tensor is ever materialised.

pub mod cuda;

use crate::cpu::simd::widest;
use crate::softmax::log_sum_exp;
use crate::Float;
use rayon::prelude::*;

/// Per row `i` with target `tᵢ`: `lossᵢ = −log softmax(xᵢ)_{tᵢ} = log Σⱼ exp(xᵢⱼ) − xᵢ,tᵢ`
/// (F6: `H(p, q) = −Σ p log q` with `p` one-hot). A row whose target is `None` (ignore_index) has
/// loss 0. Targets must be `< cols` (checked by the caller).
pub fn cross_entropy_forward<T: Float>(logits: &[T], targets: &[Option<usize>], cols: usize, losses: &mut [T]) {
    losses.par_iter_mut().zip(logits.par_chunks(cols)).zip(targets.par_iter()).for_each(|((loss, x), t)| {
        *loss = match *t {
            Some(t) => log_sum_exp(x) - x[t],
            None => T::ZERO,
        };
    });
}

/// Backward: `∂lossᵢ/∂xᵢ = softmax(xᵢ) − onehot(tᵢ)`, so `dxᵢ = dlossᵢ·(softmax(xᵢ) − onehot(tᵢ))`;
/// ignored rows get zero gradient. Writes `dlogits` (same shape as `logits`).
pub fn cross_entropy_backward<T: Float>(
    logits: &[T],
    targets: &[Option<usize>],
    dlosses: &[T],
    cols: usize,
    dlogits: &mut [T],
) {
    dlogits.par_chunks_mut(cols).zip(logits.par_chunks(cols)).zip(targets.par_iter().zip(dlosses.par_iter())).for_each(
        |((dx, x), (t, &g))| match *t {
            Some(t) => {
                widest(
                    #[inline(always)]
                    || {
                        let lse = log_sum_exp(x);
                        for (dx, &x) in dx.iter_mut().zip(x) {
                            *dx = g * (x - lse).exp();
                        }
                    },
                );
                dx[t] -= g;
            }
            None => dx.fill(T::ZERO),
        },
    );
}

/// The reference for [`cross_entropy_forward`]: per row, `log Σⱼ e^(xⱼ − max x) + max x − x_t`
/// (0 for an ignored row), as plain loops in f64 — what the tests and `emergent bench kernels`
/// compare the kernel against.
pub fn cross_entropy_naive(logits: &[f64], targets: &[Option<usize>], cols: usize) -> Vec<f64> {
    logits
        .chunks(cols)
        .zip(targets)
        .map(|(row, t)| {
            let top = row.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let log_sum = row.iter().map(|v| (v - top).exp()).sum::<f64>().ln() + top;
            t.map_or(0.0, |t| log_sum - row[t])
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_computed_loss_and_gradient() {
        // logits [0, ln 3]: softmax = [1/4, 3/4]; target 1 → loss = −ln(3/4).
        let x = [0.0f64, 3f64.ln(), 1.0, 2.0];
        let targets = [Some(1), None];
        let mut loss = [0.0; 2];
        cross_entropy_forward(&x, &targets, 2, &mut loss);
        assert!((loss[0] + 0.75f64.ln()).abs() < 1e-15);
        assert_eq!(loss[1], 0.0);
        let mut dx = [9.0; 4];
        cross_entropy_backward(&x, &targets, &[2.0, 1.0], 2, &mut dx);
        assert!((dx[0] - 0.5).abs() < 1e-15 && (dx[1] + 0.5).abs() < 1e-15);
        assert_eq!(&dx[2..], &[0.0, 0.0]);
    }

    /// Rows over several parallel tasks, ignored rows among them, against the formula as loops.
    #[test]
    fn every_row_matches_the_formula() {
        let (rows, cols) = (1027, 301);
        let x: Vec<f64> = (0..rows * cols).map(|i| ((i * 104_729 % 1009) as f64 / 50.0 - 10.0).sin() * 6.0).collect();
        let targets: Vec<Option<usize>> = (0..rows).map(|r| (r % 7 != 3).then_some(r * 31 % cols)).collect();
        let mut losses = vec![f64::NAN; rows];
        cross_entropy_forward(&x, &targets, cols, &mut losses);
        let want = cross_entropy_naive(&x, &targets, cols);
        let worst = losses.iter().zip(&want).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
        assert!(worst < 1e-12, "off by {worst}");
    }
}
