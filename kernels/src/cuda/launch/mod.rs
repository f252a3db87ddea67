//! Host-side launches of the kernels: grid and block shapes chosen for each, arguments in the
//! order the `.cu` signatures take them. Buffers are dense, row-major, on `gpu`'s stream. This
//! module holds what every launch shares (plans, launching, bf16 copies); one file per kernel
//! family holds its launches.

use super::cost::Cost;
use super::{source, CudaError, Gpu};
use cudarc::driver::sys::{self, CUfunction_attribute};
use cudarc::driver::{CudaFunction, CudaSlice, DevicePtrMut, DeviceRepr, LaunchArgs, LaunchConfig};
use half::bf16;
use std::ffi::c_void;

pub(crate) fn launch_error(kernel: &str, e: impl std::fmt::Debug) -> CudaError {
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
    pub(crate) fn new(kernel: &'static str, cfg: LaunchConfig) -> Self {
        Self { kernel, cfg, cluster: 1 }
    }
}

/// Launches `args` over `cfg` as `kernel`, which moves and computes `cost`, timed when the GPU is
/// profiling ([`Gpu::launch`]).
///
/// # Safety
/// As for cudarc's `LaunchArgs::launch`: the arguments match the kernel's signature and the
/// buffers are as large as the launch reads and writes.
pub(crate) unsafe fn run(
    gpu: &Gpu,
    kernel: &str,
    args: &mut LaunchArgs<'_>,
    cfg: LaunchConfig,
    cost: Cost,
) -> Result<(), CudaError> {
    // Safety: as the caller vouches.
    gpu.launch(kernel, cost, || unsafe { args.launch(cfg) }.map(drop).map_err(|e| launch_error(kernel, e)))
}

/// A kernel parameter as the driver takes it: the address of its value.
pub(crate) fn param<T>(value: &T) -> *mut c_void {
    (value as *const T).cast_mut().cast()
}

/// Launches `f` as `plan` says, in clusters of `plan.cluster` consecutive blocks along x (Hopper's
/// thread-block clusters, through cuLaunchKernelEx's cluster dimension; clusters.cuh), timed when
/// the GPU is profiling. Devices before sm_90 have no clusters: refused.
///
/// # Safety
/// `params` points at the kernel's parameters in the order of its signature, and the buffers are
/// as large as the launch reads and writes.
pub(crate) unsafe fn run_in_clusters(
    gpu: &Gpu,
    f: &CudaFunction,
    Plan { kernel, cfg, cluster }: Plan,
    params: &mut [*mut c_void],
    cost: Cost,
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
    gpu.launch(kernel, cost, || {
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

    /// The bytes this copy adds to a launch whose output has `elements` values (0 without a copy).
    pub fn bytes(&self, elements: usize) -> usize {
        if self.data == 0 {
            0
        } else {
            2 * elements
        }
    }
}

/// `kernel` of `file`, opted in to `shared_bytes` of dynamic shared memory where that is more than
/// the 48 KB every kernel may have.
pub(crate) fn shared_function(
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
