//! The GEMM versions against cuBLAS: f32, WMMA on tensor cores, and Hopper's warpgroup MMA.

use super::{download, driver, max_rel_err, random, time_ms, upload, zeros, BenchRow, Family};
use half::bf16;
use kernels::cuda::cudarc::cublas::{sys::cublasOperation_t, CudaBlas, Gemm, GemmConfig};
use kernels::cuda::cudarc::driver::CudaSlice;
use kernels::cuda::{CudaError, Gpu};
use kernels::gemm::cuda::{gemm_f32, gemm_wgmma_bf16, gemm_wmma_bf16, GemmVersion, WgmmaVersion, WmmaVersion};

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

/// A GEMM's row: `flops` in `ms`, as a share of the reference's `ref_ms`.
fn gemm_row(
    (kernel, family): (String, Family),
    shape: &str,
    (ms, ref_ms): (f64, f64),
    flops: f64,
    max_rel_err: f64,
) -> BenchRow {
    BenchRow {
        kernel,
        family,
        is_reference: false,
        shape: shape.to_string(),
        median_ms: ms,
        throughput: flops / (ms * 1e-3) / 1e12,
        unit: "TFLOP/s",
        percent_of_reference: 100.0 * ref_ms / ms,
        max_rel_err,
    }
}

/// cuBLAS's row: `flops` in `ms`, the reference of `family`.
fn cublas_row(kernel: &str, family: Family, shape: &str, ms: f64, flops: f64) -> BenchRow {
    BenchRow { is_reference: true, ..gemm_row((kernel.into(), family), shape, (ms, ms), flops, 0.0) }
}

/// cuBLAS on the GPU's stream, or an error when its library is missing.
fn cublas(gpu: &Gpu) -> Result<CudaBlas, CudaError> {
    // Safety: only tries to open the shared library.
    if !unsafe { kernels::cuda::cudarc::cublas::sys::is_culib_present() } {
        return Err(CudaError::Driver("cuBLAS (libcublas.so) not found".into()));
    }
    CudaBlas::new(gpu.stream.clone()).map_err(|e| driver("starting cuBLAS", e))
}

/// The benchmark's operands for a `size³` product: `A (m, k)` and `B (k, n)`, random.
fn gemm_operands(size: usize) -> (Vec<f32>, Vec<f32>) {
    (random(size * size, 1), random(size * size, 2))
}

fn to_bf16(v: &[f32]) -> Vec<bf16> {
    v.iter().map(|&x| bf16::from_f32(x)).collect()
}

/// cuBLAS's bf16 `C = A·B` (bf16 C) with `config`, timed, and its result as f32.
fn cublas_bf16(
    gpu: &Gpu,
    blas: &CudaBlas,
    config: GemmConfig<bf16>,
    (a, b): (&CudaSlice<bf16>, &CudaSlice<bf16>),
    (size, iters): (usize, usize),
) -> Result<(f64, Vec<f32>), CudaError> {
    let mut c = zeros::<bf16>(gpu, size * size)?;
    let ms = time_ms(gpu, 3, iters, || {
        // Safety: the operands hold size² bf16 each, read as `config` says; C holds size².
        unsafe { blas.gemm(config, b, a, &mut c) }.map_err(|e| driver("cuBLAS bf16 gemm", e))
    })?;
    let c = gpu.stream.clone_dtoh(&c).map_err(|e| driver("copying", e))?;
    Ok((ms, c.iter().map(|x| x.to_f32()).collect()))
}

/// One row per version of a GEMM, `C (m × n)` written by `run(version, C)`: its output against
/// `want` first, then its time against the reference's `ref_ms` (`warmup` untimed runs).
#[allow(clippy::too_many_arguments)]
fn gemm_versions<V: Copy>(
    gpu: &Gpu,
    versions: &[V],
    (m, n, k): (usize, usize, usize),
    (ref_ms, want): (f64, &[f32]),
    (warmup, iters): (usize, usize),
    (name, family): (impl Fn(V) -> String, Family),
    mut run: impl FnMut(V, &mut CudaSlice<f32>) -> Result<(), CudaError>,
) -> Result<Vec<BenchRow>, CudaError> {
    let (flops, shape) = (2.0 * (m * n * k) as f64, format!("{m}×{n}×{k}"));
    let mut rows = Vec::with_capacity(versions.len());
    for &version in versions {
        let mut c = zeros::<f32>(gpu, m * n)?;
        run(version, &mut c)?;
        let err = max_rel_err(&download(gpu, &c)?, want);
        let ms = time_ms(gpu, warmup, iters, || run(version, &mut c))?;
        rows.push(gemm_row((name(version), family), &shape, (ms, ref_ms), flops, err));
    }
    Ok(rows)
}

/// The GEMM versions at `size³` against cuBLAS (f32 for the f32 kernels, bf16 for tensor cores).
pub fn bench_gemm(gpu: &Gpu, size: usize, iters: usize) -> Result<Vec<BenchRow>, CudaError> {
    let (m, n, k) = (size, size, size);
    let blas = cublas(gpu)?;
    let (a, b) = gemm_operands(size);
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
    let shape = format!("{m}×{n}×{k}");
    let mut rows = vec![cublas_row("cuBLAS sgemm (f32)", Family::F32Gemm, &shape, cublas_ms, flops)];
    // The naive kernel takes seconds at 4096³: three runs of it.
    let dims = (m, n, k);
    let f32_rows = |versions: &[GemmVersion], iters| {
        gemm_versions(
            gpu,
            versions,
            dims,
            (cublas_ms, &want),
            (1, iters),
            (|v| format!("{v:?} (f32)"), Family::F32Gemm),
            |v, c| gemm_f32(gpu, v, &ad, &bd, c, dims),
        )
    };
    rows.extend(f32_rows(&[GemmVersion::Naive], 3)?);
    rows.extend(f32_rows(&[GemmVersion::Tiled, GemmVersion::RegisterBlocked], iters)?);
    // Tensor cores: our WMMA kernels against cuBLAS in bf16.
    let (ah, bh) = (upload(gpu, &to_bf16(&a))?, upload(gpu, &to_bf16(&b))?);
    let config = cublas_config(m, n, k, bf16::ONE, bf16::ZERO);
    let (cublas_ms, want) = cublas_bf16(gpu, &blas, config, (&ah, &bh), (size, iters))?;
    rows.push(cublas_row("cuBLAS gemm (bf16)", Family::TensorCoreGemm, &shape, cublas_ms, flops));
    let name = (|v| format!("WMMA {v:?} (bf16 in, f32 acc)"), Family::TensorCoreGemm);
    rows.extend(gemm_versions(gpu, &WmmaVersion::ALL, dims, (cublas_ms, &want), (3, iters), name, |v, c| {
        gemm_wmma_bf16(gpu, v, &ah, &bh, c, dims)
    })?);
    Ok(rows)
}

/// Hopper's warpgroup-MMA GEMMs (sm_90a) at `size³`, which take B transposed, against cuBLAS on
/// the same operands. Separate from [`bench_gemm`] so a failure here leaves the rest of the table.
pub fn bench_wgmma(gpu: &Gpu, size: usize, iters: usize) -> Result<Vec<BenchRow>, CudaError> {
    let (m, n, k) = (size, size, size);
    let blas = cublas(gpu)?;
    let (a, b) = gemm_operands(size);
    let bt: Vec<f32> = (0..n * k).map(|i| b[i % k * n + i / k]).collect();
    let (ah, bth) = (upload(gpu, &to_bf16(&a))?, upload(gpu, &to_bf16(&bt))?);
    // Bᵀ (n, k) row-major is, to column-major cuBLAS, a k × n matrix read transposed.
    let config = GemmConfig {
        transa: cublasOperation_t::CUBLAS_OP_T,
        lda: k as i32,
        ..cublas_config(m, n, k, bf16::ONE, bf16::ZERO)
    };
    let (cublas_ms, want) = cublas_bf16(gpu, &blas, config, (&ah, &bth), (size, iters))?;
    let (flops, shape) = (2.0 * (m * n * k) as f64, format!("{m}×{n}×{k}"));
    let mut rows =
        vec![cublas_row("cuBLAS gemm (bf16, B transposed)", Family::TensorCoreGemm, &shape, cublas_ms, flops)];
    let name = (|v| format!("wgmma {v:?} (bf16 in, f32 acc, B transposed)"), Family::TensorCoreGemm);
    let dims = (m, n, k);
    rows.extend(gemm_versions(gpu, &WgmmaVersion::ALL, dims, (cublas_ms, &want), (3, iters), name, |v, c| {
        gemm_wgmma_bf16(gpu, v, &ah, &bth, c, dims)
    })?);
    Ok(rows)
}
