//! SGEMM throughput on the products of one training step of `emergent bench train --preset baby`
//! (GPT, 384 wide, 2048 tokens a step): each linear layer's forward `y = x·W`, its input gradient
//! `dx = dy·Wᵀ` and its weight gradient `dW = xᵀ·dy`, transposed operands read in place as the
//! tensor layer passes them; each in f32 (`gemm`) and in mixed precision (`gemm_bf16`: bf16
//! operands, f32 sums, AVX512_BF16 where the CPU has it), one right after the other. Criterion's
//! "Gelem/s" reads as GFLOP/s.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use kernel_bench::{thread_counts, values};
use kernels::gemm::{gemm, gemm_bf16, MatRef};
use std::time::Duration;

/// Tokens a step, and each linear layer's (name, inputs, outputs).
const TOKENS: usize = 2048;
const LINEARS: [(&str, usize, usize); 4] =
    [("qkv", 384, 1152), ("proj", 384, 384), ("fc", 384, 1536), ("fc_proj", 1536, 384)];

fn gemm_shape_benches(c: &mut Criterion) {
    for threads in thread_counts() {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().expect("rayon pool");
        let mut group = c.benchmark_group(format!("training_shapes/{threads}t"));
        group.sample_size(10).warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(2));
        for (name, inputs, outputs) in LINEARS {
            let (x, w, dy) = (values(TOKENS * inputs, 1), values(inputs * outputs, 2), values(TOKENS * outputs, 3));
            let mut out = vec![0f32; TOKENS.max(inputs) * outputs.max(inputs)];
            group.throughput(Throughput::Elements(2 * (TOKENS * inputs * outputs) as u64));
            let x_m = MatRef::row_major(&x, TOKENS, inputs);
            let w_m = MatRef::row_major(&w, inputs, outputs);
            let dy_m = MatRef::row_major(&dy, TOKENS, outputs);
            let products = [
                ("forward", x_m, w_m, false),
                ("input grad", dy_m, w_m.t(), false),
                ("weight grad", x_m.t(), dy_m, true),
            ];
            for (pass, a, b, accumulate) in products {
                let shape = format!("{}x{}x{}", a.rows, a.cols, b.cols);
                let id = BenchmarkId::new(format!("{name} {pass}"), &shape);
                group.bench_function(id, |bench| {
                    pool.install(|| bench.iter(|| gemm(a, b, &mut out, b.cols, accumulate)))
                });
                let id = BenchmarkId::new(format!("{name} {pass} bf16"), &shape);
                group.bench_function(id, |bench| {
                    pool.install(|| bench.iter(|| gemm_bf16(a, b, &mut out, b.cols, accumulate)))
                });
            }
        }
        group.finish();
    }
}

criterion_group!(benches, gemm_shape_benches);
criterion_main!(benches);
