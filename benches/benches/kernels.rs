//! Criterion benchmarks of every CPU kernel `emergent bench kernels` knows, at the shapes of the
//! baby GPT's training step, each variant checked against the naive reference first (a variant
//! that disagrees panics rather than be timed). Criterion's "Gelem/s" reads as GFLOP/s.
//! `cargo bench -p kernel-bench --bench kernels [-- FILTER]`.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use kernel_bench::cpu::{measure, Ceiling, KERNELS};
use rand::SeedableRng;
use std::time::Duration;

fn kernel_benches(c: &mut Criterion) {
    // The harness's check, with placeholder ceilings (criterion reports its own throughput).
    let ceiling = Ceiling { threads: 0, fma_gflops: 1.0, fma: "unmeasured", stream_gbps: 1.0 };
    for kernel in KERNELS {
        let mut group = c.benchmark_group(kernel.name());
        group.sample_size(10).warm_up_time(Duration::from_millis(300)).measurement_time(Duration::from_secs(1));
        for shape in kernel.default_shapes() {
            for m in measure(*kernel, &shape, 1, &ceiling, None).expect("a shape that fits") {
                assert!(
                    m.passed,
                    "{} {} at {shape:?} disagrees with the reference: {:.1e}",
                    m.kernel, m.variant, m.max_error
                );
            }
            group.throughput(Throughput::Elements(kernel.work(&shape).flops as u64));
            let name = shape.iter().map(usize::to_string).collect::<Vec<_>>().join("x");
            for variant in kernel.variants() {
                let mut buffers = kernel.buffers(&shape, &mut rand::rngs::StdRng::seed_from_u64(7));
                group.bench_function(BenchmarkId::new(variant.name, &name), |b| {
                    b.iter(|| (variant.run)(&shape, &mut buffers))
                });
            }
        }
        group.finish();
    }
}

criterion_group!(benches, kernel_benches);
criterion_main!(benches);
