//! `y = gelu(x)` elementwise, GPT-2's tanh form.

use super::{uniform, Buffers, CpuKernel, Variant, Work};
use kernels::gelu::{gelu, gelu_naive, GeluApproximation};

pub struct Gelu;

impl CpuKernel for Gelu {
    fn name(&self) -> &'static str {
        "gelu"
    }
    fn dims(&self) -> &'static [&'static str] {
        &["N"]
    }
    /// The baby GPT's MLP activations: 2048 tokens × 1536.
    fn default_shapes(&self) -> Vec<Vec<usize>> {
        vec![vec![2048 * 1536]]
    }
    /// Per element: `u = √(2/π)(x + 0.044715x³)` (4), `σ(2u)` (exp counted as one, 3), `x·σ` (1).
    fn work(&self, s: &[usize]) -> Work {
        Work { flops: 8.0 * s[0] as f64, bytes: 8.0 * s[0] as f64 }
    }
    fn buffers(&self, s: &[usize], rng: &mut rand::rngs::StdRng) -> Buffers {
        Buffers { inputs: vec![uniform(rng, s[0]).iter().map(|v| 4.0 * v).collect()], out: vec![0.0; s[0]] }
    }
    fn reference(&self, _: &[usize], b: &Buffers) -> Vec<f64> {
        gelu_naive(&b.inputs[0].iter().map(|&v| v as f64).collect::<Vec<_>>(), GeluApproximation::Tanh)
    }
    fn variants(&self) -> &'static [Variant] {
        &[Variant { name: "fused", run: |_, b| gelu(&b.inputs[0], &mut b.out, GeluApproximation::Tanh) }]
    }
    fn tolerance(&self) -> f64 {
        1e-6
    }
}
