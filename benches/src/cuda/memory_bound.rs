//! The memory-bound kernels against the device-to-device copy bandwidth: softmax, layer norm and
//! the cross-entropy gradient.

use super::{download, driver, max_rel_err, random, time_ms, upload, zeros, BenchRow, Family};
use half::bf16;
use kernels::cross_entropy::cuda::{cross_entropy, CrossEntropyGrad};
use kernels::cuda::cudarc::driver::CudaSlice;
use kernels::cuda::{CudaError, Gpu};
use kernels::layer_norm::cuda::{layer_norm_forward, LayerNormVersion};
use kernels::softmax::cuda::{softmax, softmax_plan, SoftmaxVersion};

/// The device-to-device copy of `n` floats, timed: the bandwidth memory-bound kernels are measured
/// against (it reads and writes each element once).
fn copy_reference(gpu: &Gpu, family: Family, n: usize, iters: usize, shape: &str) -> Result<BenchRow, CudaError> {
    let (x, mut copy) = (upload(gpu, &random(n, 9))?, zeros::<f32>(gpu, n)?);
    let ms = time_ms(gpu, 3, iters, || gpu.stream.memcpy_dtod(&x, &mut copy).map_err(|e| driver("copying", e)))?;
    Ok(BenchRow {
        kernel: "device-to-device copy".into(),
        family,
        is_reference: true,
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
    name: &'static str,
    (n, out_len, shape): (usize, usize, &str),
    versions: &[V],
    iters: usize,
    mut run: impl FnMut(V, &mut CudaSlice<f32>) -> Result<(), CudaError>,
) -> Result<Vec<BenchRow>, CudaError> {
    let family = Family::MemoryBound(name);
    let copy = copy_reference(gpu, family, n, iters, shape)?;
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
            family,
            is_reference: false,
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
    let fits = |&v: &SoftmaxVersion| softmax_plan(v, false, (rows, cols)).is_ok();
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
        softmax(gpu, version, false, &x.slice(..), y, (rows, cols))
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
    cross_entropy(gpu, (&logits.slice(..), stride), &targets, -100, Some(&mut losses), None, (rows, vocab))?;
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
        let grad = CrossEntropyGrad { dloss: &dloss, row_losses, dlogits: (dlogits, stride), image };
        cross_entropy(gpu, (&logits.slice(..), stride), &targets, -100, None, Some(grad), (rows, vocab))
    })
}

/// The layer-norm forward versions on `(rows, cols)` against the copy bandwidth.
pub fn bench_layer_norm(gpu: &Gpu, rows: usize, cols: usize, iters: usize) -> Result<Vec<BenchRow>, CudaError> {
    let (x, gamma, beta) =
        (upload(gpu, &random(rows * cols, 4))?, upload(gpu, &random(cols, 5))?, upload(gpu, &random(cols, 6))?);
    let (mut mean, mut rstd) = (zeros::<f32>(gpu, rows)?, zeros::<f32>(gpu, rows)?);
    let versions = [LayerNormVersion::WarpPerRow, LayerNormVersion::BlockPerRow, LayerNormVersion::ThreadPerRow];
    let n = rows * cols;
    memory_bound(gpu, "layer norm", (n, n, &format!("{rows}×{cols}")), &versions, iters, |version, y| {
        let params = (&gamma.slice(..), &beta.slice(..));
        layer_norm_forward(
            gpu,
            version,
            &x.slice(..),
            params,
            1e-5,
            (Some(y), None),
            &mut mean,
            &mut rstd,
            (rows, cols),
        )
    })
}
