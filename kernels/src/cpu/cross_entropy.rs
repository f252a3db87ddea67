//! Cross-entropy of logits against class indices, fused: no softmax tensor is ever materialised.

use super::simd::widest;
use super::softmax::log_sum_exp;
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
}
