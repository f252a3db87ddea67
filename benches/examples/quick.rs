use kernels::cpu::gemm::{gemm, MatRef};
fn main() {
    for threads in [1, 2] {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        for n in [256, 512, 1024, 2048] {
            let a = vec![1.0f32; n * n];
            let b = vec![0.5f32; n * n];
            let mut c = vec![0f32; n * n];
            let reps = (4_000_000_000usize / (2 * n * n * n)).clamp(3, 200);
            let mut best = f64::MAX;
            pool.install(|| {
                for _ in 0..reps {
                    let t = std::time::Instant::now();
                    gemm(MatRef::row_major(&a, n, n), MatRef::row_major(&b, n, n), &mut c, n, false);
                    best = best.min(t.elapsed().as_secs_f64());
                }
            });
            println!("threads {threads} n {n}: {:.1} GFLOP/s", 2.0 * (n * n * n) as f64 / best / 1e9);
        }
    }
}
