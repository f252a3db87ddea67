//! `C = A·B`, f32, A `M×K` and B `K×N` row-major: the packed GEMM on the rayon pool and on one
//! thread; and in mixed precision (`matmul_bf16`: operands rounded to bf16, f32 sums), checked
//! against the product of the rounded operands.

use super::{uniform, Buffers, CpuKernel, Variant, Work};
use kernels::gemm::{gemm, gemm_bf16, gemm_serial, MatRef};

/// The product in f32, or with `bf16` operands.
pub struct Matmul {
    pub bf16: bool,
}

/// A product's operands at `[M, N, K]`.
fn operands<'a>(shape: &[usize], inputs: &'a [Vec<f32>]) -> (MatRef<'a, f32>, MatRef<'a, f32>) {
    let [m, n, k] = [shape[0], shape[1], shape[2]];
    (MatRef::row_major(&inputs[0], m, k), MatRef::row_major(&inputs[1], k, n))
}

impl CpuKernel for Matmul {
    fn name(&self) -> &'static str {
        if self.bf16 {
            "matmul_bf16"
        } else {
            "matmul"
        }
    }
    fn dims(&self) -> &'static [&'static str] {
        &["M", "N", "K"]
    }
    /// The baby GPT step's distinct products (2048 tokens; linear layers 384→1152, 384→384,
    /// 384→1536, 1536→384): forward `x·W` and input gradient `dy·Wᵀ` (M = 2048), weight gradient
    /// `xᵀ·dy` (K = 2048).
    fn default_shapes(&self) -> Vec<Vec<usize>> {
        let linears = [(384, 1152), (384, 384), (384, 1536), (1536, 384)];
        let mut shapes: Vec<Vec<usize>> = Vec::new();
        for (inputs, outputs) in linears {
            for shape in [vec![2048, outputs, inputs], vec![2048, inputs, outputs], vec![inputs, outputs, 2048]] {
                if !shapes.contains(&shape) {
                    shapes.push(shape);
                }
            }
        }
        shapes
    }
    fn work(&self, s: &[usize]) -> Work {
        let [m, n, k] = [s[0], s[1], s[2]].map(|d| d as f64);
        Work { flops: 2.0 * m * n * k, bytes: 4.0 * (m * k + k * n + m * n) }
    }
    fn buffers(&self, s: &[usize], rng: &mut rand::rngs::StdRng) -> Buffers {
        let [m, n, k] = [s[0], s[1], s[2]];
        Buffers { inputs: vec![uniform(rng, m * k), uniform(rng, k * n)], out: vec![0.0; m * n] }
    }
    /// `C[i][j] = Σ_p A[i][p]·B[p][j]`, in f64 (rows of B walked in order, for speed), of the
    /// operands rounded to bf16 for `matmul_bf16`.
    fn reference(&self, s: &[usize], b: &Buffers) -> Vec<f64> {
        let [m, n, k] = [s[0], s[1], s[2]];
        let value = |x: f32| if self.bf16 { half::bf16::from_f32(x).to_f64() } else { f64::from(x) };
        let b_values: Vec<f64> = b.inputs[1].iter().map(|&x| value(x)).collect();
        let mut c = vec![0f64; m * n];
        for i in 0..m {
            for p in 0..k {
                let a = value(b.inputs[0][i * k + p]);
                for (c, &bv) in c[i * n..(i + 1) * n].iter_mut().zip(&b_values[p * n..(p + 1) * n]) {
                    *c += a * bv;
                }
            }
        }
        c
    }
    fn variants(&self) -> &'static [Variant] {
        if self.bf16 {
            return &[Variant {
                name: "packed bf16",
                run: |s, b| {
                    let (x, y) = operands(s, &b.inputs);
                    gemm_bf16(x, y, &mut b.out, s[1], false);
                },
            }];
        }
        &[
            Variant {
                name: "packed",
                run: |s, b| {
                    let (x, y) = operands(s, &b.inputs);
                    gemm(x, y, &mut b.out, s[1], false);
                },
            },
            Variant {
                name: "packed, 1 thread",
                run: |s, b| {
                    let (x, y) = operands(s, &b.inputs);
                    gemm_serial(x, y, &mut b.out, s[1], false);
                },
            },
        ]
    }
}
