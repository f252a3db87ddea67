//! `lossᵢ = log Σⱼ e^(xᵢⱼ) − xᵢ,tᵢ` for `R` rows of `C` logits (forward, fused: no softmax stored).

use super::{uniform, Buffers, CpuKernel, Variant, Work};
use kernels::cross_entropy::{cross_entropy_forward, cross_entropy_naive};
use rand::Rng;

pub struct CrossEntropy;

/// The targets, stored as f32 among the inputs (exact below 2²⁴ classes).
fn targets(b: &Buffers) -> Vec<Option<usize>> {
    b.inputs[1].iter().map(|&t| Some(t as usize)).collect()
}

impl CpuKernel for CrossEntropy {
    fn name(&self) -> &'static str {
        "cross-entropy"
    }
    fn dims(&self) -> &'static [&'static str] {
        &["R", "C"]
    }
    /// The baby GPT's 2048 tokens over 65 characters, and GPT-2's vocabulary (50257) for 256 tokens.
    fn default_shapes(&self) -> Vec<Vec<usize>> {
        vec![vec![2048, 65], vec![256, 50257]]
    }
    /// Per logit: the max, the shifted exponential (counted as one) and the sum.
    fn work(&self, s: &[usize]) -> Work {
        let (r, c) = (s[0] as f64, s[1] as f64);
        Work { flops: 4.0 * r * c, bytes: 4.0 * (r * c + 2.0 * r) }
    }
    fn buffers(&self, s: &[usize], rng: &mut rand::rngs::StdRng) -> Buffers {
        let logits = uniform(rng, s[0] * s[1]).iter().map(|v| 6.0 * v).collect();
        let targets = (0..s[0]).map(|_| rng.random_range(0..s[1]) as f32).collect();
        Buffers { inputs: vec![logits, targets], out: vec![0.0; s[0]] }
    }
    fn reference(&self, s: &[usize], b: &Buffers) -> Vec<f64> {
        cross_entropy_naive(&b.inputs[0].iter().map(|&v| v as f64).collect::<Vec<_>>(), &targets(b), s[1])
    }
    fn variants(&self) -> &'static [Variant] {
        &[Variant { name: "fused", run: |s, b| cross_entropy_forward(&b.inputs[0], &targets(b), s[1], &mut b.out) }]
    }
    fn tolerance(&self) -> f64 {
        1e-5
    }
}
