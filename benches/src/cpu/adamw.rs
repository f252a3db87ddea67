//! One AdamW step on `N` parameters, in place (the result is the updated parameters).

use super::{uniform, Buffers, CpuKernel, Variant, Work};
use kernels::adamw::{adamw_step, adamw_step_naive, AdamWConfig};

pub struct AdamW;

const CONFIG: AdamWConfig = AdamWConfig { lr: 1e-3, beta1: 0.9, beta2: 0.95, eps: 1e-8, weight_decay: 0.1 };

impl CpuKernel for AdamW {
    fn name(&self) -> &'static str {
        "adamw"
    }
    fn dims(&self) -> &'static [&'static str] {
        &["N"]
    }
    /// The baby GPT's 10.77M parameters.
    fn default_shapes(&self) -> Vec<Vec<usize>> {
        vec![vec![10_770_816]]
    }
    /// Per parameter: decay (1), two moment updates (3 + 4), the bias-corrected step (6).
    fn work(&self, s: &[usize]) -> Work {
        let n = s[0] as f64;
        Work { flops: 14.0 * n, bytes: 28.0 * n } // reads θ, g, m, v; writes θ, m, v
    }
    /// Inputs: θ, g, m, v (the moments of earlier steps: m small, v positive).
    fn buffers(&self, s: &[usize], rng: &mut rand::rngs::StdRng) -> Buffers {
        let n = s[0];
        let m = uniform(rng, n).iter().map(|v| 0.01 * v).collect();
        let v = uniform(rng, n).iter().map(|v| 1e-4 * v * v).collect();
        Buffers { inputs: vec![uniform(rng, n), uniform(rng, n), m, v], out: Vec::new() }
    }
    fn reference(&self, _: &[usize], b: &Buffers) -> Vec<f64> {
        let mut f64s = b.inputs.iter().map(|v| v.iter().map(|&x| x as f64).collect::<Vec<_>>());
        let (mut p, g, mut m, mut v) =
            (f64s.next().unwrap(), f64s.next().unwrap(), f64s.next().unwrap(), f64s.next().unwrap());
        adamw_step_naive(&mut p, &g, &mut m, &mut v, &CONFIG, 10);
        p
    }
    fn result<'a>(&self, b: &'a Buffers) -> &'a [f32] {
        &b.inputs[0]
    }
    fn variants(&self) -> &'static [Variant] {
        &[Variant {
            name: "fused",
            run: |_, b| {
                let [p, g, m, v] = &mut b.inputs[..] else { unreachable!("four inputs") };
                adamw_step(p, g, m, v, &CONFIG, 10);
            },
        }]
    }
    fn tolerance(&self) -> f64 {
        1e-6
    }
}
