//! One CUDA device: its context and stream, and its kernels compiled by NVRTC for its own
//! architecture, once per process. Every entry point checks for the driver library first, so a
//! machine without CUDA gets [`CudaError::NoDriver`], never a panic.

use super::{compile, nvrtc_available, CudaError, KernelSource};
use cudarc::driver::{CudaContext, CudaFunction, CudaModule, CudaStream};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// A CUDA device ready to run the engine's kernels.
pub struct Gpu {
    pub ctx: Arc<CudaContext>,
    pub stream: Arc<CudaStream>,
    /// E.g. `"sm_90"` for an H100.
    pub arch: &'static str,
    pub name: String,
    modules: Mutex<HashMap<&'static str, Arc<CudaModule>>>,
}

/// Whether the CUDA driver library (libcuda.so) can be loaded.
pub fn driver_available() -> bool {
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
        (9, 0) => "sm_90",
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
        let stream = ctx.default_stream();
        Ok(Self { ctx, stream, arch: arch_name(major, minor), name, modules: Mutex::new(HashMap::new()) })
    }

    /// The kernel `kernel` of `source`, compiling and loading the source on first use.
    pub fn function(&self, source: &KernelSource, kernel: &str) -> Result<CudaFunction, CudaError> {
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
        module.load_function(kernel).map_err(|e| driver_error(&format!("finding {kernel} in {}", source.name), e))
    }
}
