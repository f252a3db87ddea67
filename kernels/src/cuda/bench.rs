//! The kernel benchmark: every version of each hot kernel, checked against a reference first, then
//! timed with CUDA events (warm-up, median of many runs) beside cuBLAS and the measured
//! device-to-device copy bandwidth.

use super::launch::{
    self, AttentionShape, AttentionVersion, GemmVersion, LayerNormVersion, SoftmaxVersion, WgmmaVersion, WmmaVersion,
};
use super::{CudaError, Gpu};
use crate::cpu::attention::HeadLayout;
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

/// A GEMM's row: `flops` in `ms`, as a share of the reference's `ref_ms`.
fn gemm_row(kernel: String, shape: &str, (ms, ref_ms): (f64, f64), flops: f64, max_rel_err: f64) -> BenchRow {
    BenchRow {
        kernel,
        shape: shape.to_string(),
        median_ms: ms,
        throughput: flops / (ms * 1e-3) / 1e12,
        unit: "TFLOP/s",
        percent_of_reference: 100.0 * ref_ms / ms,
        max_rel_err,
    }
}

/// cuBLAS on the GPU's stream, or an error when its library is missing.
fn cublas(gpu: &Gpu) -> Result<CudaBlas, CudaError> {
    // Safety: only tries to open the shared library.
    if !unsafe { cudarc::cublas::sys::is_culib_present() } {
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
    name: impl Fn(V) -> String,
    mut run: impl FnMut(V, &mut CudaSlice<f32>) -> Result<(), CudaError>,
) -> Result<Vec<BenchRow>, CudaError> {
    let (flops, shape) = (2.0 * (m * n * k) as f64, format!("{m}×{n}×{k}"));
    let mut rows = Vec::with_capacity(versions.len());
    for &version in versions {
        let mut c = zeros::<f32>(gpu, m * n)?;
        run(version, &mut c)?;
        let err = max_rel_err(&download(gpu, &c)?, want);
        let ms = time_ms(gpu, warmup, iters, || run(version, &mut c))?;
        rows.push(gemm_row(name(version), &shape, (ms, ref_ms), flops, err));
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
    let mut rows = vec![gemm_row("cuBLAS sgemm (f32)".into(), &shape, (cublas_ms, cublas_ms), flops, 0.0)];
    // The naive kernel takes seconds at 4096³: three runs of it.
    let dims = (m, n, k);
    let f32_rows = |versions: &[GemmVersion], iters| {
        gemm_versions(
            gpu,
            versions,
            dims,
            (cublas_ms, &want),
            (1, iters),
            |v| format!("{v:?} (f32)"),
            |v, c| launch::gemm_f32(gpu, v, &ad, &bd, c, dims),
        )
    };
    rows.extend(f32_rows(&[GemmVersion::Naive], 3)?);
    rows.extend(f32_rows(&[GemmVersion::Tiled, GemmVersion::RegisterBlocked], iters)?);
    // Tensor cores: our WMMA kernels against cuBLAS in bf16.
    let (ah, bh) = (upload(gpu, &to_bf16(&a))?, upload(gpu, &to_bf16(&b))?);
    let config = cublas_config(m, n, k, bf16::ONE, bf16::ZERO);
    let (cublas_ms, want) = cublas_bf16(gpu, &blas, config, (&ah, &bh), (size, iters))?;
    rows.push(gemm_row("cuBLAS gemm (bf16)".into(), &shape, (cublas_ms, cublas_ms), flops, 0.0));
    let name = |v| format!("WMMA {v:?} (bf16 in, f32 acc)");
    rows.extend(gemm_versions(gpu, &WmmaVersion::ALL, dims, (cublas_ms, &want), (3, iters), name, |v, c| {
        launch::gemm_wmma_bf16(gpu, v, &ah, &bh, c, dims)
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
        vec![gemm_row("cuBLAS gemm (bf16, B transposed)".into(), &shape, (cublas_ms, cublas_ms), flops, 0.0)];
    let name = |v| format!("wgmma {v:?} (bf16 in, f32 acc, B transposed)");
    let dims = (m, n, k);
    rows.extend(gemm_versions(gpu, &WgmmaVersion::ALL, dims, (cublas_ms, &want), (3, iters), name, |v, c| {
        launch::gemm_wgmma_bf16(gpu, v, &ah, &bth, c, dims)
    })?);
    Ok(rows)
}

/// The device-to-device copy of `n` floats, timed: the bandwidth memory-bound kernels are measured
/// against (it reads and writes each element once).
fn copy_reference(gpu: &Gpu, n: usize, iters: usize, shape: &str) -> Result<BenchRow, CudaError> {
    let (x, mut copy) = (upload(gpu, &random(n, 9))?, zeros::<f32>(gpu, n)?);
    let ms = time_ms(gpu, 3, iters, || gpu.stream.memcpy_dtod(&x, &mut copy).map_err(|e| driver("copying", e)))?;
    Ok(BenchRow {
        kernel: "device-to-device copy".into(),
        shape: shape.to_string(),
        median_ms: ms,
        throughput: 2.0 * (n * 4) as f64 / (ms * 1e-3) / 1e9,
        unit: "GB/s",
        percent_of_reference: 100.0,
        max_rel_err: 0.0,
    })
}

/// Rows for the versions of a memory-bound kernel that reads and writes `n` floats (into an output
/// of `out_len ≥ n`, its rows perhaps padded): each run once and compared with the first version's
/// output (the first is checked against the CPU in the GPU tests), then timed; bandwidth counts
/// one read and one write of each of the n elements. A later version that fails to launch is left
/// out (with the reason on stderr).
fn memory_bound<V: Copy + std::fmt::Debug>(
    gpu: &Gpu,
    name: &str,
    (n, out_len, shape): (usize, usize, &str),
    versions: &[V],
    iters: usize,
    mut run: impl FnMut(V, &mut CudaSlice<f32>) -> Result<(), CudaError>,
) -> Result<Vec<BenchRow>, CudaError> {
    let copy = copy_reference(gpu, n, iters, shape)?;
    let gbps = |ms: f64| 2.0 * (n * 4) as f64 / (ms * 1e-3) / 1e9;
    let mut rows = vec![copy.clone()];
    let mut want: Option<Vec<f32>> = None;
    for &version in versions {
        let mut y = zeros::<f32>(gpu, out_len)?;
        match run(version, &mut y) {
            // A version after the first that cannot launch here is left out of the table, said on
            // stderr, so that the rest is still measured.
            Err(e) if want.is_some() => {
                eprintln!("{name} {version:?}: left out, {e}");
                continue;
            }
            result => result?,
        }
        let got = download(gpu, &y)?;
        let err = want.as_ref().map_or(0.0, |w| max_rel_err(&got, w));
        want.get_or_insert(got);
        let ms = time_ms(gpu, 3, iters, || run(version, &mut y))?;
        rows.push(BenchRow {
            kernel: format!("{name} {version:?}"),
            shape: shape.to_string(),
            median_ms: ms,
            throughput: gbps(ms),
            unit: "GB/s",
            percent_of_reference: 100.0 * copy.median_ms / ms,
            max_rel_err: err,
        });
    }
    Ok(rows)
}

/// The softmax versions on `(rows, cols)` against the copy bandwidth: a block, a warp, a thread per
/// row.
pub fn bench_softmax(gpu: &Gpu, rows: usize, cols: usize, iters: usize) -> Result<Vec<BenchRow>, CudaError> {
    let versions = [SoftmaxVersion::BlockPerRow, SoftmaxVersion::WarpPerRow, SoftmaxVersion::ThreadPerRow];
    softmax_table(gpu, (rows, cols), iters, &versions)
}

/// The softmax on `(rows, cols)` in clusters of 2, 4 and 8 blocks per row (those that hold the
/// row; sm_90 on), after the block-per-row version, their reference, measured again beside them.
/// Separate from [`bench_softmax`] so that a fault here leaves the rest of the table.
pub fn bench_softmax_clusters(gpu: &Gpu, rows: usize, cols: usize, iters: usize) -> Result<Vec<BenchRow>, CudaError> {
    if gpu.compute_capability() < 90 {
        return Err(CudaError::Driver(format!("softmax clusters need sm_90 or later, not {}", gpu.arch)));
    }
    let clusters = [2, 4, 8].map(SoftmaxVersion::ClusterPerRow);
    let fits = |&v: &SoftmaxVersion| launch::softmax_plan(v, false, (rows, cols)).is_ok();
    let versions: Vec<_> =
        std::iter::once(SoftmaxVersion::BlockPerRow).chain(clusters.into_iter().filter(fits)).collect();
    softmax_table(gpu, (rows, cols), iters, &versions)
}

/// The rows of `versions` of the softmax on random `(rows, cols)` input, the first the reference.
fn softmax_table(
    gpu: &Gpu,
    (rows, cols): (usize, usize),
    iters: usize,
    versions: &[SoftmaxVersion],
) -> Result<Vec<BenchRow>, CudaError> {
    let x = upload(gpu, &random(rows * cols, 3))?;
    let n = rows * cols;
    memory_bound(gpu, "softmax", (n, n, &format!("{rows}×{cols}")), versions, iters, |version, y| {
        launch::softmax(gpu, version, false, &x.slice(..), y, (rows, cols))
    })
}

/// How the cross-entropy gradient reads the logits: once, from the forward's losses, or twice
/// (its own maximum and sum first); and once with the gradient's bf16 copy written beside it, as
/// training under bf16 products does (the LM head's backward products read the copy; its 2 bytes
/// an element are not counted in the row's GB/s).
#[derive(Debug, Clone, Copy)]
enum CrossEntropyGradient {
    OnePass,
    TwoPasses,
    OnePassWithBf16Copy,
}

/// The cross-entropy gradient of `(rows, vocab)` logits (the LM head's backward at GPT-2's
/// vocabulary) against the copy bandwidth. The logits' rows start 16 bytes apart, as the LM head's
/// product writes them, and so do the gradient's, as the tensor layer allocates it.
pub fn bench_cross_entropy(gpu: &Gpu, rows: usize, vocab: usize, iters: usize) -> Result<Vec<BenchRow>, CudaError> {
    let stride = vocab.next_multiple_of(4);
    let logits = upload(gpu, &random(rows * stride, 7))?;
    let targets: Vec<i64> = (0..rows).map(|r| (r * 7919 % vocab) as i64).collect();
    let targets = gpu.stream.clone_htod(&targets).map_err(|e| driver("copying to the device", e))?;
    let dloss = upload(gpu, &vec![1.0 / rows as f32; rows])?;
    let mut losses = zeros::<f32>(gpu, rows)?;
    launch::cross_entropy(gpu, (&logits.slice(..), stride), &targets, -100, Some(&mut losses), None, (rows, vocab))?;
    let versions =
        [CrossEntropyGradient::OnePass, CrossEntropyGradient::TwoPasses, CrossEntropyGradient::OnePassWithBf16Copy];
    let shape = format!("{rows}×{vocab}");
    let image_stride = vocab.next_multiple_of(8);
    let mut image = zeros::<bf16>(gpu, rows * image_stride)?;
    let dims = (rows * vocab, rows * stride, shape.as_str());
    memory_bound(gpu, "cross-entropy gradient", dims, &versions, iters, |version, dlogits| {
        let (dloss, forward) = (dloss.slice(..), losses.slice(..));
        let (row_losses, image) = match version {
            CrossEntropyGradient::OnePass => (Some(&forward), None),
            CrossEntropyGradient::TwoPasses => (None, None),
            CrossEntropyGradient::OnePassWithBf16Copy => (Some(&forward), Some((&mut image, image_stride))),
        };
        let grad = launch::CrossEntropyGrad { dloss: &dloss, row_losses, dlogits: (dlogits, stride), image };
        launch::cross_entropy(gpu, (&logits.slice(..), stride), &targets, -100, None, Some(grad), (rows, vocab))
    })
}

/// The layer-norm forward versions on `(rows, cols)` against the copy bandwidth.
pub fn bench_layer_norm(gpu: &Gpu, rows: usize, cols: usize, iters: usize) -> Result<Vec<BenchRow>, CudaError> {
    let (x, gamma, beta) =
        (upload(gpu, &random(rows * cols, 4))?, upload(gpu, &random(cols, 5))?, upload(gpu, &random(cols, 6))?);
    let (mut mean, mut rstd) = (zeros::<f32>(gpu, rows)?, zeros::<f32>(gpu, rows)?);
    let versions = [LayerNormVersion::WarpPerRow, LayerNormVersion::BlockPerRow, LayerNormVersion::ThreadPerRow];
    let n = rows * cols;
    memory_bound(gpu, "layer_norm", (n, n, &format!("{rows}×{cols}")), &versions, iters, |version, y| {
        let params = (&gamma.slice(..), &beta.slice(..));
        launch::layer_norm_forward(
            gpu,
            version,
            &x.slice(..),
            params,
            1e-5,
            (y, None),
            &mut mean,
            &mut rstd,
            (rows, cols),
        )
    })
}

/// Fused causal attention for `b` sequences of `t` tokens and `h` heads of `d`, laid out as in a
/// GPT-2 block (heads read in place from the packed `(b, t, 3·h·d)` qkv, the output `(b, t, h·d)`,
/// the gradient packed like qkv), each version: the forward alone, then forward and backward, in
/// model TFLOP/s (the causal half of `Q·Kᵀ` and `P·V`; ×3.5 with the backward); % is the speed-up
/// over the row-per-thread version, and the error is against it.
pub fn bench_attention(
    gpu: &Gpu,
    (b, h, t, d): (usize, usize, usize, usize),
    iters: usize,
) -> Result<Vec<BenchRow>, CudaError> {
    let (bh, width) = (b * h, h * d);
    let (qkv, dout) = (upload(gpu, &random(b * t * 3 * width, 11))?, upload(gpu, &random(b * t * width, 14))?);
    let shape = AttentionShape { bh, t, s: t, d, causal: true, scale: 1.0 / (d as f32).sqrt() };
    let forward_flops = 2.0 * (bh * t * t * d) as f64;
    let packed = |part: usize| HeadLayout::packed(h, t, d, 3 * width, part * width);
    let out_layout = HeadLayout::packed(h, t, d, width, 0);
    let (mut o, mut lse, mut dot) =
        (zeros::<f32>(gpu, b * t * width)?, zeros::<f32>(gpu, bh * t)?, zeros::<f32>(gpu, bh * t)?);
    let mut grads = zeros::<f32>(gpu, b * t * 3 * width)?;
    let mut rows: Vec<BenchRow> = Vec::new();
    let mut reference: [Option<(f64, Vec<f32>)>; 2] = [None, None];
    for version in AttentionVersion::ALL {
        for (pass, with_backward) in [("fwd", false), ("fwd+bwd", true)] {
            let mut step = || -> Result<(), CudaError> {
                let qkv = qkv.slice(..);
                let inputs = [(&qkv, packed(0)), (&qkv, packed(1)), (&qkv, packed(2))];
                launch::attention_forward(gpu, version, shape, inputs, (&mut o, out_layout, None), &mut lse)?;
                if !with_backward {
                    return Ok(());
                }
                gpu.stream.memset_zeros(&mut grads).map_err(|e| driver("zeroing", e))?;
                let saved = [(&o.slice(..), out_layout), (&dout.slice(..), out_layout)];
                let grads = (&mut grads, [packed(0), packed(1), packed(2)]);
                launch::attention_backward(gpu, version, shape, inputs, saved, &lse.slice(..), &mut dot, grads)
            };
            step()?;
            let ms = time_ms(gpu, 1, iters.min(5), &mut step)?;
            let got =
                if with_backward { [download(gpu, &o)?, download(gpu, &grads)?].concat() } else { download(gpu, &o)? };
            let reference = &mut reference[usize::from(with_backward)];
            let (err, percent) = match reference {
                Some((ref_ms, want)) => (max_rel_err(&got, want), 100.0 * *ref_ms / ms),
                None => (0.0, 100.0),
            };
            reference.get_or_insert((ms, got));
            let flops = if with_backward { 3.5 * forward_flops } else { forward_flops };
            rows.push(BenchRow {
                kernel: format!("attention {pass} {version:?}"),
                shape: format!("{b}×{h}×{t}×{d} causal"),
                median_ms: ms,
                throughput: flops / (ms * 1e-3) / 1e12,
                unit: "TFLOP/s",
                percent_of_reference: percent,
                max_rel_err: err,
            });
        }
    }
    Ok(rows)
}
