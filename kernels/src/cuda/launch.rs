//! Host-side launches of the kernels: grid and block shapes chosen for each, arguments in the
//! order the `.cu` signatures take them. Buffers are dense, row-major, on `gpu`'s stream.

use super::{source, CudaError, Gpu};
use crate::cpu::attention::HeadLayout;
use cudarc::driver::sys::{self, CUfunction_attribute};
use cudarc::driver::{
    CudaFunction, CudaSlice, CudaView, DevicePtr, DevicePtrMut, DeviceRepr, LaunchArgs, LaunchConfig, PushKernelArg,
};
use half::bf16;
use std::ffi::c_void;
use std::sync::atomic::{AtomicU8, Ordering};

fn launch_error(kernel: &str, e: impl std::fmt::Debug) -> CudaError {
    CudaError::Driver(format!("launching {kernel}: {e:?}"))
}

/// Which kernel a launch runs and over what grid: what the functions below decide before they
/// launch, public so that the CPU emulator's tests run each kernel exactly as the GPU does.
#[derive(Debug, Clone, Copy)]
pub struct Plan {
    pub kernel: &'static str,
    pub cfg: LaunchConfig,
    /// Blocks in a cluster along x (1: no clusters; launched by `run_in_clusters`).
    pub cluster: u32,
}

impl Plan {
    fn new(kernel: &'static str, cfg: LaunchConfig) -> Self {
        Self { kernel, cfg, cluster: 1 }
    }
}

/// Launches `args` over `cfg` as `kernel`, timed when the GPU is profiling ([`Gpu::timed`]).
///
/// # Safety
/// As for cudarc's `LaunchArgs::launch`: the arguments match the kernel's signature and the
/// buffers are as large as the launch reads and writes.
unsafe fn run(gpu: &Gpu, kernel: &str, args: &mut LaunchArgs<'_>, cfg: LaunchConfig) -> Result<(), CudaError> {
    // Safety: as the caller vouches.
    gpu.timed(kernel, || unsafe { args.launch(cfg) }.map(drop).map_err(|e| launch_error(kernel, e)))
}

/// A kernel parameter as the driver takes it: the address of its value.
fn param<T>(value: &T) -> *mut c_void {
    (value as *const T).cast_mut().cast()
}

/// Launches `f` as `plan` says, in clusters of `plan.cluster` consecutive blocks along x (Hopper's
/// thread-block clusters, through cuLaunchKernelEx's cluster dimension; clusters.cuh), timed when
/// the GPU is profiling. Devices before sm_90 have no clusters: refused.
///
/// # Safety
/// `params` points at the kernel's parameters in the order of its signature, and the buffers are
/// as large as the launch reads and writes.
unsafe fn run_in_clusters(
    gpu: &Gpu,
    f: &CudaFunction,
    Plan { kernel, cfg, cluster }: Plan,
    params: &mut [*mut c_void],
) -> Result<(), CudaError> {
    if gpu.compute_capability() < 90 {
        return Err(CudaError::Driver(format!(
            "{kernel} needs thread-block clusters (sm_90 or later), not {}",
            gpu.arch
        )));
    }
    let mut attribute = sys::CUlaunchAttribute {
        id: sys::CUlaunchAttributeID::CU_LAUNCH_ATTRIBUTE_CLUSTER_DIMENSION,
        pad: [0; 4],
        value: sys::CUlaunchAttributeValue { pad: [0; 64] },
    };
    attribute.value.clusterDim = sys::CUlaunchAttributeValue_union__bindgen_ty_1 { x: cluster, y: 1, z: 1 };
    let config = sys::CUlaunchConfig {
        gridDimX: cfg.grid_dim.0,
        gridDimY: cfg.grid_dim.1,
        gridDimZ: cfg.grid_dim.2,
        blockDimX: cfg.block_dim.0,
        blockDimY: cfg.block_dim.1,
        blockDimZ: cfg.block_dim.2,
        sharedMemBytes: cfg.shared_mem_bytes,
        hStream: gpu.stream.cu_stream(),
        attrs: &mut attribute,
        numAttrs: 1,
    };
    gpu.timed(kernel, || {
        gpu.ctx.bind_to_thread().map_err(|e| launch_error(kernel, e))?;
        // Safety: the configuration above lives through the call; the parameters are as the
        // caller vouches.
        unsafe { sys::cuLaunchKernelEx(&config, f.cu_function(), params.as_mut_ptr(), std::ptr::null_mut()) }
            .result()
            .map_err(|e| launch_error(kernel, e))
    })
}

/// A 1-D launch: `blocks` blocks of `threads` threads.
pub fn grid(blocks: usize, threads: u32) -> LaunchConfig {
    LaunchConfig { grid_dim: (blocks.max(1) as u32, 1, 1), block_dim: (threads, 1, 1), shared_mem_bytes: 0 }
}

/// Blocks of 256 threads for a grid-stride loop over `n` elements (capped; each thread loops).
pub fn elementwise(n: usize) -> LaunchConfig {
    grid(n.div_ceil(256).min(65_535), 256)
}

/// Threads for a block that owns a row of `cols` values: more for long rows (a vocabulary), so a
/// few hundred rows still fill the GPU.
pub fn threads_per_row(cols: usize) -> u32 {
    if cols >= 8192 {
        1024
    } else {
        256
    }
}

/// Where a kernel also writes its f32 output rounded to bf16 (the copy bf16 matrix products read):
/// a buffer and its row stride.
pub type Bf16Out<'a> = Option<(&'a mut CudaSlice<bf16>, usize)>;

/// A kernel's bf16 copy of a `(rows, cols)` f32 output as it reads it (`struct Bf16Copy` of
/// bf16_copy.cuh): the copy's address (0: none), the output's row length, the copy's row stride.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct Bf16Copy {
    data: u64,
    cols: i64,
    stride: i64,
}

// Safety: a plain `#[repr(C)]` struct of integers, the same fields in the same order as the
// kernels' `struct Bf16Copy`.
unsafe impl DeviceRepr for Bf16Copy {}

impl Bf16Copy {
    /// The copy `out` of a `(rows, cols)` output, once it is checked to hold `rows` rows of
    /// `stride ≥ cols` elements.
    pub fn new(gpu: &Gpu, out: Bf16Out, (rows, cols): (usize, usize)) -> Result<Self, CudaError> {
        match out {
            Some((data, stride)) if stride >= cols && data.len() >= rows * stride => {
                Ok(Self { data: data.device_ptr_mut(&gpu.stream).0, cols: cols as i64, stride: stride as i64 })
            }
            Some((data, stride)) => Err(CudaError::Driver(format!(
                "a bf16 copy of {} elements for {rows} rows of {cols}, {stride} apart",
                data.len()
            ))),
            None => Ok(Self { data: 0, cols: cols as i64, stride: 0 }),
        }
    }
}

/// How the rows of a softmax are spread over threads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SoftmaxVersion {
    ThreadPerRow,
    WarpPerRow,
    BlockPerRow,
    /// A cluster of this many blocks (1 to 8) per row, the row in their registers (sm_90 and later).
    ClusterPerRow(u32),
}

/// The values a thread of softmax_cluster_per_row holds (CLUSTER_CACHED in softmax.cu).
const CLUSTER_CACHED: usize = 32;

/// The softmax launch over `(rows, cols)`; log-softmax is written for the block- and
/// cluster-per-row versions only.
pub fn softmax_plan(version: SoftmaxVersion, log: bool, (rows, cols): (usize, usize)) -> Result<Plan, CudaError> {
    let plan = match version {
        SoftmaxVersion::ThreadPerRow => Plan::new("softmax_thread_per_row", grid(rows.div_ceil(128), 128)),
        SoftmaxVersion::WarpPerRow => Plan::new("softmax_warp_per_row", grid(rows.div_ceil(8), 256)),
        SoftmaxVersion::BlockPerRow => {
            let threads = threads_per_row(cols);
            let mut cfg = grid(rows, threads);
            cfg.shared_mem_bytes = staged_row_bytes(cols, threads);
            Plan::new("softmax_block_per_row", cfg)
        }
        SoftmaxVersion::ClusterPerRow(blocks) => cluster_per_row_plan(blocks, (rows, cols))?,
    };
    if log && matches!(version, SoftmaxVersion::ThreadPerRow | SoftmaxVersion::WarpPerRow) {
        return Err(CudaError::Driver(format!(
            "{}: log-softmax is written for the block- and cluster-per-row versions only",
            plan.kernel
        )));
    }
    Ok(plan)
}

/// softmax_cluster_per_row's launch: a cluster of `blocks` per row, each block's threads the
/// fewest power of two (128 to 1024) that hold its slice at CLUSTER_CACHED values a thread, and
/// shared memory for the block's merge (64 floats) and a softmax state per block of the cluster.
fn cluster_per_row_plan(blocks: u32, (rows, cols): (usize, usize)) -> Result<Plan, CudaError> {
    let kernel = "softmax_cluster_per_row";
    if !(1..=8).contains(&blocks) {
        return Err(CudaError::Driver(format!("{kernel}: clusters of 1 to 8 blocks, not {blocks}")));
    }
    let most = blocks as usize * 1024 * CLUSTER_CACHED;
    if cols > most {
        return Err(CudaError::Driver(format!(
            "{kernel}: a cluster of {blocks} blocks holds rows of at most {most} values, not {cols}"
        )));
    }
    let threads = cols.div_ceil(blocks as usize * CLUSTER_CACHED).next_power_of_two().clamp(128, 1024);
    let mut cfg = grid(rows * blocks as usize, threads as u32);
    cfg.shared_mem_bytes = (64 + 2 * blocks) * 4;
    Ok(Plan { kernel, cfg, cluster: blocks })
}

/// The shared memory that stages a row of `cols` floats for softmax_block_per_row: the whole row
/// when it is too long for the threads' registers (16 values each) and fits in 200 KB, else none.
fn staged_row_bytes(cols: usize, threads: u32) -> u32 {
    let bytes = cols * 4;
    if cols > 16 * threads as usize && bytes <= 200 * 1024 {
        bytes as u32
    } else {
        0
    }
}

/// `y = softmax(x)` over each row of `(rows, cols)`, or `y = log_softmax(x)` when `log` (written
/// for the block-per-row version, the one the tensor layer uses).
pub fn softmax(
    gpu: &Gpu,
    version: SoftmaxVersion,
    log: bool,
    x: &CudaView<f32>,
    y: &mut CudaSlice<f32>,
    (rows, cols): (usize, usize),
) -> Result<(), CudaError> {
    let plan = softmax_plan(version, log, (rows, cols))?;
    let Plan { kernel, cfg, .. } = plan;
    let f = shared_function(gpu, "softmax.cu", kernel, cfg.shared_mem_bytes)?;
    let (r, c, log, staged) = (rows as i32, cols as i32, i32::from(log), i32::from(cfg.shared_mem_bytes > 0));
    if let SoftmaxVersion::ClusterPerRow(_) = version {
        let (x, y) = (x.device_ptr(&gpu.stream).0, y.device_ptr_mut(&gpu.stream).0);
        let mut params = [param(&log), param(&r), param(&c), param(&x), param(&y)];
        // Safety: the parameters match softmax_cluster_per_row's signature and the buffers hold
        // rows·cols floats.
        return unsafe { run_in_clusters(gpu, &f, plan, &mut params) };
    }
    let mut args = gpu.stream.launch_builder(&f);
    if version == SoftmaxVersion::BlockPerRow {
        args.arg(&log).arg(&staged);
    }
    args.arg(&r).arg(&c).arg(x).arg(y);
    // Safety: the arguments match the kernel's signature and the buffers hold rows·cols floats.
    unsafe { run(gpu, kernel, &mut args, cfg) }
}

/// The softmax backward launch: a block per row.
pub fn softmax_backward_plan((rows, cols): (usize, usize)) -> Plan {
    Plan::new("softmax_backward", grid(rows, threads_per_row(cols)))
}

/// Backward of [`softmax`] (block per row) from its output `y` and `dy`, into `dx`.
pub fn softmax_backward(
    gpu: &Gpu,
    log: bool,
    (y, dy): (&CudaView<f32>, &CudaView<f32>),
    dx: &mut CudaSlice<f32>,
    (rows, cols): (usize, usize),
) -> Result<(), CudaError> {
    let f = gpu.function(source("softmax.cu"), "softmax_backward")?;
    let (l, r, c) = (i32::from(log), rows as i32, cols as i32);
    let mut args = gpu.stream.launch_builder(&f);
    args.arg(&l).arg(&r).arg(&c).arg(y).arg(dy).arg(dx);
    // Safety: y, dy and dx hold rows·cols floats; a block per row.
    unsafe { run(gpu, "softmax_backward", &mut args, softmax_backward_plan((rows, cols)).cfg) }
}

/// How the rows of a layer norm are spread over threads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LayerNormVersion {
    ThreadPerRow,
    WarpPerRow,
    BlockPerRow,
}

/// The layer-norm launch over `(rows, cols)`.
pub fn layer_norm_plan(version: LayerNormVersion, rows: usize) -> Plan {
    match version {
        LayerNormVersion::ThreadPerRow => Plan::new("layer_norm_thread_per_row", grid(rows.div_ceil(128), 128)),
        LayerNormVersion::WarpPerRow => Plan::new("layer_norm_warp_per_row", grid(rows.div_ceil(8), 256)),
        LayerNormVersion::BlockPerRow => Plan::new("layer_norm_block_per_row", grid(rows, 256)),
    }
}

/// Layer norm of each row of `x (rows, cols)`: `y`, and the row means and reciprocal deviations.
#[allow(clippy::too_many_arguments)]
pub fn layer_norm_forward(
    gpu: &Gpu,
    version: LayerNormVersion,
    x: &CudaView<f32>,
    (gamma, beta): (&CudaView<f32>, &CudaView<f32>),
    eps: f32,
    (y, y_bf16): (&mut CudaSlice<f32>, Bf16Out),
    mean: &mut CudaSlice<f32>,
    rstd: &mut CudaSlice<f32>,
    (rows, cols): (usize, usize),
) -> Result<(), CudaError> {
    let Plan { kernel, cfg, .. } = layer_norm_plan(version, rows);
    let copy = Bf16Copy::new(gpu, y_bf16, (rows, cols))?;
    let f = gpu.function(source("layer_norm.cu"), kernel)?;
    let (r, c) = (rows as i32, cols as i32);
    let mut args = gpu.stream.launch_builder(&f);
    args.arg(&r).arg(&c).arg(&eps).arg(x).arg(gamma).arg(beta).arg(y).arg(mean).arg(rstd).arg(&copy);
    // Safety: x and y hold rows·cols floats, gamma and beta cols, mean and rstd rows; the copy
    // rows of its stride (checked).
    unsafe { run(gpu, kernel, &mut args, cfg) }
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

/// Layer-norm backward of `(rows, cols)`: `dx`, and `dgamma`, `dbeta` added into (they must start
/// at zero), from `[x, gamma, mean, rstd, dy]`.
pub fn layer_norm_backward(
    gpu: &Gpu,
    [x, gamma, mean, rstd, dy]: [&CudaView<f32>; 5],
    (dx, dgamma, dbeta): (&mut CudaSlice<f32>, &mut CudaSlice<f32>, &mut CudaSlice<f32>),
    (rows, cols): (usize, usize),
) -> Result<(), CudaError> {
    let (Plan { cfg, .. }, shared) = layer_norm_backward_plan((rows, cols));
    let f = gpu.function(source("layer_norm.cu"), "layer_norm_backward")?;
    let (r, c, s) = (rows as i32, cols as i32, i32::from(shared));
    let mut args = gpu.stream.launch_builder(&f);
    args.arg(&r).arg(&c).arg(&s).arg(x).arg(gamma).arg(mean).arg(rstd).arg(dy).arg(dx).arg(dgamma).arg(dbeta);
    // Safety: x, dy, dx hold rows·cols floats, gamma, dgamma, dbeta cols, mean and rstd rows.
    unsafe { run(gpu, "layer_norm_backward", &mut args, cfg) }
}

/// `y = GELU(x)` (tanh approximation if `tanh`) over the `n` elements of x, and y's bf16 copy
/// when given one, y seen as rows of `cols`.
pub fn gelu_forward(
    gpu: &Gpu,
    tanh: bool,
    x: &CudaView<f32>,
    (y, y_bf16): (&mut CudaSlice<f32>, Bf16Out),
    cols: usize,
) -> Result<(), CudaError> {
    let n = x.len();
    if y.len() < n || cols == 0 || n % cols != 0 {
        return Err(CudaError::Driver(format!("gelu: {n} elements into {}, in rows of {cols}", y.len())));
    }
    let copy = Bf16Copy::new(gpu, y_bf16, (n / cols, cols))?;
    let f = gpu.function(source("gelu.cu"), "gelu_forward")?;
    let (approx, count) = (i32::from(tanh), n as i64);
    let mut args = gpu.stream.launch_builder(&f);
    args.arg(&approx).arg(&count).arg(x).arg(y).arg(&copy);
    // Safety: x and y hold n floats, the copy n / cols rows of its stride (checked).
    unsafe { run(gpu, "gelu_forward", &mut args, elementwise(n)) }
}

/// One tensor of a multi-tensor AdamW step: its first `n` elements of parameter, gradient and
/// moments, its decay `1 − ηλ` and step `η / (1 − β₁ᵗ)`, and optionally where its new values go
/// rounded to bf16: `(image, cols, stride)`, rows of `cols` elements `stride` apart.
pub struct AdamWTensorSlices<'a, 'b> {
    pub n: usize,
    pub param: &'a mut CudaSlice<f32>,
    pub grad: CudaView<'b, f32>,
    pub m: &'a mut CudaSlice<f32>,
    pub v: &'a mut CudaSlice<f32>,
    pub decay: f32,
    pub step: f32,
    pub image: Option<(&'a mut CudaSlice<bf16>, usize, usize)>,
}

/// A tensor as `adamw_step_multi_tensor` reads it (`struct AdamWTensor` of adamw.cu).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
struct AdamWTensor {
    param: u64,
    grad: u64,
    m: u64,
    v: u64,
    copy: Bf16Copy,
    n: i64,
    first_chunk: i64,
    decay: f32,
    step: f32,
}

// Safety: a plain `#[repr(C)]` struct of integers and floats, the same fields in the same order
// as the kernel's `struct AdamWTensor`.
unsafe impl DeviceRepr for AdamWTensor {}

/// Elements per block of `adamw_step_multi_tensor` (`ADAMW_CHUNK` of adamw.cu).
pub const ADAMW_CHUNK: usize = 4096;

/// One AdamW step on every tensor of `tensors` in one launch (multi-tensor apply): a table of
/// the tensors goes to the device, and each block updates one chunk of one tensor. `shared` is
/// `[β₁, β₂, ε, √(1 − β₂ᵗ)]`.
pub fn adamw_multi_tensor(gpu: &Gpu, tensors: &mut [AdamWTensorSlices], shared: [f32; 4]) -> Result<(), CudaError> {
    let mut table = Vec::with_capacity(tensors.len());
    let mut chunks = 0usize;
    for (i, t) in tensors.iter_mut().enumerate() {
        let lens = [t.param.len(), t.grad.len(), t.m.len(), t.v.len()];
        if lens.iter().any(|&len| len < t.n) {
            return Err(CudaError::Driver(format!("adamw tensor {i}: {} elements, buffers of {lens:?}", t.n)));
        }
        if t.n == 0 {
            continue;
        }
        // Raw addresses for the table; the buffers outlive the launch (the caller holds them).
        let grad = t.grad.device_ptr(&gpu.stream).0;
        let param = t.param.device_ptr_mut(&gpu.stream).0;
        let (m, v) = (t.m.device_ptr_mut(&gpu.stream).0, t.v.device_ptr_mut(&gpu.stream).0);
        let copy = match t.image.take() {
            Some((image, cols, stride)) if cols > 0 && t.n % cols == 0 => {
                Bf16Copy::new(gpu, Some((image, stride)), (t.n / cols, cols))
            }
            Some((_, cols, _)) => Err(CudaError::Driver(format!("{} elements are not rows of {cols}", t.n))),
            None => Bf16Copy::new(gpu, None, (t.n, 1)),
        }
        .map_err(|e| CudaError::Driver(format!("adamw tensor {i}: {e}")))?;
        let (n, first_chunk) = (t.n as i64, chunks as i64);
        table.push(AdamWTensor { param, grad, m, v, copy, n, first_chunk, decay: t.decay, step: t.step });
        chunks += t.n.div_ceil(ADAMW_CHUNK);
    }
    if table.is_empty() {
        return Ok(());
    }
    let table_on_device =
        gpu.stream.clone_htod(&table).map_err(|e| CudaError::Driver(format!("adamw table: {e:?}")))?;
    let f = gpu.function(source("adamw.cu"), "adamw_step_multi_tensor")?;
    let count = table.len() as i32;
    let mut args = gpu.stream.launch_builder(&f);
    args.arg(&count).arg(&table_on_device);
    for x in &shared {
        args.arg(x);
    }
    // Safety: each table entry addresses n floats of four live buffers and, if given, an image of
    // n / cols rows of stride bf16 (checked above); the parameters, moments and images are
    // distinct mutable buffers; a block per chunk.
    unsafe { run(gpu, "adamw_step_multi_tensor", &mut args, grid(chunks, 256)) }
}

/// The cross-entropy launch: a block per row.
pub fn cross_entropy_plan((rows, vocab): (usize, usize)) -> Plan {
    Plan::new("cross_entropy_rows", grid(rows, threads_per_row(vocab)))
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
    if row_stride < vocab || (rows > 0 && logits.len() < (rows - 1) * row_stride + vocab) {
        return Err(CudaError::Driver(format!(
            "cross_entropy: {rows} rows of {vocab} logits {row_stride} apart need more than {} floats",
            logits.len()
        )));
    }
    let (r, v, stride) = (rows as i32, vocab as i32, row_stride as i64);
    let null = 0u64;
    let mut args = gpu.stream.launch_builder(&f);
    args.arg(&r).arg(&v).arg(&stride).arg(logits).arg(targets).arg(&ignore_index);
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
    unsafe { run(gpu, "cross_entropy_rows", &mut args, cross_entropy_plan((rows, vocab)).cfg) }
}

/// The f32 GEMM versions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GemmVersion {
    Naive,
    Tiled,
    RegisterBlocked,
}

/// The f32 GEMM launch: a block per tile of C (16², 32² or 128²).
pub fn gemm_f32_plan(version: GemmVersion, (m, n, _k): (usize, usize, usize)) -> Result<Plan, CudaError> {
    let tiles = |rows: usize, cols: usize, threads: (u32, u32)| LaunchConfig {
        grid_dim: (n.div_ceil(cols) as u32, m.div_ceil(rows) as u32, 1),
        block_dim: (threads.0, threads.1, 1),
        shared_mem_bytes: 0,
    };
    if version == GemmVersion::RegisterBlocked && !n.is_multiple_of(4) {
        return Err(CudaError::Driver(format!(
            "gemm_register_blocked loads B by float4: n must be a multiple of 4, got {n}"
        )));
    }
    Ok(match version {
        GemmVersion::Naive => Plan::new("gemm_naive", tiles(16, 16, (16, 16))),
        GemmVersion::Tiled => Plan::new("gemm_tiled", tiles(32, 32, (32, 32))),
        GemmVersion::RegisterBlocked => Plan::new("gemm_register_blocked", tiles(128, 128, (16, 16))),
    })
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
    let Plan { kernel, cfg, .. } = gemm_f32_plan(version, (m, n, k))?;
    let f = gpu.function(source("gemm.cu"), kernel)?;
    let (m32, n32, k32) = (m as i32, n as i32, k as i32);
    let mut args = gpu.stream.launch_builder(&f);
    args.arg(&m32).arg(&n32).arg(&k32).arg(a).arg(b).arg(c);
    // Safety: buffers hold m·k, k·n and m·n floats.
    unsafe { run(gpu, kernel, &mut args, cfg) }
}

/// The tensor-core GEMM versions: fragments loaded straight from global memory; through
/// shared-memory tiles (128×128 per block of 8 warps); those tiles double-buffered with
/// asynchronous copies; and 128×256 tiles (warps of 64×64) in a 4-stage pipeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WmmaVersion {
    Direct,
    SharedTiles,
    Pipelined,
    WidePipelined,
}

impl WmmaVersion {
    pub const ALL: [WmmaVersion; 4] =
        [WmmaVersion::Direct, WmmaVersion::SharedTiles, WmmaVersion::Pipelined, WmmaVersion::WidePipelined];
}

/// The bytes of one pipeline stage of gemm.cu's `Tiles<bm, bn>`: a bm × (32 + 8) tile of A and a
/// 32 × (bn + 8) tile of B, in bf16.
fn gemm_stage_bytes(bm: usize, bn: usize) -> u32 {
    ((bm * (32 + 8) + 32 * (bn + 8)) * 2) as u32
}

/// The tensor-core GEMM launch: a block per 32² (direct), 128² or 128 × 256 (wide) tile of C,
/// the pipelines' stages in dynamic shared memory; m, n, k must be multiples of 16.
pub fn gemm_wmma_plan(version: WmmaVersion, (m, n, k): (usize, usize, usize)) -> Result<Plan, CudaError> {
    if !(m.is_multiple_of(16) && n.is_multiple_of(16) && k.is_multiple_of(16)) {
        return Err(CudaError::Driver(format!("gemm_wmma_bf16 needs multiples of 16, got {m}×{n}×{k}")));
    }
    let (kernel, (rows, cols), threads, shared) = match version {
        WmmaVersion::Direct => ("gemm_wmma_bf16", (32, 32), 128, 0),
        WmmaVersion::SharedTiles => ("gemm_wmma_bf16_tiled", (128, 128), 256, 0),
        WmmaVersion::Pipelined => ("gemm_wmma_bf16_pipelined", (128, 128), 256, 2 * gemm_stage_bytes(128, 128)),
        WmmaVersion::WidePipelined => ("gemm_wmma_bf16_wide", (128, 256), 256, 4 * gemm_stage_bytes(128, 256)),
    };
    let cfg = LaunchConfig {
        grid_dim: (n.div_ceil(cols) as u32, m.div_ceil(rows) as u32, 1),
        block_dim: (threads, 1, 1),
        shared_mem_bytes: shared,
    };
    Ok(Plan::new(kernel, cfg))
}

/// `C = A·B` on tensor cores: bf16 `A (m, k)`, `B (k, n)`, f32 `C`; m, n, k multiples of 16.
pub fn gemm_wmma_bf16(
    gpu: &Gpu,
    version: WmmaVersion,
    a: &CudaSlice<bf16>,
    b: &CudaSlice<bf16>,
    c: &mut CudaSlice<f32>,
    (m, n, k): (usize, usize, usize),
) -> Result<(), CudaError> {
    let plan = gemm_wmma_plan(version, (m, n, k))?;
    launch_bf16_gemm(gpu, plan, (a, b, c), (m, n, k))
}

/// The GEMMs on Hopper's warpgroup MMA (gemm.cu versions 8–10, sm_90a only), by how their tiles
/// reach shared memory: `cp.async` from every thread; the tensor memory accelerator (TMA), one
/// thread asking for each tile; TMA from a third warpgroup that only loads. All take B transposed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WgmmaVersion {
    CpAsync,
    Tma,
    TmaLoadingWarpgroup,
}

impl WgmmaVersion {
    pub const ALL: [WgmmaVersion; 3] = [WgmmaVersion::CpAsync, WgmmaVersion::Tma, WgmmaVersion::TmaLoadingWarpgroup];
}

/// The warpgroup-MMA GEMM launch: 128 × 256 tiles, 4 pipeline stages of 48 KB in dynamic shared
/// memory (and 1 KB to align them; the TMA versions add their mbarriers: one or two per stage),
/// 2 warpgroups that multiply (and one that loads); m, n, k must be multiples of 16.
pub fn gemm_wgmma_plan(version: WgmmaVersion, (m, n, k): (usize, usize, usize)) -> Result<Plan, CudaError> {
    if !(m.is_multiple_of(16) && n.is_multiple_of(16) && k.is_multiple_of(16)) {
        return Err(CudaError::Driver(format!("the wgmma GEMMs need multiples of 16, got {m}×{n}×{k}")));
    }
    let stages = (4 * (128 + 256) * 64 * 2 + 1024) as u32;
    let (kernel, threads, barriers) = match version {
        WgmmaVersion::CpAsync => ("gemm_wgmma_bf16", 256, 0),
        WgmmaVersion::Tma => ("gemm_wgmma_tma_bf16", 256, 4),
        WgmmaVersion::TmaLoadingWarpgroup => ("gemm_wgmma_specialized_bf16", 384, 8),
    };
    let cfg = LaunchConfig {
        grid_dim: (n.div_ceil(256) as u32, m.div_ceil(128) as u32, 1),
        block_dim: (threads, 1, 1),
        shared_mem_bytes: stages + 8 * barriers,
    };
    Ok(Plan::new(kernel, cfg))
}

/// `C = A·B` on Hopper's warpgroup MMA, with B given transposed: bf16 `A (m, k)` and `Bᵀ (n, k)`,
/// both row-major, f32 `C (m, n)`; m, n, k multiples of 16; sm_90a devices (H100, H200) only.
pub fn gemm_wgmma_bf16(
    gpu: &Gpu,
    version: WgmmaVersion,
    a: &CudaSlice<bf16>,
    b_transposed: &CudaSlice<bf16>,
    c: &mut CudaSlice<f32>,
    dims: (usize, usize, usize),
) -> Result<(), CudaError> {
    let plan = gemm_wgmma_plan(version, dims)?;
    require_sm_90a(gpu, plan.kernel)?;
    match version {
        WgmmaVersion::CpAsync => launch_bf16_gemm(gpu, plan, (a, b_transposed, c), dims),
        WgmmaVersion::Tma | WgmmaVersion::TmaLoadingWarpgroup => launch_tma_gemm(gpu, plan, (a, b_transposed, c), dims),
    }
}

/// Launches a TMA-fed GEMM kernel of gemm.cu, `(m, n, k, a_map, bt_map, c)`, with the tensor maps
/// of A (m, k) and Bᵀ (n, k) in boxes of 128 and 256 rows × 64 columns.
fn launch_tma_gemm(
    gpu: &Gpu,
    Plan { kernel, cfg, .. }: Plan,
    (a, b_transposed, c): (&CudaSlice<bf16>, &CudaSlice<bf16>, &mut CudaSlice<f32>),
    (m, n, k): (usize, usize, usize),
) -> Result<(), CudaError> {
    check_gemm_buffers(kernel, (a.len(), b_transposed.len(), c.len()), (m, n, k))?;
    let (a_ptr, _a) = a.device_ptr(&gpu.stream);
    let (b_ptr, _b) = b_transposed.device_ptr(&gpu.stream);
    let a_map = TensorMap::bf16_tiles(a_ptr, (m, k), 128)?;
    let b_map = TensorMap::bf16_tiles(b_ptr, (n, k), 256)?;
    let f = shared_function(gpu, "gemm.cu", kernel, cfg.shared_mem_bytes)?;
    let (m32, n32, k32) = (m as i32, n as i32, k as i32);
    let mut args = gpu.stream.launch_builder(&f);
    args.arg(&m32).arg(&n32).arg(&k32).arg(&a_map).arg(&b_map).arg(c);
    // Safety: the maps describe A (m, k) and Bᵀ (n, k), which the buffers hold (checked above) and
    // which live until the launch is queued; C holds m·n floats.
    unsafe { run(gpu, kernel, &mut args, cfg) }
}

/// An error unless the device is an sm_90a one (H100, H200): `kernel` uses wgmma.
fn require_sm_90a(gpu: &Gpu, kernel: &str) -> Result<(), CudaError> {
    match gpu.arch {
        "sm_90a" => Ok(()),
        arch => Err(CudaError::Driver(format!("{kernel} needs an sm_90a device (H100, H200), not {arch}"))),
    }
}

/// An error unless buffers of these lengths hold A (m·k), B (k·n) and C (m·n).
fn check_gemm_buffers(
    kernel: &str,
    (a, b, c): (usize, usize, usize),
    (m, n, k): (usize, usize, usize),
) -> Result<(), CudaError> {
    if a < m * k || b < k * n || c < m * n {
        return Err(CudaError::Driver(format!("{kernel}: buffers of {a}, {b} and {c} elements for {m}×{n}×{k}")));
    }
    Ok(())
}

/// A tensor map (TMA): how the copy engine finds a box of a tensor in global memory.
#[repr(C)]
#[derive(Clone, Copy)]
struct TensorMap(cudarc::driver::sys::CUtensorMap);

// Safety: the driver's 128-byte plain struct, passed by value as the kernels' `TensorMap`.
unsafe impl DeviceRepr for TensorMap {}

impl TensorMap {
    /// The row-major bf16 `(rows, cols)` matrix at device address `ptr`, copied in boxes of
    /// `box_rows` rows × 64 columns (128-byte rows), 128-byte swizzled, zeros past the edges.
    fn bf16_tiles(ptr: u64, (rows, cols): (usize, usize), box_rows: u32) -> Result<Self, CudaError> {
        use cudarc::driver::sys::{
            CUtensorMapDataType as Type, CUtensorMapFloatOOBfill as Fill, CUtensorMapInterleave as Interleave,
            CUtensorMapL2promotion as L2, CUtensorMapSwizzle as Swizzle,
        };
        let mut map = std::mem::MaybeUninit::<cudarc::driver::sys::CUtensorMap>::zeroed();
        let (dims, strides) = ([cols as u64, rows as u64], [cols as u64 * 2]);
        let (boxes, element_strides) = ([64u32, box_rows], [1u32, 1]);
        // Safety: every array is as long as rank 2 asks; the map is written by the driver.
        let status = unsafe {
            cudarc::driver::sys::cuTensorMapEncodeTiled(
                map.as_mut_ptr(),
                Type::CU_TENSOR_MAP_DATA_TYPE_BFLOAT16,
                2,
                ptr as *mut std::ffi::c_void,
                dims.as_ptr(),
                strides.as_ptr(),
                boxes.as_ptr(),
                element_strides.as_ptr(),
                Interleave::CU_TENSOR_MAP_INTERLEAVE_NONE,
                Swizzle::CU_TENSOR_MAP_SWIZZLE_128B,
                L2::CU_TENSOR_MAP_L2_PROMOTION_L2_256B,
                Fill::CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE,
            )
        };
        match status {
            cudarc::driver::sys::CUresult::CUDA_SUCCESS => Ok(TensorMap(unsafe { map.assume_init() })),
            e => Err(CudaError::Driver(format!("cuTensorMapEncodeTiled for {rows}×{cols} bf16: {e:?}"))),
        }
    }
}

/// `kernel` of `file`, opted in to `shared_bytes` of dynamic shared memory where that is more than
/// the 48 KB every kernel may have.
fn shared_function(
    gpu: &Gpu,
    file: &str,
    kernel: &'static str,
    shared_bytes: u32,
) -> Result<cudarc::driver::CudaFunction, CudaError> {
    let f = gpu.function(source(file), kernel)?;
    if shared_bytes > 48 * 1024 {
        let most = CUfunction_attribute::CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES;
        f.set_attribute(most, shared_bytes as i32).map_err(|e| launch_error(kernel, e))?;
    }
    Ok(f)
}

/// Launches a tensor-core GEMM kernel of gemm.cu, `(m, n, k, a, b, c)`, once the buffers are
/// checked to hold m·k and k·n bf16 and m·n floats, opting in to more than 48 KB of dynamic shared
/// memory where the plan asks for it.
fn launch_bf16_gemm(
    gpu: &Gpu,
    Plan { kernel, cfg, .. }: Plan,
    (a, b, c): (&CudaSlice<bf16>, &CudaSlice<bf16>, &mut CudaSlice<f32>),
    (m, n, k): (usize, usize, usize),
) -> Result<(), CudaError> {
    check_gemm_buffers(kernel, (a.len(), b.len(), c.len()), (m, n, k))?;
    let f = shared_function(gpu, "gemm.cu", kernel, cfg.shared_mem_bytes)?;
    let (m32, n32, k32) = (m as i32, n as i32, k as i32);
    let mut args = gpu.stream.launch_builder(&f);
    args.arg(&m32).arg(&n32).arg(&k32).arg(a).arg(b).arg(c);
    // Safety: the buffers hold m·k, k·n bf16 and m·n floats (checked above); a block per tile of C.
    unsafe { run(gpu, kernel, &mut args, cfg) }
}

/// Shapes of a fused attention call: `bh` (batch × heads) sequences of `t` queries and `s` keys
/// with head size `d` (≤ 128); q, o `(bh, t, d)` and k, v `(bh, s, d)`, each where its
/// [`HeadLayout`] says. With `causal`, query `i` sees key `j ≤ i + s − t`.
#[derive(Debug, Clone, Copy)]
pub struct AttentionShape {
    pub bh: usize,
    pub t: usize,
    pub s: usize,
    pub d: usize,
    pub causal: bool,
    pub scale: f32,
}

impl AttentionShape {
    pub fn check(&self) -> Result<(), CudaError> {
        if self.d == 0 || self.d > 128 || self.t == 0 || self.s == 0 || self.bh == 0 || (self.causal && self.s < self.t)
        {
            return Err(CudaError::Driver(format!(
                "fused attention needs 0 < d ≤ 128, t, s, bh > 0 and s ≥ t when causal, got {self:?}"
            )));
        }
        Ok(())
    }

    /// Also the tiled and tensor-core kernels' limit, d ≤ 64.
    fn check_for(&self, version: AttentionVersion) -> Result<(), CudaError> {
        self.check()?;
        if version != AttentionVersion::RowPerThread && self.d > 64 {
            return Err(CudaError::Driver(format!("the {version:?} attention kernels need d ≤ 64, got {self:?}")));
        }
        Ok(())
    }

    /// Tiles of `per_block` rows (queries or keys) per block of 4 warps, one block row per sequence.
    fn tiles(&self, n: usize, per_block: usize) -> LaunchConfig {
        LaunchConfig {
            grid_dim: (n.div_ceil(per_block) as u32, self.bh as u32, 1),
            block_dim: (128, 1, 1),
            shared_mem_bytes: 0,
        }
    }

    /// 64 rows (queries or keys) per block, one block row per sequence.
    fn rows(&self, n: usize) -> LaunchConfig {
        LaunchConfig {
            grid_dim: (n.div_ceil(64) as u32, self.bh as u32, 1),
            block_dim: (64, 1, 1),
            shared_mem_bytes: 0,
        }
    }
}

/// The fused attention kernels: the readable version (a thread per query or key, rows in
/// registers) for any d ≤ 128; the tiled one (warps sharing key/value and query tiles in shared
/// memory, FlashAttention-2's loop order) for d ≤ 64; the tiled one with its matrix products on
/// tensor cores (WMMA, bf16 operands, f32 accumulation, every score tile passing through shared
/// memory) for d ≤ 64; FlashAttention-2 proper (mma.sync, whose register layout is known, so
/// scores, probabilities and outputs stay in registers) for d ≤ 64; and the same with the tiles it
/// streams — K and V forward, Q and dO backward — double-buffered through cp.async (the next tile
/// loads while the warps multiply this one), for d ≤ 64 a multiple of 4 and those rows 16-byte
/// aligned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttentionVersion {
    RowPerThread,
    Tiled,
    TensorCores,
    TensorCoresInRegisters,
    Pipelined,
}

impl AttentionVersion {
    /// Every version, the readable one first.
    pub const ALL: [AttentionVersion; 5] = [
        AttentionVersion::RowPerThread,
        AttentionVersion::Tiled,
        AttentionVersion::TensorCores,
        AttentionVersion::TensorCoresInRegisters,
        AttentionVersion::Pipelined,
    ];

    /// Whether the matrix products round their operands to bf16 (tensor cores).
    pub fn is_bf16(self) -> bool {
        matches!(
            self,
            AttentionVersion::TensorCores | AttentionVersion::TensorCoresInRegisters | AttentionVersion::Pipelined
        )
    }

    /// For head size `d`: the tiled kernels where they apply — on tensor cores, in registers, when
    /// bf16 operands are allowed (`bf16`), pipelined where K and V allow it (`pipelinable`: no
    /// [`pipelining_misfit`]), else exact f32 — and the row-per-thread ones otherwise.
    pub fn best_for(d: usize, bf16: bool, pipelinable: bool) -> Self {
        match (d <= 64, bf16) {
            (true, true) if pipelinable => AttentionVersion::Pipelined,
            (true, true) => AttentionVersion::TensorCoresInRegisters,
            (true, false) => AttentionVersion::Tiled,
            (false, _) => AttentionVersion::RowPerThread,
        }
    }
}

/// The version the fused attention must use, by its index in [`AttentionVersion::ALL`]
/// (`u8::MAX`: none, the best one for each call).
static FORCED_ATTENTION_VERSION: AtomicU8 = AtomicU8::new(u8::MAX);

/// Makes every later fused attention use `version` (process-wide), or, given `None`, the best one
/// for its shape and operands again ([`AttentionVersion::best_for`]): to compare the versions end to
/// end (`emergent bench train --attention pipelined`, …).
pub fn force_attention_version(version: Option<AttentionVersion>) {
    let index = version.and_then(|v| AttentionVersion::ALL.iter().position(|&a| a == v)).map_or(u8::MAX, |i| i as u8);
    FORCED_ATTENTION_VERSION.store(index, Ordering::Relaxed);
}

/// The version [`force_attention_version`] set, if any.
pub fn forced_attention_version() -> Option<AttentionVersion> {
    AttentionVersion::ALL.get(FORCED_ATTENTION_VERSION.load(Ordering::Relaxed) as usize).copied()
}

/// A [`HeadLayout`] as the attention kernels read it (`struct Heads` of attention.cu).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
struct KernelHeads {
    offset: i64,
    batch: i64,
    head: i64,
    row: i64,
    heads: i64,
}

// Safety: a plain `#[repr(C)]` struct of integers, the same fields in the same order as the
// kernels' `struct Heads`.
unsafe impl DeviceRepr for KernelHeads {}

/// One operand of the attention kernels: a buffer, and where the rows of its sequences lie in it.
pub type HeadsIn<'a, 'b> = (&'a CudaView<'b, f32>, HeadLayout);

/// Why the pipelined kernels cannot copy the tiles they stream 16 bytes at a time (`None` when they
/// can): every row of those operands — K and V for the forward, Q and dO for the backward — must
/// start 16-byte aligned, and d be a multiple of 4.
pub fn pipelining_misfit(gpu: &Gpu, d: usize, streamed: [(&str, &HeadsIn); 2]) -> Option<String> {
    if !d.is_multiple_of(4) {
        return Some(format!("d = {d} is not a multiple of 4"));
    }
    streamed.iter().find_map(|(name, (buffer, l))| {
        let floats = [l.offset, l.batch_stride, l.head_stride, l.row_stride];
        let (address, _read) = buffer.device_ptr(&gpu.stream);
        (floats.iter().any(|x| !x.is_multiple_of(4)) || !address.is_multiple_of(16))
            .then(|| format!("{name}'s rows are not all 16-byte aligned ({l:?} from address {address:#x})"))
    })
}

impl AttentionShape {
    /// `layout` as the kernels read it, once it is checked to hold `rows × d` matrices for all `bh`
    /// sequences inside a buffer of `len` elements (and, for outputs, `disjoint` ones).
    fn heads(
        &self,
        name: &str,
        layout: HeadLayout,
        rows: usize,
        len: usize,
        disjoint: bool,
    ) -> Result<KernelHeads, CudaError> {
        if let Some(why) = layout.misfit(self.bh, rows, self.d, len, disjoint) {
            return Err(CudaError::Driver(format!("attention {name}: {why}")));
        }
        let i = |x: usize| x as i64;
        Ok(KernelHeads {
            offset: i(layout.offset),
            batch: i(layout.batch_stride),
            head: i(layout.head_stride),
            row: i(layout.row_stride),
            heads: i(layout.heads),
        })
    }
}

/// The pipelined forward's two stages of a 64-key K tile (rows 72 floats apart) and V tile (68).
const PIPELINED_FORWARD_SHARED_BYTES: u32 = 2 * 64 * (72 + 68) * 4;

/// The pipelined backward's dS (32 query rows of 36 bf16 pairs) and Kᵀ (64 rows of 36), then two
/// stages of a 32-query Q and dO tile (rows 72 floats apart) and their rows' L and D.
const PIPELINED_BACKWARD_SHARED_BYTES: u32 = (32 * 36 + 64 * 36) * 4 + 2 * (2 * 32 * 72 + 2 * 32) * 4;

/// The fused attention forward launch.
pub fn attention_forward_plan(version: AttentionVersion, shape: AttentionShape) -> Result<Plan, CudaError> {
    shape.check_for(version)?;
    Ok(match version {
        AttentionVersion::RowPerThread => Plan::new("attention_forward", shape.rows(shape.t)),
        AttentionVersion::Tiled => Plan::new("attention_forward_tiled", shape.tiles(shape.t, 32)),
        AttentionVersion::TensorCores => Plan::new("attention_forward_tensor_cores", shape.tiles(shape.t, 64)),
        AttentionVersion::TensorCoresInRegisters => Plan::new("attention_forward_registers", shape.tiles(shape.t, 64)),
        AttentionVersion::Pipelined => {
            let mut cfg = shape.tiles(shape.t, 64);
            cfg.shared_mem_bytes = PIPELINED_FORWARD_SHARED_BYTES;
            Plan::new("attention_forward_pipelined", cfg)
        }
    })
}

/// The fused attention backward launches, in order: `D = rowsum(dO ⊙ O)`, then the tiled kernel,
/// or dK/dV (a thread per key) and dQ (a thread per query).
pub fn attention_backward_plans(version: AttentionVersion, shape: AttentionShape) -> Result<Vec<Plan>, CudaError> {
    shape.check_for(version)?;
    // D: a warp per query row, 8 to a block.
    let dot = Plan::new("attention_backward_dot", grid((shape.bh * shape.t).div_ceil(8), 256));
    Ok(match version {
        AttentionVersion::Tiled => vec![dot, Plan::new("attention_backward_tiled", shape.tiles(shape.s, 32))],
        AttentionVersion::TensorCores => {
            vec![dot, Plan::new("attention_backward_tensor_cores", shape.tiles(shape.s, 64))]
        }
        AttentionVersion::TensorCoresInRegisters => {
            vec![dot, Plan::new("attention_backward_registers", shape.tiles(shape.s, 64))]
        }
        AttentionVersion::Pipelined => {
            let mut cfg = shape.tiles(shape.s, 64);
            cfg.shared_mem_bytes = PIPELINED_BACKWARD_SHARED_BYTES;
            vec![dot, Plan::new("attention_backward_pipelined", cfg)]
        }
        AttentionVersion::RowPerThread => vec![
            dot,
            Plan::new("attention_backward_dkdv", shape.rows(shape.s)),
            Plan::new("attention_backward_dq", shape.rows(shape.t)),
        ],
    })
}

/// `O = softmax(scale·Q·Kᵀ + M)·V`, written into `o` where its layout says (and rounded to bf16
/// into `o_bf16` when given, the buffer seen as rows of O's row stride), and each row's
/// log-sum-exp `lse (bh, t)`, fused (no t×s matrix). Every layout is checked against its buffer.
pub fn attention_forward(
    gpu: &Gpu,
    version: AttentionVersion,
    shape: AttentionShape,
    [q, k, v]: [HeadsIn; 3],
    (o, o_layout, o_bf16): (&mut CudaSlice<f32>, HeadLayout, Bf16Out),
    lse: &mut CudaSlice<f32>,
) -> Result<(), CudaError> {
    let Plan { kernel, cfg, .. } = attention_forward_plan(version, shape)?;
    let (qh, kh, vh) = (
        shape.heads("q", q.1, shape.t, q.0.len(), false)?,
        shape.heads("k", k.1, shape.s, k.0.len(), false)?,
        shape.heads("v", v.1, shape.s, v.0.len(), false)?,
    );
    let oh = shape.heads("o", o_layout, shape.t, o.len(), true)?;
    if lse.len() < shape.bh * shape.t {
        return Err(CudaError::Driver(format!("attention lse: {} floats for {shape:?}", lse.len())));
    }
    if version == AttentionVersion::Pipelined {
        if let Some(why) = pipelining_misfit(gpu, shape.d, [("k", &k), ("v", &v)]) {
            return Err(CudaError::Driver(format!("the pipelined attention forward: {why}")));
        }
    }
    let f = shared_function(gpu, "attention.cu", kernel, cfg.shared_mem_bytes)?;
    let (t, s, d, causal) = (shape.t as i32, shape.s as i32, shape.d as i32, i32::from(shape.causal));
    let mut args = gpu.stream.launch_builder(&f);
    args.arg(&t).arg(&s).arg(&d).arg(&causal).arg(&shape.scale);
    // O's bf16 copy: the buffer as rows of O's row stride (the (B·T, H·d) input of the output
    // projection, for merged heads).
    let row = o_layout.row_stride.max(1);
    let copy = Bf16Copy::new(gpu, o_bf16, (o.len().div_ceil(row), row))?;
    args.arg(q.0).arg(&qh).arg(k.0).arg(&kh).arg(v.0).arg(&vh).arg(o).arg(&oh).arg(lse).arg(&copy);
    // Safety: every layout lies inside its buffer (checked above), the output's rows are disjoint.
    unsafe { run(gpu, kernel, &mut args, cfg) }
}

/// Gradients of the fused attention: from `dout` and the forward's `o` and `lse`, into one buffer
/// `grads` where its three layouts say (dq `(bh, t, d)`, dk and dv `(bh, s, d)`, e.g. the packed
/// gradient of a qkv projection); `dot` is scratch of `bh·t` floats. The tiled and tensor-core
/// versions add into dq, which must start at zero; dk and dv are written. Every layout is checked
/// against its buffer.
#[allow(clippy::too_many_arguments)]
pub fn attention_backward(
    gpu: &Gpu,
    version: AttentionVersion,
    shape: AttentionShape,
    [q, k, v]: [HeadsIn; 3],
    [o, dout]: [HeadsIn; 2],
    lse: &CudaView<f32>,
    dot: &mut CudaSlice<f32>,
    (grads, [dq, dk, dv]): (&mut CudaSlice<f32>, [HeadLayout; 3]),
) -> Result<(), CudaError> {
    let plans = attention_backward_plans(version, shape)?;
    let (qh, kh, vh) = (
        shape.heads("q", q.1, shape.t, q.0.len(), false)?,
        shape.heads("k", k.1, shape.s, k.0.len(), false)?,
        shape.heads("v", v.1, shape.s, v.0.len(), false)?,
    );
    let (oh, doh) =
        (shape.heads("o", o.1, shape.t, o.0.len(), false)?, shape.heads("dout", dout.1, shape.t, dout.0.len(), false)?);
    let (dqh, dkh, dvh) = (
        shape.heads("dq", dq, shape.t, grads.len(), true)?,
        shape.heads("dk", dk, shape.s, grads.len(), true)?,
        shape.heads("dv", dv, shape.s, grads.len(), true)?,
    );
    let rows = shape.bh * shape.t;
    if lse.len() < rows || dot.len() < rows {
        return Err(CudaError::Driver(format!(
            "attention lse, D: {} and {} floats for {shape:?}",
            lse.len(),
            dot.len()
        )));
    }
    if version == AttentionVersion::Pipelined {
        if let Some(why) = pipelining_misfit(gpu, shape.d, [("q", &q), ("dout", &dout)]) {
            return Err(CudaError::Driver(format!("the pipelined attention backward: {why}")));
        }
    }
    let (t, s, d, causal) = (shape.t as i32, shape.s as i32, shape.d as i32, i32::from(shape.causal));
    let rows = rows as i64;
    for plan in plans {
        let f = shared_function(gpu, "attention.cu", plan.kernel, plan.cfg.shared_mem_bytes)?;
        let mut args = gpu.stream.launch_builder(&f);
        if plan.kernel == "attention_backward_dot" {
            args.arg(&rows).arg(&t).arg(&d).arg(o.0).arg(&oh).arg(dout.0).arg(&doh).arg(&mut *dot);
        } else {
            args.arg(&t).arg(&s).arg(&d).arg(&causal).arg(&shape.scale);
            args.arg(q.0).arg(&qh).arg(k.0).arg(&kh).arg(v.0).arg(&vh).arg(dout.0).arg(&doh);
            args.arg(lse).arg(&*dot).arg(&mut *grads);
            match plan.kernel {
                "attention_backward_tiled"
                | "attention_backward_tensor_cores"
                | "attention_backward_registers"
                | "attention_backward_pipelined" => args.arg(&dqh).arg(&dkh).arg(&dvh),
                "attention_backward_dkdv" => args.arg(&dkh).arg(&dvh),
                _ => args.arg(&dqh),
            };
        }
        // Safety: every layout lies inside its buffer and the gradients' rows are disjoint (checked
        // above); lse and dot hold bh·t floats; each kernel's arguments in the order of its
        // signature.
        unsafe { run(gpu, plan.kernel, &mut args, plan.cfg) }?;
    }
    Ok(())
}
