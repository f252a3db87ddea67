//! GEMM launches: the f32 versions, the WMMA tensor-core versions, and Hopper's warpgroup MMA fed
//! by `cp.async` or by the tensor memory accelerator.

use super::tensor_map::TensorMap;
use crate::cuda::cost::{Cost, Math};
use crate::cuda::launch::{run, shared_function, Plan};
use crate::cuda::{source, CudaError, Gpu};
use cudarc::driver::{CudaSlice, DevicePtr, LaunchConfig, PushKernelArg};
use half::bf16;

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
    let cost = Cost::product((1, m, n, k), (4 * m * k, 4 * k * n), 4, false, Math::CudaCores);
    // Safety: buffers hold m·k, k·n and m·n floats.
    unsafe { run(gpu, kernel, &mut args, cfg, cost) }
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
    let (kernel, tile, threads, shared) = match version {
        WmmaVersion::Direct => ("gemm_wmma_bf16", (32, 32), 128, 0),
        WmmaVersion::SharedTiles => ("gemm_wmma_bf16_tiled", (128, 128), 256, 0),
        WmmaVersion::Pipelined => ("gemm_wmma_bf16_pipelined", (128, 128), 256, 2 * gemm_stage_bytes(128, 128)),
        WmmaVersion::WidePipelined => ("gemm_wmma_bf16_wide", (128, 256), 256, 4 * gemm_stage_bytes(128, 256)),
    };
    tensor_core_plan(kernel, (m, n, k), tile, threads, shared)
}

/// A tensor-core GEMM's launch: a block of `threads` per `(rows, cols)` tile of C (m × n), with
/// `shared` bytes of dynamic shared memory, once m, n and k are checked to be multiples of 16.
fn tensor_core_plan(
    kernel: &'static str,
    (m, n, k): (usize, usize, usize),
    (rows, cols): (usize, usize),
    threads: u32,
    shared: u32,
) -> Result<Plan, CudaError> {
    if !(m.is_multiple_of(16) && n.is_multiple_of(16) && k.is_multiple_of(16)) {
        return Err(CudaError::Driver(format!("{kernel} needs multiples of 16, got {m}×{n}×{k}")));
    }
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
    let stages = (4 * (128 + 256) * 64 * 2 + 1024) as u32;
    let (kernel, threads, barriers) = match version {
        WgmmaVersion::CpAsync => ("gemm_wgmma_bf16", 256, 0),
        WgmmaVersion::Tma => ("gemm_wgmma_tma_bf16", 256, 4),
        WgmmaVersion::TmaLoadingWarpgroup => ("gemm_wgmma_specialized_bf16", 384, 8),
    };
    tensor_core_plan(kernel, (m, n, k), (128, 256), threads, stages + 8 * barriers)
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
    let cost = Cost::product((1, m, n, k), (2 * m * k, 2 * k * n), 4, false, Math::Bf16TensorCores);
    // Safety: the maps describe A (m, k) and Bᵀ (n, k), which the buffers hold (checked above) and
    // which live until the launch is queued; C holds m·n floats.
    unsafe { run(gpu, kernel, &mut args, cfg, cost) }
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
    let cost = Cost::product((1, m, n, k), (2 * m * k, 2 * k * n), 4, false, Math::Bf16TensorCores);
    // Safety: the buffers hold m·k, k·n bf16 and m·n floats (checked above); a block per tile of C.
    unsafe { run(gpu, kernel, &mut args, cfg, cost) }
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
