//! The GPU kernel benchmark: every version of each hot kernel, checked against a reference first,
//! then timed with CUDA events (warm-up, median of many runs) beside cuBLAS and the measured
//! device-to-device copy bandwidth.

use kernels::cuda::cudarc::{self, driver::sys::CUevent_flags, driver::CudaSlice};
use kernels::cuda::{CudaError, Gpu};

pub(crate) use crate::values as random;

mod attention;
mod gemm;
mod memory_bound;
mod table;
mod targets;

pub use attention::bench_attention;
pub use gemm::{bench_gemm, bench_wgmma};
pub use memory_bound::{bench_cross_entropy, bench_layer_norm, bench_softmax, bench_softmax_clusters};
pub use table::run;
pub use targets::against_targets;

/// What a family's fastest version should reach, in percent of its reference: a tensor-core GEMM of
/// cuBLAS's speed, a memory-bound kernel of the device-to-device copy bandwidth.
pub const TARGET_PERCENT: f64 = 70.0;

/// The kernels a row is compared with: its family, whose reference it is measured against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// The f32 GEMMs against cuBLAS's sgemm; versions for study, with no target.
    F32Gemm,
    /// The tensor-core GEMMs (WMMA, wgmma) against cuBLAS in bf16.
    TensorCoreGemm,
    /// A memory-bound kernel (its name) against the copy bandwidth.
    MemoryBound(&'static str),
    /// The fused attention versions against the row-per-thread one (a speed-up; no target).
    Attention,
}

impl Family {
    /// The percent of the reference its fastest version should reach, if it has a target.
    pub fn target_percent(self) -> Option<f64> {
        match self {
            Family::TensorCoreGemm | Family::MemoryBound(_) => Some(TARGET_PERCENT),
            Family::F32Gemm | Family::Attention => None,
        }
    }

    /// The largest error a correct version shows against the reference: bf16 operands against
    /// cuBLAS's own bf16 product, else f32 computed in another order.
    pub fn tolerance(self) -> f64 {
        match self {
            Family::TensorCoreGemm => 1e-2,
            Family::Attention => 3e-2,
            Family::F32Gemm | Family::MemoryBound(_) => 1e-4,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Family::F32Gemm => "f32 GEMM",
            Family::TensorCoreGemm => "tensor-core GEMM",
            Family::MemoryBound(name) => name,
            Family::Attention => "attention",
        }
    }

    /// What `percent_of_reference` is a percentage of.
    pub fn reference(self) -> &'static str {
        match self {
            Family::F32Gemm | Family::TensorCoreGemm => "cuBLAS",
            Family::MemoryBound(_) => "the copy bandwidth",
            Family::Attention => "the row-per-thread version",
        }
    }
}

/// One line of the table.
#[derive(Debug, Clone, PartialEq)]
pub struct BenchRow {
    pub kernel: String,
    pub family: Family,
    /// The reference itself (cuBLAS, the copy, the first attention version).
    pub is_reference: bool,
    pub shape: String,
    pub median_ms: f64,
    /// TFLOP/s for GEMMs, GB/s for memory-bound kernels.
    pub throughput: f64,
    pub unit: &'static str,
    /// Of cuBLAS's time (GEMMs) or of the copy bandwidth (memory-bound kernels), in percent.
    pub percent_of_reference: f64,
    /// Largest difference from the reference output, relative to its largest magnitude.
    pub max_rel_err: f64,
}

fn driver(what: &str, e: impl std::fmt::Debug) -> CudaError {
    CudaError::Driver(format!("{what}: {e:?}"))
}

/// Median milliseconds of `run` over `iters` runs after `warmup` untimed ones, each bracketed by
/// CUDA events on the GPU's stream.
pub fn time_ms(
    gpu: &Gpu,
    warmup: usize,
    iters: usize,
    mut run: impl FnMut() -> Result<(), CudaError>,
) -> Result<f64, CudaError> {
    for _ in 0..warmup {
        run()?;
    }
    let flags = Some(CUevent_flags::CU_EVENT_DEFAULT);
    let mut times = Vec::with_capacity(iters);
    for _ in 0..iters.max(1) {
        let start = gpu.ctx.new_event(flags).map_err(|e| driver("creating an event", e))?;
        let end = gpu.ctx.new_event(flags).map_err(|e| driver("creating an event", e))?;
        start.record(&gpu.stream).map_err(|e| driver("recording", e))?;
        run()?;
        end.record(&gpu.stream).map_err(|e| driver("recording", e))?;
        times.push(start.elapsed_ms(&end).map_err(|e| driver("timing", e))? as f64);
    }
    times.sort_by(f64::total_cmp);
    Ok(times[times.len() / 2])
}

/// max |a − b| / max |b|: the largest difference relative to the reference's largest magnitude, so
/// outputs whose elements are all small (probabilities, a vocabulary's gradient) are held to it too.
fn max_rel_err(a: &[f32], b: &[f32]) -> f64 {
    let scale = b.iter().fold(0.0f32, |m, y| m.max(y.abs())).max(f32::MIN_POSITIVE);
    a.iter().zip(b).map(|(x, y)| ((x - y).abs() / scale) as f64).max_by(f64::total_cmp).unwrap_or(0.0)
}

fn upload<T: cudarc::driver::DeviceRepr>(gpu: &Gpu, v: &[T]) -> Result<CudaSlice<T>, CudaError> {
    gpu.stream.clone_htod(v).map_err(|e| driver("copying to the device", e))
}

fn download(gpu: &Gpu, v: &CudaSlice<f32>) -> Result<Vec<f32>, CudaError> {
    gpu.stream.clone_dtoh(v).map_err(|e| driver("copying to the host", e))
}

fn zeros<T: cudarc::driver::DeviceRepr + cudarc::driver::ValidAsZeroBits>(
    gpu: &Gpu,
    n: usize,
) -> Result<CudaSlice<T>, CudaError> {
    gpu.stream.alloc_zeros(n).map_err(|e| driver("allocating", e))
}
