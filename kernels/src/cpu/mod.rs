//! CPU kernels: rayon for threads, AVX2+FMA where it pays (GEMM), portable Rust elsewhere.

pub mod adamw;
pub mod cross_entropy;
pub mod embedding;
pub mod gelu;
pub mod gemm;
pub mod layer_norm;
pub mod softmax;

/// Rows per rayon task for row-wise kernels: enough work per task to amortise scheduling.
pub(crate) fn rows_per_task(cols: usize) -> usize {
    (16384 / cols.max(1)).max(1)
}
