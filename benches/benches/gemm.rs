//! SGEMM throughput: the naive loop, our packed GEMM (with its best micro-kernel, and on one thread
//! with each other micro-kernel this CPU has), and the `matrixmultiply` crate, at n = 256…2048 on 1
//! and 2 threads. Throughput is reported in elements/s where one "element" is
//! one floating-point operation (2n³ per product), so criterion's "Gelem/s" reads as GFLOP/s.
//!
//! matrixmultiply reads its thread count once per process from `MATMUL_NUM_THREADS`, so it is
//! benchmarked only at that count (1 when unset); `benches/gemm_report.sh` runs this bench once
//! per thread count and compares everything with numpy/OpenBLAS measured in the same run.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use kernel_bench::{matrix, square, thread_counts};
use kernels::gemm::{gemm, gemm_naive, gemm_with, GemmScalar};
use std::time::Duration;

const SIZES: [usize; 4] = [256, 512, 1024, 2048];
/// The naive loop runs at ~1 GFLOP/s: beyond this size one sample takes many seconds.
const NAIVE_MAX: usize = 512;

fn gemm_benches(c: &mut Criterion) {
    let mm_threads: usize = std::env::var("MATMUL_NUM_THREADS").ok().and_then(|s| s.parse().ok()).unwrap_or(1);
    for threads in thread_counts() {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().expect("rayon pool");
        // The timing loops run inside the pool: handing each call to the pool from outside would
        // add a cross-thread wake-up to every iteration.
        let mut group = c.benchmark_group(format!("sgemm/{threads}t"));
        group.sample_size(10).warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3));
        for n in SIZES {
            let (a, b) = (matrix(n, 1), matrix(n, 2));
            let mut out = vec![0f32; n * n];
            group.throughput(Throughput::Elements(2 * (n as u64).pow(3)));
            group.bench_with_input(BenchmarkId::new("emergent", n), &n, |bench, &n| {
                pool.install(|| bench.iter(|| gemm(square(&a, n), square(&b, n), &mut out, n, false)))
            });
            if threads == mm_threads {
                group.bench_with_input(BenchmarkId::new("matrixmultiply", n), &n, |bench, &n| {
                    bench.iter(|| unsafe {
                        matrixmultiply::sgemm(
                            n,
                            n,
                            n,
                            1.0,
                            a.as_ptr(),
                            n as isize,
                            1,
                            b.as_ptr(),
                            n as isize,
                            1,
                            0.0,
                            out.as_mut_ptr(),
                            n as isize,
                            1,
                        )
                    })
                });
            }
            if threads == 1 {
                // Every micro-kernel this CPU has (the first is the one `gemm` uses).
                for spec in f32::available_microkernels().into_iter().skip(1) {
                    group.bench_with_input(BenchmarkId::new(format!("kernel {}", spec.name), n), &n, |bench, &n| {
                        pool.install(|| {
                            bench.iter(|| gemm_with(spec, square(&a, n), square(&b, n), &mut out, n, false))
                        })
                    });
                }
            }
            if threads == 1 && n <= NAIVE_MAX {
                group.bench_with_input(BenchmarkId::new("naive", n), &n, |bench, &n| {
                    bench.iter(|| gemm_naive(square(&a, n), square(&b, n), &mut out, n, false))
                });
            }
        }
        group.finish();
    }
}

criterion_group!(benches, gemm_benches);
criterion_main!(benches);
