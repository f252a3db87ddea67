//! `y = (x − μ)/√(σ² + ε) ⊙ γ + β` over the last axis of `R × C` rows (forward, caching μ and 1/σ).

use super::{uniform, Buffers, CpuKernel, Variant, Work};
use kernels::layer_norm::{layer_norm_naive, layer_norm_rows};

pub struct LayerNorm;

const EPS: f32 = 1e-5;

impl CpuKernel for LayerNorm {
    fn name(&self) -> &'static str {
        "layer-norm"
    }
    fn dims(&self) -> &'static [&'static str] {
        &["R", "C"]
    }
    /// The baby GPT's 2048 tokens of width 384.
    fn default_shapes(&self) -> Vec<Vec<usize>> {
        vec![vec![2048, 384]]
    }
    /// Per element: the mean's add, the variance's subtract, square and add, then normalise
    /// (subtract, multiply) and scale and shift (multiply, add).
    fn work(&self, s: &[usize]) -> Work {
        let (r, c) = (s[0] as f64, s[1] as f64);
        Work { flops: 8.0 * r * c, bytes: 4.0 * (2.0 * r * c + 2.0 * c + 2.0 * r) }
    }
    /// Inputs: x, γ, β, and the μ and 1/σ each row caches.
    fn buffers(&self, s: &[usize], rng: &mut rand::rngs::StdRng) -> Buffers {
        let (r, c) = (s[0], s[1]);
        let gamma = uniform(rng, c).iter().map(|v| 1.0 + 0.5 * v).collect();
        let inputs = vec![uniform(rng, r * c), gamma, uniform(rng, c), vec![0.0; r], vec![0.0; r]];
        Buffers { inputs, out: vec![0.0; r * c] }
    }
    fn reference(&self, s: &[usize], b: &Buffers) -> Vec<f64> {
        let f64s = |v: &[f32]| v.iter().map(|&v| v as f64).collect::<Vec<_>>();
        let (x, gamma, beta) = (f64s(&b.inputs[0]), f64s(&b.inputs[1]), f64s(&b.inputs[2]));
        let [y, ..] = layer_norm_naive(&x, &gamma, &beta, &vec![0.0; s[0] * s[1]], EPS as f64);
        y
    }
    fn variants(&self) -> &'static [Variant] {
        &[Variant {
            name: "fused",
            run: |s, b| {
                let [x, gamma, beta, mean, rstd] = &mut b.inputs[..] else { unreachable!("five inputs") };
                layer_norm_rows(x, gamma, beta, EPS, &mut b.out, mean, rstd, s[1]);
            },
        }]
    }
}
