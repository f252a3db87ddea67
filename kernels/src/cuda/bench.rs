//! The kernel benchmark: every version of each hot kernel, checked against a reference first, then
//! timed with CUDA events (warm-up, median of many runs) beside cuBLAS and the measured
//! device-to-device copy bandwidth.

use super::launch::{self, GemmVersion, SoftmaxVersion};
use super::{CudaError, Gpu};
use cudarc::cublas::{sys::cublasOperation_t, CudaBlas, Gemm, GemmConfig};
use cudarc::driver::{sys::CUevent_flags, CudaSlice};
use half::bf16;

/// One line of the table.
#[derive(Debug, Clone, PartialEq)]
pub struct BenchRow {
    pub kernel: String,
    pub shape: String,
    pub median_ms: f64,
    /// TFLOP/s for GEMMs, GB/s for memory-bound kernels.
    pub throughput: f64,
    pub unit: &'static str,
    /// Of cuBLAS's time (GEMMs) or of the copy bandwidth (memory-bound kernels), in percent.
    pub percent_of_reference: f64,
    /// Largest relative difference from the reference output.
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

/// cuBLAS `C = A·B` for row-major matrices: column-major cuBLAS computes `Cᵀ = Bᵀ·Aᵀ`, which has
/// the same memory as row-major `C`.
fn cublas_config<T>(m: usize, n: usize, k: usize, one: T, zero: T) -> GemmConfig<T> {
    GemmConfig {
        transa: cublasOperation_t::CUBLAS_OP_N,
        transb: cublasOperation_t::CUBLAS_OP_N,
        m: n as i32,
        n: m as i32,
        k: k as i32,
        alpha: one,
        lda: n as i32,
        ldb: k as i32,
        beta: zero,
        ldc: n as i32,
    }
}

fn random(n: usize, seed: u64) -> Vec<f32> {
    // A small LCG: the benchmark needs varied values, not statistical quality.
    let mut state = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    (0..n)
        .map(|_| {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((state >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
        .collect()
}

fn max_rel_err(a: &[f32], b: &[f32]) -> f64 {
    a.iter().zip(b).map(|(x, y)| ((x - y).abs() / y.abs().max(1.0)) as f64).fold(0.0, f64::max)
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

/// The GEMM versions at `size³` against cuBLAS (f32 for the f32 kernels, bf16 for tensor cores).
pub fn bench_gemm(gpu: &Gpu, size: usize, iters: usize) -> Result<Vec<BenchRow>, CudaError> {
    let (m, n, k) = (size, size, size);
    // Safety: only tries to open the shared library.
    if !unsafe { cudarc::cublas::sys::is_culib_present() } {
        return Err(CudaError::Driver("cuBLAS (libcublas.so) not found".into()));
    }
    let blas = CudaBlas::new(gpu.stream.clone()).map_err(|e| driver("starting cuBLAS", e))?;
    let (a, b) = (random(m * k, 1), random(k * n, 2));
    let (ad, bd) = (upload(gpu, &a)?, upload(gpu, &b)?);
    let mut reference = zeros::<f32>(gpu, m * n)?;
    let mut cublas_f32 = || -> Result<(), CudaError> {
        // Safety: the buffers hold m·k, k·n and m·n floats, as the config says.
        unsafe { blas.gemm(cublas_config(m, n, k, 1.0f32, 0.0f32), &bd, &ad, &mut reference) }
            .map_err(|e| driver("cuBLAS sgemm", e))
    };
    let cublas_ms = time_ms(gpu, 3, iters, &mut cublas_f32)?;
    let want = download(gpu, &reference)?;
    let flops = 2.0 * (m * n * k) as f64;
    let tflops = |ms: f64| flops / (ms * 1e-3) / 1e12;
    let shape = format!("{m}×{n}×{k}");
    let mut rows = vec![BenchRow {
        kernel: "cuBLAS sgemm (f32)".into(),
        shape: shape.clone(),
        median_ms: cublas_ms,
        throughput: tflops(cublas_ms),
        unit: "TFLOP/s",
        percent_of_reference: 100.0,
        max_rel_err: 0.0,
    }];
    for version in [GemmVersion::Naive, GemmVersion::Tiled, GemmVersion::RegisterBlocked] {
        let mut c = zeros::<f32>(gpu, m * n)?;
        launch::gemm_f32(gpu, version, &ad, &bd, &mut c, (m, n, k))?;
        let err = max_rel_err(&download(gpu, &c)?, &want);
        let iters = if version == GemmVersion::Naive { 3 } else { iters };
        let ms = time_ms(gpu, 1, iters, || launch::gemm_f32(gpu, version, &ad, &bd, &mut c, (m, n, k)))?;
        rows.push(BenchRow {
            kernel: format!("{version:?} (f32)"),
            shape: shape.clone(),
            median_ms: ms,
            throughput: tflops(ms),
            unit: "TFLOP/s",
            percent_of_reference: 100.0 * cublas_ms / ms,
            max_rel_err: err,
        });
    }
    // Tensor cores: our WMMA kernel against cuBLAS in bf16.
    let to_bf16 = |v: &[f32]| v.iter().map(|&x| bf16::from_f32(x)).collect::<Vec<_>>();
    let (ah, bh) = (upload(gpu, &to_bf16(&a))?, upload(gpu, &to_bf16(&b))?);
    let mut c_bf16 = zeros::<bf16>(gpu, m * n)?;
    let (one, zero) = (bf16::ONE, bf16::ZERO);
    let cublas_bf16_ms = time_ms(gpu, 3, iters, || {
        // Safety: as above, in bf16.
        unsafe { blas.gemm(cublas_config(m, n, k, one, zero), &bh, &ah, &mut c_bf16) }
            .map_err(|e| driver("cuBLAS bf16 gemm", e))
    })?;
    let cublas_bf16: Vec<f32> =
        gpu.stream.clone_dtoh(&c_bf16).map_err(|e| driver("copying", e))?.iter().map(|x| x.to_f32()).collect();
    let mut c = zeros::<f32>(gpu, m * n)?;
    launch::gemm_wmma_bf16(gpu, &ah, &bh, &mut c, (m, n, k))?;
    let err = max_rel_err(&download(gpu, &c)?, &cublas_bf16);
    let ms = time_ms(gpu, 3, iters, || launch::gemm_wmma_bf16(gpu, &ah, &bh, &mut c, (m, n, k)))?;
    rows.push(BenchRow {
        kernel: "cuBLAS gemm (bf16)".into(),
        shape: shape.clone(),
        median_ms: cublas_bf16_ms,
        throughput: tflops(cublas_bf16_ms),
        unit: "TFLOP/s",
        percent_of_reference: 100.0,
        max_rel_err: 0.0,
    });
    rows.push(BenchRow {
        kernel: "WMMA tensor cores (bf16 in, f32 acc)".into(),
        shape,
        median_ms: ms,
        throughput: tflops(ms),
        unit: "TFLOP/s",
        percent_of_reference: 100.0 * cublas_bf16_ms / ms,
        max_rel_err: err,
    });
    Ok(rows)
}

/// The softmax versions on `(rows, cols)` against the device-to-device copy bandwidth: each reads
/// and writes the matrix once (the thread-per-row version reads it three times).
pub fn bench_softmax(gpu: &Gpu, rows: usize, cols: usize, iters: usize) -> Result<Vec<BenchRow>, CudaError> {
    let x = random(rows * cols, 3);
    let xd = upload(gpu, &x)?;
    let mut copy = zeros::<f32>(gpu, rows * cols)?;
    let copy_ms = time_ms(gpu, 3, iters, || gpu.stream.memcpy_dtod(&xd, &mut copy).map_err(|e| driver("copying", e)))?;
    let bytes = 2.0 * (rows * cols * 4) as f64;
    let gbps = |ms: f64| bytes / (ms * 1e-3) / 1e9;
    let shape = format!("{rows}×{cols}");
    let mut want = None;
    let mut out = vec![BenchRow {
        kernel: "device-to-device copy".into(),
        shape: shape.clone(),
        median_ms: copy_ms,
        throughput: gbps(copy_ms),
        unit: "GB/s",
        percent_of_reference: 100.0,
        max_rel_err: 0.0,
    }];
    // The block-per-row result is the reference for the others (it is checked against the CPU in
    // the GPU tests).
    for version in [SoftmaxVersion::BlockPerRow, SoftmaxVersion::WarpPerRow, SoftmaxVersion::ThreadPerRow] {
        let mut y = zeros::<f32>(gpu, rows * cols)?;
        launch::softmax(gpu, version, &xd, &mut y, rows, cols)?;
        let got = download(gpu, &y)?;
        let err = want.as_ref().map_or(0.0, |w: &Vec<f32>| max_rel_err(&got, w));
        want.get_or_insert(got);
        let ms = time_ms(gpu, 3, iters, || launch::softmax(gpu, version, &xd, &mut y, rows, cols))?;
        out.push(BenchRow {
            kernel: format!("softmax {version:?}"),
            shape: shape.clone(),
            median_ms: ms,
            throughput: gbps(ms),
            unit: "GB/s",
            percent_of_reference: 100.0 * copy_ms / ms,
            max_rel_err: err,
        });
    }
    Ok(out)
}
