//! The AdamW update (Loshchilov & Hutter: Adam with decoupled weight decay), fused into one pass.

pub mod cuda;

use crate::cpu::simd::widest;
use crate::Float;
use rayon::prelude::*;

const CHUNK: usize = 8192;

/// AdamW hyper-parameters.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdamWConfig {
    /// Learning rate η.
    pub lr: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    /// Decoupled weight decay λ (0 for biases and norms).
    pub weight_decay: f64,
}

impl Default for AdamWConfig {
    fn default() -> Self {
        Self { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weight_decay: 0.01 }
    }
}

/// Step `t` (1-based) of AdamW, in PyTorch's order of operations so results match it bit for bit
/// as far as rounding allows:
/// `θ ← θ·(1 − η·λ)`; `m ← β₁·m + (1 − β₁)·g`; `v ← β₂·v + (1 − β₂)·g²`;
/// `θ ← θ − (η / (1 − β₁ᵗ)) · m / (√v / √(1 − β₂ᵗ) + ε)`.
pub fn adamw_step<T: Float>(param: &mut [T], grad: &[T], m: &mut [T], v: &mut [T], cfg: &AdamWConfig, t: u64) {
    let bias1 = 1.0 - cfg.beta1.powi(t as i32);
    let bias2 = 1.0 - cfg.beta2.powi(t as i32);
    let decay = T::from_f64(1.0 - cfg.lr * cfg.weight_decay);
    let (b1, b2) = (T::from_f64(cfg.beta1), T::from_f64(cfg.beta2));
    let step_size = T::from_f64(cfg.lr / bias1);
    let sqrt_bias2 = T::from_f64(bias2.sqrt());
    let eps = T::from_f64(cfg.eps);
    param
        .par_chunks_mut(CHUNK)
        .zip(grad.par_chunks(CHUNK))
        .zip(m.par_chunks_mut(CHUNK).zip(v.par_chunks_mut(CHUNK)))
        .for_each(|((p, g), (m, v))| {
            widest(
                #[inline(always)]
                || {
                    for (((p, &g), m), v) in p.iter_mut().zip(g).zip(m).zip(v) {
                        *p *= decay;
                        *m = b1 * *m + (T::ONE - b1) * g;
                        *v = b2 * *v + (T::ONE - b2) * g * g;
                        *p -= step_size * *m / (v.sqrt() / sqrt_bias2 + eps);
                    }
                },
            )
        });
}

/// The reference for [`adamw_step`]: the same update, element by element, in f64 — what the tests
/// and `emergent bench kernels` compare the kernel against.
pub fn adamw_step_naive(param: &mut [f64], grad: &[f64], m: &mut [f64], v: &mut [f64], cfg: &AdamWConfig, t: u64) {
    let (b1, b2) = (1.0 - cfg.beta1.powi(t as i32), 1.0 - cfg.beta2.powi(t as i32));
    for i in 0..param.len() {
        param[i] *= 1.0 - cfg.lr * cfg.weight_decay;
        m[i] = cfg.beta1 * m[i] + (1.0 - cfg.beta1) * grad[i];
        v[i] = cfg.beta2 * v[i] + (1.0 - cfg.beta2) * grad[i] * grad[i];
        param[i] -= cfg.lr / b1 * m[i] / (v[i].sqrt() / b2.sqrt() + cfg.eps);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_step_moves_by_lr_times_sign() {
        // At t = 1, m̂ = g and v̂ = g², so the step is η·g/(|g| + ε) ≈ η·sign(g).
        let cfg = AdamWConfig { lr: 0.1, weight_decay: 0.0, ..Default::default() };
        let (mut p, mut m, mut v) = ([1.0f64, 1.0], [0.0; 2], [0.0; 2]);
        adamw_step(&mut p, &[3.0, -0.5], &mut m, &mut v, &cfg, 1);
        assert!((p[0] - 0.9).abs() < 1e-8 && (p[1] - 1.1).abs() < 1e-7);
    }

    #[test]
    fn weight_decay_is_decoupled() {
        // Zero gradient: only the decay acts, θ ← θ·(1 − ηλ).
        let cfg = AdamWConfig { lr: 0.1, weight_decay: 0.5, ..Default::default() };
        let (mut p, mut m, mut v) = ([2.0f64], [0.0], [0.0]);
        adamw_step(&mut p, &[0.0], &mut m, &mut v, &cfg, 1);
        assert!((p[0] - 1.9).abs() < 1e-15);
    }

    /// Over several parallel chunks with a partial last one, three steps against the update as
    /// a loop in f64.
    #[test]
    fn every_chunk_matches_the_update_as_a_loop() {
        let n = 2 * CHUNK + 5;
        let cfg = AdamWConfig { lr: 0.01, weight_decay: 0.1, ..Default::default() };
        let mut p: Vec<f64> = (0..n).map(|i| ((i % 97) as f64 - 48.0) / 10.0).collect();
        let (mut m, mut v) = (vec![0.0; n], vec![0.0; n]);
        let (mut want_p, mut want_m, mut want_v) = (p.clone(), vec![0.0; n], vec![0.0; n]);
        for t in 1..=3u64 {
            let g: Vec<f64> = (0..n).map(|i| ((i * 31 + t as usize * 7) % 53) as f64 / 26.5 - 1.0).collect();
            adamw_step(&mut p, &g, &mut m, &mut v, &cfg, t);
            adamw_step_naive(&mut want_p, &g, &mut want_m, &mut want_v, &cfg, t);
        }
        let worst = p
            .iter()
            .zip(&want_p)
            .chain(m.iter().zip(&want_m))
            .chain(v.iter().zip(&want_v))
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max);
        assert!(worst < 1e-12, "off by {worst}");
    }
}
