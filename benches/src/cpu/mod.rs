//! `emergent bench kernels` on the CPU: each fused kernel at the shapes of a training step (or any
//! `--shape`), every variant checked against the naive reference before it is timed, its
//! throughput as GFLOP/s and GB/s and as a share of this machine's measured ceiling (the FMA peak
//! for kernels that compute more than the memory can feed, the streaming memory bandwidth for the others).
//!
//! A kernel is one file implementing [`CpuKernel`] and one line in [`KERNELS`]; `axpy.rs` is the
//! worked example README shows.

mod adamw;
mod attention;
mod axpy;
mod cross_entropy;
mod gelu;
mod layer_norm;
mod matmul;
pub mod report;
mod run;
mod softmax;

pub use report::{Ceiling, Format, Measurement};
pub use run::run;

use crate::{Error, Result};
use rand::{Rng, SeedableRng};
use std::time::Instant;

/// Every kernel the bench knows, in the order it runs them.
pub const KERNELS: &[&dyn CpuKernel] = &[
    &matmul::Matmul { bf16: false },
    &matmul::Matmul { bf16: true },
    &softmax::Softmax,
    &layer_norm::LayerNorm,
    &gelu::Gelu,
    &attention::Attention { bf16: false },
    &attention::Attention { bf16: true },
    &cross_entropy::CrossEntropy,
    &adamw::AdamW,
    &axpy::Axpy,
];

/// What one run of a kernel at a shape costs: arithmetic, and memory traffic (each byte read or
/// written once: what a kernel that streams its operands through the caches moves).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Work {
    pub flops: f64,
    pub bytes: f64,
}

/// A kernel's buffers: its inputs (some updated in place, as AdamW's) and its output.
pub struct Buffers {
    pub inputs: Vec<Vec<f32>>,
    pub out: Vec<f32>,
}

/// One implementation of a kernel: a name and the function that runs it on the buffers.
pub struct Variant {
    pub name: &'static str,
    pub run: fn(shape: &[usize], buffers: &mut Buffers),
}

/// A CPU kernel the bench can check and time.
pub trait CpuKernel: Sync {
    /// What `--kernel` calls it.
    fn name(&self) -> &'static str;
    /// What each number of `--shape` is, e.g. `["M", "N", "K"]`.
    fn dims(&self) -> &'static [&'static str];
    /// The shapes timed without `--shape`: those of the baby GPT's training step.
    fn default_shapes(&self) -> Vec<Vec<usize>>;
    /// Floating-point operations and bytes moved by one run at `shape`.
    fn work(&self, shape: &[usize]) -> Work;
    /// The buffers at `shape`, inputs drawn from `rng`.
    fn buffers(&self, shape: &[usize], rng: &mut rand::rngs::StdRng) -> Buffers;
    /// The naive reference's result from fresh `buffers`: the formula as loops, in f64.
    fn reference(&self, shape: &[usize], buffers: &Buffers) -> Vec<f64>;
    /// What a variant computed (the output, unless the kernel updates an input in place).
    fn result<'a>(&self, buffers: &'a Buffers) -> &'a [f32] {
        &buffers.out
    }
    /// The implementations to check and time.
    fn variants(&self) -> &'static [Variant];
    /// The largest error a variant may have, relative to `max(1, |reference|)`.
    fn tolerance(&self) -> f64 {
        1e-4
    }
}

/// `n` values uniform in [−1, 1).
pub fn uniform(rng: &mut rand::rngs::StdRng, n: usize) -> Vec<f32> {
    (0..n).map(|_| rng.random_range(-1.0..1.0)).collect()
}

/// The kernel `--kernel` names, or an error listing the known ones.
pub fn find(name: &str) -> Result<&'static dyn CpuKernel> {
    KERNELS.iter().copied().find(|k| k.name() == name).ok_or_else(|| {
        let known: Vec<&str> = KERNELS.iter().map(|k| k.name()).collect();
        Error::Invalid(format!("no kernel {name:?}; the CPU bench knows {}", known.join(", ")))
    })
}

/// `"2048x384x1152"` as the kernel's dims, each positive.
pub fn parse_shape(kernel: &dyn CpuKernel, text: &str) -> Result<Vec<usize>> {
    let dims = kernel.dims();
    let shape: Option<Vec<usize>> = text.split('x').map(|d| d.trim().parse().ok().filter(|&d| d > 0)).collect();
    match shape {
        Some(shape) if shape.len() == dims.len() => Ok(shape),
        _ => Err(Error::Invalid(format!(
            "--shape {text:?} for {}: give {} positive numbers joined by 'x' ({})",
            kernel.name(),
            dims.len(),
            dims.join("x")
        ))),
    }
}

/// Checks every variant of `kernel` at `shape` against the reference, then times it: the median of
/// `iters` runs after one warm-up. A variant that disagrees with the reference is reported with its
/// error and not timed. Shapes whose buffers would not fit in `memory` bytes are refused.
pub fn measure(
    kernel: &dyn CpuKernel,
    shape: &[usize],
    iters: usize,
    ceiling: &Ceiling,
    memory: Option<f64>,
) -> Result<Vec<Measurement>> {
    let work = kernel.work(shape);
    // The variant's buffers, a fresh copy for the check and the f64 reference: about 4× the traffic.
    if let Some(have) = memory.filter(|&have| 4.0 * work.bytes > have) {
        return Err(Error::Invalid(format!(
            "{} at {shape:?} needs about {:.1} GB of buffers; this machine has {:.1} GB available",
            kernel.name(),
            4.0 * work.bytes / 1e9,
            have / 1e9
        )));
    }
    let fresh = || kernel.buffers(shape, &mut rand::rngs::StdRng::seed_from_u64(7));
    let want = kernel.reference(shape, &fresh());
    let mut rows = Vec::new();
    for variant in kernel.variants() {
        let mut buffers = fresh();
        (variant.run)(shape, &mut buffers);
        let got = kernel.result(&buffers);
        let error = if got.len() == want.len() {
            got.iter().zip(&want).map(|(&g, &w)| (g as f64 - w).abs() / w.abs().max(1.0)).fold(0.0, nan_max)
        } else {
            f64::INFINITY
        };
        let passed = error <= kernel.tolerance();
        let seconds = passed.then(|| {
            (variant.run)(shape, &mut buffers); // warm-up
            let mut times: Vec<f64> = (0..iters.max(1))
                .map(|_| {
                    let start = Instant::now();
                    (variant.run)(shape, &mut buffers);
                    start.elapsed().as_secs_f64()
                })
                .collect();
            times.sort_by(f64::total_cmp);
            times[times.len() / 2]
        });
        rows.push(Measurement::new(
            kernel.name(),
            variant.name,
            shape,
            error,
            kernel.tolerance(),
            seconds,
            work,
            ceiling,
        ));
    }
    Ok(rows)
}

/// The larger of two errors, a NaN winning (a variant that produced a NaN fails).
fn nan_max(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else {
        a.max(b)
    }
}

#[cfg(test)]
mod tests;
