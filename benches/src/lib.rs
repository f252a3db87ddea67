//! Helpers shared by the criterion benchmarks in `benches/benches/`.

use kernels::cpu::gemm::MatRef;

/// `n` deterministic pseudo-random values in [-1, 1), as the kernel benchmark draws its inputs.
pub use kernels::cuda::bench::random as values;

/// An `n × n` matrix of [`values`].
pub fn matrix(n: usize, seed: u64) -> Vec<f32> {
    values(n * n, seed)
}

/// A square row-major view.
pub fn square(data: &[f32], n: usize) -> MatRef<'_, f32> {
    MatRef::row_major(data, n, n)
}

/// Thread counts to benchmark, from `GEMM_THREADS` (comma-separated; default `1,2`).
pub fn thread_counts() -> Vec<usize> {
    std::env::var("GEMM_THREADS")
        .ok()
        .map(|s| s.split(',').filter_map(|t| t.trim().parse().ok()).collect())
        .filter(|v: &Vec<usize>| !v.is_empty())
        .unwrap_or_else(|| vec![1, 2])
}
