//! The kernel benchmarks: [`cpu`], each fused CPU kernel checked against its naive reference and
//! timed against this machine's measured ceilings (a user's kernel is one file and one
//! registration line); [`cuda`], every version of each CUDA kernel checked, then timed against
//! cuBLAS and the device's copy bandwidth. `emergent bench kernels` prints them; the criterion
//! benches in `benches/benches/` use the same kernels and inputs.

pub mod cpu;
pub mod cuda;
mod error;

pub use error::{Error, Result};

use kernels::gemm::MatRef;

/// `n` deterministic pseudo-random values in [-1, 1): the benchmarks' inputs (a linear congruential
/// generator: they need reproducible, varied values, not statistical quality).
pub fn values(n: usize, seed: u64) -> Vec<f32> {
    let mut state = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    (0..n)
        .map(|_| {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((state >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
        .collect()
}

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
