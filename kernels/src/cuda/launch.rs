//! Host-side launches of the kernels: grid and block shapes chosen for each, arguments in the
//! order the `.cu` signatures take them. Buffers are dense, row-major, on `gpu`'s stream.

use super::{CudaError, Gpu, KernelSource, SOURCES};
use cudarc::driver::{CudaSlice, LaunchConfig, PushKernelArg};
use half::bf16;

fn source(name: &str) -> &'static KernelSource {
    SOURCES.iter().find(|s| s.name == name).expect("a kernel source of this crate")
}

fn launch_error(kernel: &str, e: impl std::fmt::Debug) -> CudaError {
    CudaError::Driver(format!("launching {kernel}: {e:?}"))
}

/// A 1-D launch: `blocks` blocks of `threads` threads.
fn grid(blocks: usize, threads: u32) -> LaunchConfig {
    LaunchConfig { grid_dim: (blocks.max(1) as u32, 1, 1), block_dim: (threads, 1, 1), shared_mem_bytes: 0 }
}

/// Blocks of 256 threads for a grid-stride loop over `n` elements (capped; each thread loops).
fn elementwise(n: usize) -> LaunchConfig {
    grid(n.div_ceil(256).min(65_535), 256)
}

/// How the rows of a softmax are spread over threads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SoftmaxVersion {
    ThreadPerRow,
    WarpPerRow,
    BlockPerRow,
}

/// `y = softmax(x)` over each row of `(rows, cols)`.
pub fn softmax(
    gpu: &Gpu,
    version: SoftmaxVersion,
    x: &CudaSlice<f32>,
    y: &mut CudaSlice<f32>,
    rows: usize,
    cols: usize,
) -> Result<(), CudaError> {
    let (kernel, cfg) = match version {
        SoftmaxVersion::ThreadPerRow => ("softmax_thread_per_row", grid(rows.div_ceil(128), 128)),
        SoftmaxVersion::WarpPerRow => ("softmax_warp_per_row", grid(rows.div_ceil(8), 256)),
        SoftmaxVersion::BlockPerRow => ("softmax_block_per_row", grid(rows, 256)),
    };
    let f = gpu.function(source("softmax.cu"), kernel)?;
    let (r, c, log) = (rows as i32, cols as i32, 0i32);
    let mut args = gpu.stream.launch_builder(&f);
    if version == SoftmaxVersion::BlockPerRow {
        args.arg(&log);
    }
    args.arg(&r).arg(&c).arg(x).arg(y);
    // Safety: the arguments match the kernel's signature and the buffers hold rows·cols floats.
    unsafe { args.launch(cfg) }.map(drop).map_err(|e| launch_error(kernel, e))
}

/// Layer norm of each row of `x (rows, cols)`: `y`, and the row means and reciprocal deviations.
#[allow(clippy::too_many_arguments)]
pub fn layer_norm_forward(
    gpu: &Gpu,
    x: &CudaSlice<f32>,
    gamma: &CudaSlice<f32>,
    beta: &CudaSlice<f32>,
    eps: f32,
    y: &mut CudaSlice<f32>,
    mean: &mut CudaSlice<f32>,
    rstd: &mut CudaSlice<f32>,
    (rows, cols): (usize, usize),
) -> Result<(), CudaError> {
    let f = gpu.function(source("layer_norm.cu"), "layer_norm_forward")?;
    let (r, c) = (rows as i32, cols as i32);
    let mut args = gpu.stream.launch_builder(&f);
    args.arg(&r).arg(&c).arg(&eps).arg(x).arg(gamma).arg(beta).arg(y).arg(mean).arg(rstd);
    // Safety: as above; a warp per row, 8 rows per block.
    unsafe { args.launch(grid(rows.div_ceil(8), 256)) }.map(drop).map_err(|e| launch_error("layer_norm_forward", e))
}

/// `y = GELU(x)` (tanh approximation if `tanh`) over `n` elements.
pub fn gelu_forward(gpu: &Gpu, tanh: bool, x: &CudaSlice<f32>, y: &mut CudaSlice<f32>) -> Result<(), CudaError> {
    let f = gpu.function(source("gelu.cu"), "gelu_forward")?;
    let (approx, n) = (i32::from(tanh), x.len() as i64);
    let mut args = gpu.stream.launch_builder(&f);
    args.arg(&approx).arg(&n).arg(x).arg(y);
    // Safety: x and y hold n floats.
    unsafe { args.launch(elementwise(n as usize)) }.map(drop).map_err(|e| launch_error("gelu_forward", e))
}

/// Per-row cross-entropy losses and `scale·(softmax − onehot)` into `dlogits`, fused.
#[allow(clippy::too_many_arguments)]
pub fn cross_entropy(
    gpu: &Gpu,
    logits: &CudaSlice<f32>,
    targets: &CudaSlice<i64>,
    ignore_index: i64,
    scale: f32,
    losses: &mut CudaSlice<f32>,
    dlogits: &mut CudaSlice<f32>,
    (rows, vocab): (usize, usize),
) -> Result<(), CudaError> {
    let f = gpu.function(source("cross_entropy.cu"), "cross_entropy_fused")?;
    let (r, v) = (rows as i32, vocab as i32);
    let mut args = gpu.stream.launch_builder(&f);
    args.arg(&r).arg(&v).arg(logits).arg(targets).arg(&ignore_index).arg(&scale).arg(losses).arg(dlogits);
    // Safety: a block per row; buffers sized rows·vocab, rows.
    unsafe { args.launch(grid(rows, 256)) }.map(drop).map_err(|e| launch_error("cross_entropy_fused", e))
}

/// The f32 GEMM versions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GemmVersion {
    Naive,
    Tiled,
    RegisterBlocked,
}

/// `C = A·B` for row-major `A (m, k)`, `B (k, n)`, `C (m, n)` in f32.
pub fn gemm_f32(
    gpu: &Gpu,
    version: GemmVersion,
    a: &CudaSlice<f32>,
    b: &CudaSlice<f32>,
    c: &mut CudaSlice<f32>,
    (m, n, k): (usize, usize, usize),
) -> Result<(), CudaError> {
    let tiles = |rows: usize, cols: usize, threads: (u32, u32)| LaunchConfig {
        grid_dim: (n.div_ceil(cols) as u32, m.div_ceil(rows) as u32, 1),
        block_dim: (threads.0, threads.1, 1),
        shared_mem_bytes: 0,
    };
    let (kernel, cfg) = match version {
        GemmVersion::Naive => ("gemm_naive", tiles(16, 16, (16, 16))),
        GemmVersion::Tiled => ("gemm_tiled", tiles(32, 32, (32, 32))),
        GemmVersion::RegisterBlocked => ("gemm_register_blocked", tiles(128, 128, (16, 16))),
    };
    if version == GemmVersion::RegisterBlocked && !n.is_multiple_of(4) {
        return Err(CudaError::Driver(format!(
            "gemm_register_blocked loads B by float4: n must be a multiple of 4, got {n}"
        )));
    }
    let f = gpu.function(source("gemm.cu"), kernel)?;
    let (m32, n32, k32) = (m as i32, n as i32, k as i32);
    let mut args = gpu.stream.launch_builder(&f);
    args.arg(&m32).arg(&n32).arg(&k32).arg(a).arg(b).arg(c);
    // Safety: buffers hold m·k, k·n and m·n floats.
    unsafe { args.launch(cfg) }.map(drop).map_err(|e| launch_error(kernel, e))
}

/// `C = A·B` on tensor cores: bf16 `A (m, k)`, `B (k, n)`, f32 `C`; m, n, k multiples of 16.
pub fn gemm_wmma_bf16(
    gpu: &Gpu,
    a: &CudaSlice<bf16>,
    b: &CudaSlice<bf16>,
    c: &mut CudaSlice<f32>,
    (m, n, k): (usize, usize, usize),
) -> Result<(), CudaError> {
    if !(m.is_multiple_of(16) && n.is_multiple_of(16) && k.is_multiple_of(16)) {
        return Err(CudaError::Driver(format!("gemm_wmma_bf16 needs multiples of 16, got {m}×{n}×{k}")));
    }
    let f = gpu.function(source("gemm.cu"), "gemm_wmma_bf16")?;
    let (m32, n32, k32) = (m as i32, n as i32, k as i32);
    let cfg = LaunchConfig {
        grid_dim: (n.div_ceil(32) as u32, m.div_ceil(32) as u32, 1),
        block_dim: (128, 1, 1),
        shared_mem_bytes: 0,
    };
    let mut args = gpu.stream.launch_builder(&f);
    args.arg(&m32).arg(&n32).arg(&k32).arg(a).arg(b).arg(c);
    // Safety: buffers hold m·k, k·n bf16 and m·n floats; four warps per 32×32 tile of C.
    unsafe { args.launch(cfg) }.map(drop).map_err(|e| launch_error("gemm_wmma_bf16", e))
}

/// Shapes of a fused causal attention call: `bh` (batch × heads) sequences of `t` positions with
/// head size `d` (≤ 128), all buffers `(bh, t, d)` contiguous.
#[derive(Debug, Clone, Copy)]
pub struct AttentionShape {
    pub bh: usize,
    pub t: usize,
    pub d: usize,
}

impl AttentionShape {
    fn check(&self) -> Result<(), CudaError> {
        if self.d == 0 || self.d > 128 || self.t == 0 || self.bh == 0 {
            return Err(CudaError::Driver(format!("fused attention needs 0 < d ≤ 128 and t, bh > 0, got {self:?}")));
        }
        Ok(())
    }

    /// 64 rows (queries or keys) per block, one block row per sequence.
    fn rows(&self) -> LaunchConfig {
        LaunchConfig {
            grid_dim: (self.t.div_ceil(64) as u32, self.bh as u32, 1),
            block_dim: (64, 1, 1),
            shared_mem_bytes: 0,
        }
    }
}

/// Causal `O = softmax(Q·Kᵀ/√d + M)·V` and each row's log-sum-exp `lse (bh, t)`, fused (no T×T matrix).
pub fn attention_forward(
    gpu: &Gpu,
    shape: AttentionShape,
    (q, k, v): (&CudaSlice<f32>, &CudaSlice<f32>, &CudaSlice<f32>),
    o: &mut CudaSlice<f32>,
    lse: &mut CudaSlice<f32>,
) -> Result<(), CudaError> {
    shape.check()?;
    let f = gpu.function(source("attention.cu"), "attention_forward")?;
    let (t, d, scale) = (shape.t as i32, shape.d as i32, 1.0 / (shape.d as f32).sqrt());
    let mut args = gpu.stream.launch_builder(&f);
    args.arg(&t).arg(&d).arg(&scale).arg(q).arg(k).arg(v).arg(o).arg(lse);
    // Safety: buffers are (bh, t, d) and (bh, t) as the shape says.
    unsafe { args.launch(shape.rows()) }.map(drop).map_err(|e| launch_error("attention_forward", e))
}

/// Gradients of the fused attention: from `dout` and the forward's `o` and `lse`, into `dq`, `dk`,
/// `dv` (each `(bh, t, d)`); `dot` is scratch of `bh·t` floats.
#[allow(clippy::too_many_arguments)]
pub fn attention_backward(
    gpu: &Gpu,
    shape: AttentionShape,
    (q, k, v): (&CudaSlice<f32>, &CudaSlice<f32>, &CudaSlice<f32>),
    (o, lse, dout): (&CudaSlice<f32>, &CudaSlice<f32>, &CudaSlice<f32>),
    dot: &mut CudaSlice<f32>,
    (dq, dk, dv): (&mut CudaSlice<f32>, &mut CudaSlice<f32>, &mut CudaSlice<f32>),
) -> Result<(), CudaError> {
    shape.check()?;
    let (t, d, scale) = (shape.t as i32, shape.d as i32, 1.0 / (shape.d as f32).sqrt());
    let rows = (shape.bh * shape.t) as i64;
    let f = gpu.function(source("attention.cu"), "attention_backward_dot")?;
    let mut args = gpu.stream.launch_builder(&f);
    args.arg(&rows).arg(&d).arg(o).arg(dout).arg(&mut *dot);
    // Safety: o and dout are (bh·t, d), dot is bh·t.
    unsafe { args.launch(grid((rows as usize).div_ceil(256), 256)) }
        .map(drop)
        .map_err(|e| launch_error("attention_backward_dot", e))?;
    let f = gpu.function(source("attention.cu"), "attention_backward_dkdv")?;
    let mut args = gpu.stream.launch_builder(&f);
    args.arg(&t).arg(&d).arg(&scale).arg(q).arg(k).arg(v).arg(dout).arg(lse).arg(&*dot).arg(dk).arg(dv);
    // Safety: as the shape says.
    unsafe { args.launch(shape.rows()) }.map(drop).map_err(|e| launch_error("attention_backward_dkdv", e))?;
    let f = gpu.function(source("attention.cu"), "attention_backward_dq")?;
    let mut args = gpu.stream.launch_builder(&f);
    args.arg(&t).arg(&d).arg(&scale).arg(q).arg(k).arg(v).arg(dout).arg(lse).arg(&*dot).arg(dq);
    // Safety: as the shape says.
    unsafe { args.launch(shape.rows()) }.map(drop).map_err(|e| launch_error("attention_backward_dq", e))
}
