//! `y ← a·x + y` on `N` elements: the worked example of adding a kernel to the bench (README,
//! "Benchmark a kernel"): this file and one line in `KERNELS`.

use super::{uniform, Buffers, CpuKernel, Variant, Work};
use kernels::cpu::elementwise::update;

pub struct Axpy;

const A: f32 = 0.5;

impl CpuKernel for Axpy {
    fn name(&self) -> &'static str {
        "axpy"
    }
    fn dims(&self) -> &'static [&'static str] {
        &["N"]
    }
    fn default_shapes(&self) -> Vec<Vec<usize>> {
        vec![vec![1 << 24]]
    }
    /// A multiply and an add per element; x read, y read and written.
    fn work(&self, s: &[usize]) -> Work {
        Work { flops: 2.0 * s[0] as f64, bytes: 12.0 * s[0] as f64 }
    }
    /// Input x; the output y starts as other values.
    fn buffers(&self, s: &[usize], rng: &mut rand::rngs::StdRng) -> Buffers {
        Buffers { inputs: vec![uniform(rng, s[0])], out: uniform(rng, s[0]) }
    }
    fn reference(&self, _: &[usize], b: &Buffers) -> Vec<f64> {
        b.inputs[0].iter().zip(&b.out).map(|(&x, &y)| A as f64 * x as f64 + y as f64).collect()
    }
    fn variants(&self) -> &'static [Variant] {
        &[
            Variant { name: "loop", run: |_, b| b.out.iter_mut().zip(&b.inputs[0]).for_each(|(y, &x)| *y += A * x) },
            Variant { name: "rayon", run: |_, b| update(&mut b.out, &b.inputs[0], |y, x| y + A * x) },
        ]
    }
}
