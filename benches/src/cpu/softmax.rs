//! `y = softmax(x)` over the last axis of `R × C` rows.

use super::{uniform, Buffers, CpuKernel, Variant, Work};
use kernels::softmax::{softmax_rows, softmax_rows_naive};

pub struct Softmax;

impl CpuKernel for Softmax {
    fn name(&self) -> &'static str {
        "softmax"
    }
    fn dims(&self) -> &'static [&'static str] {
        &["R", "C"]
    }
    /// The baby GPT's attention probabilities on the composed path (8 × 6 heads × 256 queries of 256
    /// keys) and its next-character distributions (2048 rows of 65).
    fn default_shapes(&self) -> Vec<Vec<usize>> {
        vec![vec![12288, 256], vec![2048, 65]]
    }
    /// Per element: the max, the shifted exponential (counted as one), the sum, the division.
    fn work(&self, s: &[usize]) -> Work {
        let n = (s[0] * s[1]) as f64;
        Work { flops: 5.0 * n, bytes: 8.0 * n }
    }
    fn buffers(&self, s: &[usize], rng: &mut rand::rngs::StdRng) -> Buffers {
        let scores = uniform(rng, s[0] * s[1]).iter().map(|v| 8.0 * v).collect();
        Buffers { inputs: vec![scores], out: vec![0.0; s[0] * s[1]] }
    }
    fn reference(&self, s: &[usize], b: &Buffers) -> Vec<f64> {
        softmax_rows_naive(&b.inputs[0].iter().map(|&v| v as f64).collect::<Vec<_>>(), s[1])
    }
    fn variants(&self) -> &'static [Variant] {
        &[Variant { name: "fused", run: |s, b| softmax_rows(&b.inputs[0], &mut b.out, s[1]) }]
    }
    fn tolerance(&self) -> f64 {
        1e-6
    }
}
