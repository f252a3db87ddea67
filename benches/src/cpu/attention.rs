//! Causal scaled dot-product attention, forward: `O = softmax(Q·Kᵀ/√D + M)·V` for `N` heads of `T`
//! queries and keys of width `D` (dense buffers), the probabilities kept for the backward; its two
//! products in f32 (`attention`) or with bf16 operands and f32 sums (`attention_bf16`, what
//! `--precision bf16` runs).

use super::{uniform, Buffers, CpuKernel, Variant, Work};
use kernels::attention::{attention_forward, attention_forward_naive, AttentionDims, HeadLayout, Heads, HeadsMut};
use kernels::gemm::{bf16_microkernels, GemmScalar, MicroKernelSpec};

pub struct Attention {
    pub bf16: bool,
}

fn dims(s: &[usize]) -> AttentionDims {
    AttentionDims { batch: s[0], queries: s[1], keys: s[1], head_dim: s[2], value_dim: s[2], causal: true }
}

fn scale(s: &[usize]) -> f32 {
    1.0 / (s[2] as f32).sqrt()
}

impl CpuKernel for Attention {
    fn name(&self) -> &'static str {
        if self.bf16 {
            "attention_bf16"
        } else {
            "attention"
        }
    }
    fn dims(&self) -> &'static [&'static str] {
        &["N", "T", "D"]
    }
    /// The baby GPT's 8 sequences × 6 heads of 256 tokens, heads of width 64.
    fn default_shapes(&self) -> Vec<Vec<usize>> {
        vec![vec![48, 256, 64]]
    }
    /// The multiply-adds the definition needs for the keys each query sees (`(i + 1)·D` for the
    /// scores of query `i`, as many for the weighted sum); Q, K, V read, O and P written.
    fn work(&self, s: &[usize]) -> Work {
        let (n, t, d) = (s[0] as f64, s[1] as f64, s[2] as f64);
        Work { flops: 2.0 * n * d * t * (t + 1.0), bytes: 4.0 * n * t * (4.0 * d + t) }
    }
    /// Inputs Q, K, V and the probabilities `P (N, T, T)`; the output O.
    fn buffers(&self, s: &[usize], rng: &mut rand::rngs::StdRng) -> Buffers {
        let (n, t, d) = (s[0], s[1], s[2]);
        let inputs =
            vec![uniform(rng, n * t * d), uniform(rng, n * t * d), uniform(rng, n * t * d), vec![0.0; n * t * t]];
        Buffers { inputs, out: vec![0.0; n * t * d] }
    }
    fn reference(&self, s: &[usize], b: &Buffers) -> Vec<f64> {
        let f64s = |v: &[f32]| v.iter().map(|&x| x as f64).collect::<Vec<_>>();
        let (q, k, v) = (f64s(&b.inputs[0]), f64s(&b.inputs[1]), f64s(&b.inputs[2]));
        attention_forward_naive(&dims(s), scale(s) as f64, &q, &k, &v).0
    }
    fn variants(&self) -> &'static [Variant] {
        if self.bf16 {
            return &[Variant { name: "fused, bf16 products", run: |s, b| run(bf16_microkernels()[0], s, b) }];
        }
        &[Variant { name: "fused", run: |s, b| run(f32::best_microkernel(), s, b) }]
    }
    /// bf16 products against the exact attention: operands rounded to 8 significant bits move
    /// scores and outputs by about 2⁻⁸ of their magnitude (the kernel's tests state the bound).
    fn tolerance(&self) -> f64 {
        if self.bf16 {
            2e-2
        } else {
            1e-4
        }
    }
}

/// The forward on micro-kernel `spec`.
fn run(spec: MicroKernelSpec<f32>, s: &[usize], b: &mut Buffers) {
    let [q, k, v, p] = &mut b.inputs[..] else { unreachable!("four buffers") };
    let layout = HeadLayout::dense(s[1], s[2]);
    let [q, k, v] = [q, k, v].map(|data| Heads { data: &data[..], layout });
    let out = HeadsMut { data: &mut b.out, layout };
    attention_forward(spec, &dims(s), scale(s), [q, k, v], out, p);
}
