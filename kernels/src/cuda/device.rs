//! One CUDA device: its context and stream, and its kernels compiled by NVRTC for its own
//! architecture, once per process. Every entry point checks for the driver library first, so a
//! machine without CUDA gets [`CudaError::NoDriver`], never a panic.

use super::{compile, nvrtc_available, CudaError, KernelSource};
use cudarc::cublas::CudaBlas;
use cudarc::driver::{CudaContext, CudaFunction, CudaModule, CudaStream};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

/// A CUDA device ready to run the engine's kernels.
pub struct Gpu {
    pub ctx: Arc<CudaContext>,
    pub stream: Arc<CudaStream>,
    /// E.g. `"sm_90a"` for an H100 (its architecture-specific target), `"sm_80"` for an A100.
    pub arch: &'static str,
    pub name: String,
    modules: Mutex<HashMap<&'static str, Arc<CudaModule>>>,
    /// Each kernel looked up once: `(source, kernel)` → function.
    functions: Mutex<HashMap<(&'static str, &'static str), CudaFunction>>,
    blas: OnceLock<CudaBlas>,
    pub(crate) blas_lt: OnceLock<super::blas_lt::BlasLt>,
    /// Per-kernel device times while profiling (see [`Gpu::launch`]).
    pub(crate) clock: super::profile::KernelClock,
}

/// How f32 matrix products run on the GPU (on the CPU, `Bf16` means bf16 operands with f32 sums,
/// [`crate::gemm::gemm_bf16`]; the others are GPU-only).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MatmulPrecision {
    /// f32 inputs, f32 math: exact to f32 (for parity with the CPU).
    #[default]
    F32,
    /// TF32 tensor cores: inputs rounded to a 10-bit mantissa, f32 accumulation.
    Tf32,
    /// bf16 tensor cores: inputs rounded to bf16 (8-bit mantissa) for the product, f32
    /// accumulation and f32 results; weights stay f32 (the master copy the optimizer updates).
    /// The fused attention's products run on tensor cores too (bf16 Q, K, V, P, dO, dS; d ≤ 64).
    Bf16,
    /// As `Bf16`, but cuBLAS rounds the f32 operands to bf16 itself, inside the product
    /// (`CUBLAS_COMPUTE_32F_FAST_16BF`), instead of our conversion passes writing bf16 copies
    /// first: less memory traffic, cuBLAS's choice of kernels and rounding.
    Bf16InCublas,
}

impl MatmulPrecision {
    /// The name `--precision` takes.
    pub fn name(self) -> &'static str {
        match self {
            MatmulPrecision::F32 => "f32",
            MatmulPrecision::Tf32 => "tf32",
            MatmulPrecision::Bf16 => "bf16",
            MatmulPrecision::Bf16InCublas => "bf16-in-cublas",
        }
    }

    /// Whether products take bf16 operands (either way of rounding them).
    pub fn is_bf16(self) -> bool {
        matches!(self, MatmulPrecision::Bf16 | MatmulPrecision::Bf16InCublas)
    }
}

/// Whether the CUDA driver library (libcuda.so) can be loaded (with the `emulator` feature, the
/// emulated one when `EMERGENT_EMULATE_CUDA=1` asks for it).
pub fn driver_available() -> bool {
    #[cfg(feature = "emulator")]
    super::emulated::install_if_requested();
    // Safety: only tries to open the shared library.
    unsafe { cudarc::driver::sys::is_culib_present() }
}

/// NVRTC's name for compute capability `major.minor`; the architectures this engine targets get a
/// static name, others one leaked string (once per device per process).
fn arch_name(major: i32, minor: i32) -> &'static str {
    match (major, minor) {
        (7, 0) => "sm_70",
        (7, 5) => "sm_75",
        (8, 0) => "sm_80",
        (8, 6) => "sm_86",
        (8, 9) => "sm_89",
        // The H100's architecture-specific target: its kernels may use wgmma (they run on 9.0 only).
        (9, 0) => "sm_90a",
        (10, 0) => "sm_100",
        (12, 0) => "sm_120",
        _ => Box::leak(format!("sm_{major}{minor}").into_boxed_str()),
    }
}

/// Folders searched for CUDA headers (`cuda_bf16.h`, `mma.h`): `$CUDA_INCLUDE_DIR`, then the
/// toolkit's usual place.
pub fn include_paths() -> Vec<String> {
    let candidates = [std::env::var("CUDA_INCLUDE_DIR").ok(), Some("/usr/local/cuda/include".to_string())];
    candidates.into_iter().flatten().filter(|p| std::path::Path::new(p).join("cuda_bf16.h").exists()).collect()
}

fn driver_error(what: &str, e: impl std::fmt::Debug) -> CudaError {
    CudaError::Driver(format!("{what}: {e:?}"))
}

/// Makes the device's memory pool keep the memory freed into it. Buffers are allocated and freed
/// in stream order from that pool (cudarc's `cuMemAllocAsync`), and by default (release threshold
/// 0) the pool hands all its free memory back to the system at every synchronization: each
/// training step, which synchronizes to read its loss, would map its activations' gigabytes anew.
/// With no threshold the pool caches them, as PyTorch's caching allocator does.
fn keep_freed_memory(ctx: &CudaContext) -> Result<(), CudaError> {
    use cudarc::driver::{result::device, result::mem_pool, sys::CUmemPool_attribute};
    let mut threshold = u64::MAX;
    // Safety: the context's own device; the release threshold attribute is a u64.
    unsafe {
        let pool =
            device::get_default_mem_pool(ctx.cu_device()).map_err(|e| driver_error("finding the memory pool", e))?;
        mem_pool::set_attribute(
            pool,
            CUmemPool_attribute::CU_MEMPOOL_ATTR_RELEASE_THRESHOLD,
            (&mut threshold as *mut u64).cast(),
        )
        .map_err(|e| driver_error("setting the memory pool's release threshold", e))
    }
}

impl Gpu {
    /// Device `ordinal` (0 = the first GPU).
    pub fn new(ordinal: usize) -> Result<Self, CudaError> {
        if !driver_available() {
            return Err(CudaError::NoDriver);
        }
        let count = CudaContext::device_count().map_err(|e| driver_error("counting devices", e))?;
        if ordinal >= count.max(0) as usize {
            return Err(CudaError::NoDevice { ordinal, count: count.max(0) as usize });
        }
        let ctx = CudaContext::new(ordinal).map_err(|e| driver_error("creating a context", e))?;
        let (major, minor) = ctx.compute_capability().map_err(|e| driver_error("reading the architecture", e))?;
        let name = ctx.name().map_err(|e| driver_error("reading the device name", e))?;
        // One stream per device: cudarc's per-buffer events (which order work across streams) are
        // pure overhead here.
        // Safety: every buffer of this context is used on its one stream.
        unsafe { ctx.disable_event_tracking() };
        let stream = ctx.default_stream();
        if ctx.has_async_alloc() {
            keep_freed_memory(&ctx)?;
        }
        Ok(Self {
            ctx,
            stream,
            arch: arch_name(major, minor),
            name,
            modules: Mutex::new(HashMap::new()),
            functions: Mutex::new(HashMap::new()),
            blas: OnceLock::new(),
            blas_lt: OnceLock::new(),
            clock: Default::default(),
        })
    }

    /// Device `ordinal`, opened once per process and shared (tensors on it hold an `Arc`).
    pub fn shared(ordinal: usize) -> Result<Arc<Self>, CudaError> {
        static DEVICES: Mutex<Vec<(usize, Arc<Gpu>)>> = Mutex::new(Vec::new());
        let mut devices = DEVICES.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, gpu)) = devices.iter().find(|(o, _)| *o == ordinal) {
            return Ok(gpu.clone());
        }
        let gpu = Arc::new(Self::new(ordinal)?);
        devices.push((ordinal, gpu.clone()));
        Ok(gpu)
    }

    /// The cuBLAS handle on this device's stream (created on first use), with TF32 tensor-core
    /// math on when `precision` says so.
    pub fn blas(&self, precision: MatmulPrecision) -> Result<&CudaBlas, CudaError> {
        if self.blas.get().is_none() {
            // Safety: only tries to open the shared library.
            if !unsafe { cudarc::cublas::sys::is_culib_present() } {
                return Err(CudaError::Driver("cuBLAS (libcublas.so) not found".into()));
            }
            let blas = CudaBlas::new(self.stream.clone()).map_err(|e| driver_error("starting cuBLAS", e))?;
            let _ = self.blas.set(blas);
        }
        let blas = self.blas.get().expect("set above");
        let mode = if precision == MatmulPrecision::Tf32 {
            cudarc::cublas::sys::cublasMath_t::CUBLAS_TF32_TENSOR_OP_MATH
        } else {
            cudarc::cublas::sys::cublasMath_t::CUBLAS_DEFAULT_MATH
        };
        // Safety: a valid handle; setting the math mode has no other effect.
        let status = unsafe { cudarc::cublas::sys::cublasSetMathMode(*blas.handle(), mode) };
        if status != cudarc::cublas::sys::cublasStatus_t::CUBLAS_STATUS_SUCCESS {
            return Err(CudaError::Driver(format!("setting the cuBLAS math mode: {status:?}")));
        }
        Ok(blas)
    }

    /// How many bytes of freed memory the device's memory pool keeps through a synchronization
    /// (`u64::MAX` once `keep_freed_memory` has run; `None` without stream-ordered allocation).
    pub fn memory_pool_release_threshold(&self) -> Result<Option<u64>, CudaError> {
        use cudarc::driver::{result::device, result::mem_pool, sys::CUmemPool_attribute};
        if !self.ctx.has_async_alloc() {
            return Ok(None);
        }
        let mut threshold = 0u64;
        // Safety: the context's own device; the release threshold attribute is a u64.
        unsafe {
            let pool = device::get_default_mem_pool(self.ctx.cu_device())
                .map_err(|e| driver_error("finding the memory pool", e))?;
            mem_pool::get_attribute(
                pool,
                CUmemPool_attribute::CU_MEMPOOL_ATTR_RELEASE_THRESHOLD,
                (&mut threshold as *mut u64).cast(),
            )
            .map_err(|e| driver_error("reading the memory pool's release threshold", e))?;
        }
        Ok(Some(threshold))
    }

    /// The compute capability as one number, major·10 + minor (90 for an H100), read from
    /// [`arch`](Self::arch).
    pub fn compute_capability(&self) -> u32 {
        let digits: String = self.arch.trim_start_matches("sm_").chars().take_while(char::is_ascii_digit).collect();
        digits.parse().unwrap_or(0)
    }

    /// Waits for all work queued on this device's stream.
    pub fn synchronize(&self) -> Result<(), CudaError> {
        self.stream.synchronize().map_err(|e| driver_error("synchronizing", e))
    }

    /// The kernel `kernel` of `source`, compiling and loading the source on first use.
    pub fn function(&self, source: &KernelSource, kernel: &'static str) -> Result<CudaFunction, CudaError> {
        let key = (source.name, kernel);
        if let Some(f) = self.functions.lock().unwrap_or_else(|e| e.into_inner()).get(&key) {
            return Ok(f.clone());
        }
        if !nvrtc_available() {
            return Err(CudaError::NoNvrtc);
        }
        let mut modules = self.modules.lock().unwrap_or_else(|e| e.into_inner());
        let module = match modules.get(source.name) {
            Some(m) => m.clone(),
            None => {
                let ptx = compile(source, self.arch, &include_paths())?;
                let module = self
                    .ctx
                    .load_module(cudarc::nvrtc::Ptx::from_src(ptx))
                    .map_err(|e| driver_error(&format!("loading {}", source.name), e))?;
                modules.insert(source.name, module.clone());
                module
            }
        };
        let f = module
            .load_function(kernel)
            .map_err(|e| driver_error(&format!("finding {kernel} in {}", source.name), e))?;
        self.functions.lock().unwrap_or_else(|e| e.into_inner()).insert(key, f.clone());
        Ok(f)
    }
}
