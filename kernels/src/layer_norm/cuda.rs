//! Layer-norm launches: forward (a thread, a warp or a block per row) and backward.

use crate::cuda::cost::{Cost, Math};
use crate::cuda::launch::{grid, run, Bf16Copy, Bf16Out, Plan};
use crate::cuda::{source, CudaError, Gpu};
use cudarc::driver::{CudaSlice, CudaView, DevicePtr, LaunchConfig, PushKernelArg};
use half::bf16;

/// How the rows of a layer norm are spread over threads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LayerNormVersion {
    ThreadPerRow,
    WarpPerRow,
    BlockPerRow,
}

/// The layer-norm launch over `(rows, cols)`; `writes_y` false: the bf16 copy alone (the warp
/// version has a kernel of its own for it).
pub fn layer_norm_plan(version: LayerNormVersion, rows: usize, writes_y: bool) -> Plan {
    match version {
        LayerNormVersion::ThreadPerRow => Plan::new("layer_norm_thread_per_row", grid(rows.div_ceil(128), 128)),
        LayerNormVersion::WarpPerRow if writes_y => Plan::new("layer_norm_warp_per_row", grid(rows.div_ceil(8), 256)),
        LayerNormVersion::WarpPerRow => Plan::new("layer_norm_warp_per_row_bf16", grid(rows.div_ceil(8), 256)),
        LayerNormVersion::BlockPerRow => Plan::new("layer_norm_block_per_row", grid(rows, 256)),
    }
}

/// Layer norm of each row of `x (rows, cols)`: `y` and its bf16 copy when given one, or the copy
/// alone (no `y`: an output only a linear layer reads), and the row means and reciprocal
/// deviations.
#[allow(clippy::too_many_arguments)]
pub fn layer_norm_forward(
    gpu: &Gpu,
    version: LayerNormVersion,
    x: &CudaView<f32>,
    (gamma, beta): (&CudaView<f32>, &CudaView<f32>),
    eps: f32,
    (y, y_bf16): (Option<&mut CudaSlice<f32>>, Bf16Out),
    mean: &mut CudaSlice<f32>,
    rstd: &mut CudaSlice<f32>,
    (rows, cols): (usize, usize),
) -> Result<(), CudaError> {
    if y.is_none() && y_bf16.is_none() {
        return Err(CudaError::Driver("layer_norm: an output in f32, in bf16 or both".into()));
    }
    if let Some(y) = &y {
        if y.len() < rows * cols {
            return Err(CudaError::Driver(format!("layer_norm: {rows} × {cols} into {} elements", y.len())));
        }
    }
    let Plan { kernel, cfg, .. } = layer_norm_plan(version, rows, y.is_some());
    let copy = Bf16Copy::new(gpu, y_bf16, (rows, cols))?;
    let f = gpu.function(source("layer_norm.cu"), kernel)?;
    let (r, c, null) = (rows as i32, cols as i32, 0u64);
    let mut args = gpu.stream.launch_builder(&f);
    args.arg(&r).arg(&c).arg(&eps).arg(x).arg(gamma).arg(beta);
    // x, γ, β read; y (when given), mean and rstd written; about 8 operations an element.
    let y_written = if y.is_some() { rows * cols } else { 0 };
    match y {
        Some(y) => args.arg(y),
        None => args.arg(&null),
    };
    args.arg(mean).arg(rstd).arg(&copy);
    // Safety: x and y (when given) hold rows·cols floats, gamma and beta cols, mean and rstd rows;
    // the copy rows of its stride (checked).
    let cost = Cost::f32s(rows * cols + 2 * cols, y_written + 2 * rows)
        .with_flops(8 * rows * cols, Math::CudaCores)
        .writing(copy.bytes(rows * cols));
    unsafe { run(gpu, kernel, &mut args, cfg, cost) }
}

/// The layer-norm backward launch, and whether the blocks sum their dγ and dβ partials in shared
/// memory first: they fit up to 6144 columns (48 KB); wider rows add straight into global memory.
/// At most 256 blocks of 8 warps (about two per SM of an H100: the kernel's 220 registers leave
/// room for one at a time), so each warp walks several rows and sums their dγ and dβ in registers.
pub fn layer_norm_backward_plan((rows, cols): (usize, usize)) -> (Plan, bool) {
    let partial_bytes = 2 * cols * 4;
    let shared = partial_bytes <= 48 * 1024;
    let cfg = LaunchConfig {
        grid_dim: (rows.div_ceil(8).clamp(1, 256) as u32, 1, 1),
        block_dim: (256, 1, 1),
        shared_mem_bytes: if shared { partial_bytes as u32 } else { 0 },
    };
    (Plan::new("layer_norm_backward", cfg), shared)
}

/// Where a layer-norm backward writes `dx`: on its own, or added to the gradient its input has
/// received already (`dx ← dx + the norm's`, read and written in place: the residual stream's).
pub enum LayerNormDx<'a> {
    Alone(&'a mut CudaSlice<f32>),
    AddedInPlace(&'a mut CudaSlice<f32>),
}

/// The output gradient a layer-norm backward reads: f32, or bf16 where the product that made it
/// wrote bf16 (the gradient of a norm's output kept in bf16 alone).
pub enum LayerNormDy<'a> {
    F32(CudaView<'a, f32>),
    Bf16(CudaView<'a, bf16>),
}

/// Layer-norm backward of `(rows, cols)`: `dx` as `dx_into` says, and `dgamma`, `dbeta` added
/// into (they must start at zero), from `[x, gamma, mean, rstd]` and `dy`.
pub fn layer_norm_backward(
    gpu: &Gpu,
    ([x, gamma, mean, rstd], dy): ([&CudaView<f32>; 4], &LayerNormDy),
    (dx_into, dgamma, dbeta): (LayerNormDx, &mut CudaSlice<f32>, &mut CudaSlice<f32>),
    (rows, cols): (usize, usize),
) -> Result<(), CudaError> {
    let n = rows * cols;
    let (dy_len, dy_bytes, kernel) = match dy {
        LayerNormDy::F32(d) => (d.len(), 4, "layer_norm_backward"),
        LayerNormDy::Bf16(d) => (d.len(), 2, "layer_norm_backward_bf16_dy"),
    };
    let lengths = [x.len(), dy_len, gamma.len(), mean.len(), rstd.len(), dgamma.len(), dbeta.len()];
    let (added, dx) = match dx_into {
        LayerNormDx::Alone(dx) => (false, dx),
        LayerNormDx::AddedInPlace(dx) => (true, dx),
    };
    if lengths.iter().zip([n, n, cols, rows, rows, cols, cols]).any(|(&len, need)| len < need) || dx.len() < n {
        return Err(CudaError::Driver(format!(
            "layer_norm_backward: {rows} rows of {cols}, buffers of {lengths:?} and dx of {}",
            dx.len()
        )));
    }
    let (Plan { cfg, .. }, shared) = layer_norm_backward_plan((rows, cols));
    let f = gpu.function(source("layer_norm.cu"), kernel)?;
    let (r, c, s, null) = (rows as i32, cols as i32, i32::from(shared), 0u64);
    let sum = if added { dx.device_ptr(&gpu.stream).0 } else { null };
    let mut args = gpu.stream.launch_builder(&f);
    args.arg(&r).arg(&c).arg(&s).arg(x).arg(gamma).arg(mean).arg(rstd);
    match dy {
        LayerNormDy::F32(d) => args.arg(d),
        LayerNormDy::Bf16(d) => args.arg(d),
    };
    args.arg(&sum).arg(dx).arg(dgamma).arg(dbeta);
    // Safety: x, dy, dx hold rows·cols elements, gamma, dgamma, dbeta cols, mean and rstd rows
    // (checked); the sum, when there is one, is dx itself, each element read before the same
    // thread writes it. x, dy, γ, mean, rstd (and the sum) read; dx, dγ, dβ written; about 12
    // operations an element.
    let read = 4 * (1 + usize::from(added)) * n + dy_bytes * n + 4 * (cols + 2 * rows);
    let cost = Cost::bytes(read, 4 * (n + 2 * cols)).with_flops(12 * n, Math::CudaCores);
    unsafe { run(gpu, kernel, &mut args, cfg, cost) }
}
