//! The fused cross-entropy launch: per-row losses and the gradient in one kernel.

use crate::cuda::cost::{Cost, Math};
use crate::cuda::launch::{grid, run, threads_per_row, Bf16Copy, Bf16Out, Plan};
use crate::cuda::{source, CudaError, Gpu};
use cudarc::driver::{CudaSlice, CudaView, PushKernelArg};
use half::bf16;

/// A cross-entropy launch of `kernel` (`cross_entropy_rows`, `cross_entropy_bf16_in_place`): a block
/// per row.
pub fn cross_entropy_plan(kernel: &'static str, (rows, vocab): (usize, usize)) -> Plan {
    Plan::new(kernel, grid(rows, threads_per_row(vocab)))
}

/// The gradient half of [`cross_entropy`]: the upstream `dloss` per row, the forward's per-row
/// losses when known (then the gradient takes one pass over the logits instead of two), where
/// `dlogits` goes (rows `stride ≥ vocab` apart: a multiple of 4 lets the kernel write whole float4
/// packs), and optionally a bf16 copy of it with rows `stride` apart (`stride ≥ vocab`).
pub struct CrossEntropyGrad<'a, 'b> {
    pub dloss: &'a CudaView<'b, f32>,
    pub row_losses: Option<&'a CudaView<'b, f32>>,
    pub dlogits: (&'a mut CudaSlice<f32>, usize),
    pub image: Bf16Out<'a>,
}

/// Per-row cross-entropy `losses` and, when `grad` is given, `dloss[r]·(softmax − onehot)` into
/// `dlogits` (and bf16 image), fused (rows whose target is `ignore_index` get 0). The logits' rows
/// start `row_stride ≥ vocab` apart (a product's padded output is read in place).
pub fn cross_entropy(
    gpu: &Gpu,
    (logits, row_stride): (&CudaView<f32>, usize),
    targets: &CudaSlice<i64>,
    ignore_index: i64,
    losses: Option<&mut CudaSlice<f32>>,
    grad: Option<CrossEntropyGrad>,
    (rows, vocab): (usize, usize),
) -> Result<(), CudaError> {
    let f = gpu.function(source("cross_entropy.cu"), "cross_entropy_rows")?;
    check_logit_rows("cross_entropy", logits.len(), "floats", (rows, vocab), row_stride)?;
    let (r, v, stride) = (rows as i32, vocab as i32, row_stride as i64);
    let null = 0u64;
    let mut args = gpu.stream.launch_builder(&f);
    args.arg(&r).arg(&v).arg(&stride).arg(logits).arg(targets).arg(&ignore_index);
    let with_grad = grad.is_some();
    let (dloss, row_losses, (dlogits, dlogits_stride), image) = match grad {
        Some(CrossEntropyGrad { dloss, row_losses, dlogits: (d, stride), image }) => {
            if stride < vocab || (rows > 0 && d.len() < (rows - 1) * stride + vocab) {
                return Err(CudaError::Driver(format!(
                    "cross_entropy: a gradient of {rows} rows of {vocab}, {stride} apart, needs more than {} floats",
                    d.len()
                )));
            }
            (Some(dloss), row_losses, (Some(d), stride as i64), image)
        }
        None => (None, None, (None, 0), None),
    };
    match dloss {
        Some(d) => args.arg(d),
        None => args.arg(&null),
    };
    match row_losses {
        Some(l) => args.arg(l),
        None => args.arg(&null),
    };
    match losses {
        Some(l) => args.arg(l),
        None => args.arg(&null),
    };
    match dlogits {
        Some(g) => args.arg(g),
        None => args.arg(&null),
    };
    args.arg(&dlogits_stride);
    let copy =
        Bf16Copy::new(gpu, image, (rows, vocab)).map_err(|e| CudaError::Driver(format!("cross_entropy: {e}")))?;
    args.arg(&copy);
    // Safety: a block per row; the logits and dlogits hold rows of their strides (checked), the
    // others rows, the copy rows of its stride (checked); a null pointer skips its part.
    // The logits read once (a row stays on chip between its passes) and the targets; a loss per
    // row and, with the gradient, dlogits (and its bf16 copy) written; about 5 operations a logit
    // (max, exp, sum; the gradient's scale).
    let logits_read = 4 * rows * vocab + 8 * rows;
    let written = 4 * rows + if with_grad { 4 * rows * vocab + copy.bytes(rows * vocab) } else { 0 };
    let cost = Cost::bytes(logits_read, written).with_flops(5 * rows * vocab, Math::CudaCores);
    unsafe {
        run(gpu, "cross_entropy_rows", &mut args, cross_entropy_plan("cross_entropy_rows", (rows, vocab)).cfg, cost)
    }
}

/// The fused classifier's pass over bf16 `logits` (`rows` rows of `vocab`, `row_stride ≥ vocab`
/// apart; a multiple of 4 lets the kernel move 8-byte packs): each row's loss into `losses`, and,
/// given `dloss` (every counted row's upstream gradient: 1 / the number of counted rows for a
/// mean), `dloss·(softmax − onehot)` written over the logits in bf16 (rows whose target is
/// `ignore_index` get loss 0 and a zero gradient). The logits then exist only in bf16, and only
/// until the gradient replaces them.
pub fn cross_entropy_bf16_in_place(
    gpu: &Gpu,
    (logits, row_stride): (&mut CudaSlice<bf16>, usize),
    targets: &CudaSlice<i64>,
    ignore_index: i64,
    losses: &mut CudaSlice<f32>,
    dloss: Option<f32>,
    (rows, vocab): (usize, usize),
) -> Result<(), CudaError> {
    let f = gpu.function(source("cross_entropy.cu"), "cross_entropy_bf16_in_place")?;
    check_logit_rows("cross_entropy_bf16_in_place", logits.len(), "bf16", (rows, vocab), row_stride)?;
    if losses.len() < rows || targets.len() < rows {
        return Err(CudaError::Driver(format!(
            "cross_entropy_bf16_in_place: {rows} rows need {rows} targets and losses, got {} and {}",
            targets.len(),
            losses.len()
        )));
    }
    let (r, v, stride, gradient) = (rows as i32, vocab as i32, row_stride as i64, dloss.is_some() as i32);
    let scale = dloss.unwrap_or(0.0);
    let mut args = gpu.stream.launch_builder(&f);
    args.arg(&r).arg(&v).arg(&stride).arg(logits).arg(targets).arg(&ignore_index);
    args.arg(&scale).arg(&gradient).arg(losses);
    // Safety: a block per row; the logits hold `rows` rows of their stride, the targets and
    // losses `rows` values (checked). The logits read once (bf16) and the targets; a loss per
    // row, and with the gradient the logits' rows written back; about 5 operations a logit.
    let written = 4 * rows + if dloss.is_some() { 2 * rows * vocab } else { 0 };
    let cost = Cost::bytes(2 * rows * vocab + 8 * rows, written).with_flops(5 * rows * vocab, Math::CudaCores);
    let plan = cross_entropy_plan("cross_entropy_bf16_in_place", (rows, vocab));
    unsafe { run(gpu, plan.kernel, &mut args, plan.cfg, cost) }
}

/// Checks that `len` elements (`unit`s) hold `rows` rows of `vocab` logits `row_stride ≥ vocab`
/// apart, as `kernel` reads them.
fn check_logit_rows(
    kernel: &str,
    len: usize,
    unit: &str,
    (rows, vocab): (usize, usize),
    row_stride: usize,
) -> Result<(), CudaError> {
    if row_stride < vocab || (rows > 0 && len < (rows - 1) * row_stride + vocab) {
        return Err(CudaError::Driver(format!(
            "{kernel}: {rows} rows of {vocab} logits {row_stride} apart need more than {len} {unit}"
        )));
    }
    Ok(())
}
