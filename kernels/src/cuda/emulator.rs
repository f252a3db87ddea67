//! The CUDA emulator: the kernel sources, unchanged, compiled by the host's C++ compiler and run
//! on the CPU, so their logic is tested on machines without a GPU (CI among them) and can be
//! stepped through in a debugger.
//!
//! `emulator/cuda_emulator.hpp` supplies what CUDA adds to C++: `threadIdx` and friends, `__shared__`
//! as `static`, `__syncthreads`, warp shuffles, atomics, bf16 (`cuda_bf16.h`) and WMMA (`mma.h`).
//! Every thread of a block is a fiber with its own stack; the fibers switch only at barriers and
//! each round visits them in a shuffled order, so a missing `__syncthreads` shows as a wrong result.
//! Blocks run one after another. Pointers are host pointers: kernels read and write the slices
//! handed to [`Args`] (or, through the emulated driver of [`super::emulated_cuda`], its buffers).
//! What it cannot tell: speed, and races the hardware's memory model would expose between
//! barriers.
//!
//! A source is compiled once per process (`g++ -O2 -g`, or `$CXX`), into a cache folder under the
//! system's temporary directory named by a hash of everything that went in; the C++ it compiled
//! stays there as `kernels.cpp`, for the debugger.

use super::{CudaError, KernelSource};
use cudarc::driver::LaunchConfig;
use std::any::Any;
use std::collections::HashMap;
use std::ffi::{c_char, c_int, c_void, CString};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

const HEADERS: [(&str, &str); 4] = [
    ("cuda_emulator.hpp", include_str!("emulator/cuda_emulator.hpp")),
    ("cuda_bf16.h", include_str!("emulator/cuda_bf16.h")),
    ("mma.h", include_str!("emulator/mma.h")),
    ("tensor_map.h", include_str!("emulator/tensor_map.h")),
];

/// The version of the way a library is built (see `compile`).
const BUILD: u32 = 4;

type LaunchFn =
    unsafe extern "C" fn(*const c_char, *const u32, *const u32, usize, u32, *mut *mut c_void, usize) -> c_int;
type FaultFn = unsafe extern "C" fn() -> *const c_char;

/// One kernel source, compiled for the CPU.
pub struct Emulator {
    source: &'static str,
    // The library stays loaded while its functions may be called; launches take turns (the
    // emulator's thread coordinates are globals of the library).
    _library: libloading::Library,
    functions: Mutex<(LaunchFn, FaultFn)>,
}

/// The emulator of `source`, compiled on first use in this process.
pub fn emulator(source: &'static KernelSource) -> Result<Arc<Emulator>, CudaError> {
    type Cell = Arc<OnceLock<Result<Arc<Emulator>, CudaError>>>;
    static CACHE: OnceLock<Mutex<HashMap<&'static str, Cell>>> = OnceLock::new();
    let cell = CACHE.get_or_init(Default::default).lock().unwrap().entry(source.name).or_default().clone();
    // Other sources compile meanwhile; callers of this one wait for it.
    cell.get_or_init(|| Emulator::build(source).map(Arc::new)).clone()
}

impl Emulator {
    fn build(source: &'static KernelSource) -> Result<Self, CudaError> {
        let program = translation_unit(source);
        // Hidden symbols: each library keeps its own emulator state (inline variables would otherwise
        // be shared by every library the process loads).
        let flags = ["-O2", "-fvisibility=hidden", "-fno-gnu-unique"];
        let library = build_library(source.name, "kernels", &program, &flags)
            .map_err(|e| CudaError::Emulator(format!("building {}: {e}", source.name)))?;
        let open_error = |e: libloading::Error| CudaError::Emulator(format!("loading {}: {e}", library.display()));
        // Safety: a library built just now (or earlier from the same inputs) by the code above;
        // loading it runs no initialisers beyond the C++ runtime's.
        let lib = unsafe { libloading::Library::new(&library) }.map_err(open_error)?;
        // Safety: `emu_launch` is defined by `translation_unit` with exactly this signature.
        let launch_fn = *unsafe { lib.get::<LaunchFn>(b"emu_launch\0") }.map_err(open_error)?;
        // Safety: `emu_fault` is defined by `translation_unit` with exactly this signature.
        let fault_fn = *unsafe { lib.get::<FaultFn>(b"emu_fault\0") }.map_err(open_error)?;
        Ok(Self { source: source.name, _library: lib, functions: Mutex::new((launch_fn, fault_fn)) })
    }

    /// Runs `kernel` over the grid of `cfg` with `args` in the order of its signature.
    ///
    /// # Safety
    /// The arguments must match the kernel's parameters in number, order and type, and the slices
    /// must be as large as the launch reads and writes (an access outside them is undefined
    /// behaviour on the host, as it would be on the GPU).
    pub unsafe fn launch(&self, kernel: &str, cfg: LaunchConfig, args: &mut Args<'_>) -> Result<(), CudaError> {
        // Safety: as the caller vouches.
        unsafe { self.launch_in_clusters(kernel, cfg, 1, args) }
    }

    /// [`launch`](Self::launch) in clusters of `cluster` blocks along x (Hopper's thread-block
    /// clusters): the blocks of each cluster run together.
    ///
    /// # Safety
    /// As for `launch`.
    pub unsafe fn launch_in_clusters(
        &self,
        kernel: &str,
        cfg: LaunchConfig,
        cluster: u32,
        args: &mut Args<'_>,
    ) -> Result<(), CudaError> {
        let grid = [cfg.grid_dim.0, cfg.grid_dim.1, cfg.grid_dim.2];
        let block = [cfg.block_dim.0, cfg.block_dim.1, cfg.block_dim.2];
        let mut params = args.pointers();
        let shape = Shape { grid, block, shared_bytes: cfg.shared_mem_bytes as usize, cluster };
        // Safety: as the caller vouches; `params` points at values that live as long as `args`.
        unsafe { self.launch_params(kernel, shape, params.as_mut_ptr(), Some(params.len())) }
    }

    /// [`launch`](Self::launch) with the arguments as CUDA's launch takes them: `params[i]`
    /// points at the i-th argument; `count`, when known, is checked against the kernel's.
    ///
    /// # Safety
    /// As for `launch`; `params` points at as many pointers as the kernel takes.
    pub unsafe fn launch_params(
        &self,
        kernel: &str,
        Shape { grid, block, shared_bytes, cluster }: Shape,
        params: *mut *mut c_void,
        count: Option<usize>,
    ) -> Result<(), CudaError> {
        let name = CString::new(kernel).map_err(|_| CudaError::Emulator(format!("bad kernel name {kernel:?}")))?;
        let threads = block.iter().map(|&b| b as u64).product::<u64>();
        if grid.contains(&0) || threads == 0 || threads > 1024 {
            return Err(CudaError::Emulator(format!(
                "{kernel}: bad launch shape, grid {grid:?}, block {block:?} (1 to 1024 threads a block)"
            )));
        }
        let functions = self.functions.lock().unwrap_or_else(|e| e.into_inner());
        let (launch_fn, fault_fn) = *functions;
        let count = count.unwrap_or(usize::MAX);
        // Safety: as the caller vouches.
        let status =
            unsafe { launch_fn(name.as_ptr(), grid.as_ptr(), block.as_ptr(), shared_bytes, cluster, params, count) };
        match status {
            0 => Ok(()),
            1 => Err(CudaError::Emulator(format!("{kernel}: the threads of a block deadlocked at a barrier"))),
            2 => Err(CudaError::Emulator(format!("{kernel}: no memory for the threads' stacks"))),
            3..=5 => {
                // Safety: `emu_fault` returns the library's NUL-terminated message buffer, which
                // the lock keeps from changing while it is read.
                let message = unsafe { std::ffi::CStr::from_ptr(fault_fn()) }.to_string_lossy().into_owned();
                Err(CudaError::Emulator(format!("{kernel}: {message}")))
            }
            _ => Err(CudaError::Emulator(format!("{}: no kernel {kernel}", self.source))),
        }
    }
}

/// A launch's shape: blocks in the grid, threads in a block, bytes of dynamic shared memory a
/// block, and blocks in a cluster along x (1: no clusters).
#[derive(Debug, Clone, Copy)]
pub struct Shape {
    pub grid: [u32; 3],
    pub block: [u32; 3],
    pub shared_bytes: usize,
    pub cluster: u32,
}

/// The source as a C++ file: the emulator's header, the kernels (dynamic shared memory rewritten
/// to the emulator's buffer) `emu_launch`, which finds a kernel by name, and `emu_fault`, the
/// message of a broken contract.
fn translation_unit(source: &KernelSource) -> String {
    let mut out = String::from("#include \"cuda_emulator.hpp\"\n");
    for line in source.source.lines() {
        out.push_str(&dynamic_shared(line).unwrap_or_else(|| line.to_string()));
        out.push('\n');
    }
    out.push_str(
        "EMU_EXPORT int emu_launch(const char* kernel, const unsigned* grid, const unsigned* block, size_t shared, \
         unsigned cluster, void** params, size_t count) {\n",
    );
    for kernel in source.kernels {
        out.push_str(&format!(
            "    if (strcmp(kernel, \"{kernel}\") == 0) return emu::launch({kernel}, grid, block, shared, cluster, params, count);\n"
        ));
    }
    out.push_str("    return -1;\n}\n");
    out.push_str("EMU_EXPORT const char* emu_fault() { return emu::fault_message; }\n");
    out
}

/// `extern __shared__ [__align__(n)] T name[];` → `T* name = (T*)emu::dynamic_shared();` (aligned to
/// 128 bytes, the most a kernel asks for), else `None`.
fn dynamic_shared(line: &str) -> Option<String> {
    let declaration = line.trim().strip_prefix("extern __shared__ ")?.strip_suffix("[];")?;
    let declaration = match declaration.strip_prefix("__align__(") {
        Some(rest) => rest.split_once(") ")?.1,
        None => declaration,
    };
    let (ty, name) = declaration.rsplit_once(' ')?;
    let indent = &line[..line.len() - line.trim_start().len()];
    Some(format!("{indent}{ty}* {name} = static_cast<{ty}*>(emu::dynamic_shared());"))
}

/// `program` (with the emulator's headers beside it) compiled into a shared library
/// `<stem>.so` in a cache folder named by `label` and a hash of everything that goes in, and that
/// library's path; built unless it is there already.
pub(super) fn build_library(label: &str, stem: &str, program: &str, flags: &[&str]) -> Result<PathBuf, String> {
    let compiler = std::env::var("CXX").unwrap_or_else(|_| "g++".into());
    let flags: Vec<&str> = ["-std=c++17", "-g", "-fPIC", "-shared", "-w"].iter().chain(flags).copied().collect();
    let key = {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        // BUILD changes when `compile` does, so libraries built the old way are not reused.
        (BUILD, program, HEADERS, &compiler, &flags).hash(&mut h);
        h.finish()
    };
    let dir = std::env::temp_dir().join("emergent-emulator").join(format!("{label}-{key:016x}"));
    let library = dir.join(format!("{stem}.so"));
    if !library.exists() {
        compile(&dir, stem, program, &compiler, &flags, &library)?;
    }
    Ok(library)
}

/// Writes the headers and the program into `dir` and compiles them into `library` (through
/// temporary names, so a concurrent build never sees half a library). The program stays beside
/// it as `<stem>.cpp`, where the debugger looks for it.
fn compile(
    dir: &Path,
    stem: &str,
    program: &str,
    compiler: &str,
    flags: &[&str],
    library: &Path,
) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    for (name, text) in HEADERS {
        std::fs::write(dir.join(name), text).map_err(|e| format!("{name}: {e}"))?;
    }
    let unique = format!("{}-{:?}", std::process::id(), std::thread::current().id());
    let cpp = dir.join(format!("{stem}-{unique}.cpp"));
    let partial: PathBuf = dir.join(format!("{stem}-{unique}.so.partial"));
    std::fs::write(&cpp, program).map_err(|e| format!("{}: {e}", cpp.display()))?;
    let source = dir.join(format!("{stem}.cpp"));
    let output = std::process::Command::new(compiler)
        .args(flags)
        .arg(format!("-fdebug-prefix-map={}={}", cpp.display(), source.display()))
        .arg("-I")
        .arg(dir)
        .arg("-o")
        .arg(&partial)
        .arg(&cpp)
        .output()
        .map_err(|e| format!("running {compiler} (a C++17 compiler; set CXX to choose another): {e}"))?;
    if !output.status.success() {
        let _ = std::fs::remove_file(&cpp);
        return Err(format!("{compiler} failed:\n{}", String::from_utf8_lossy(&output.stderr)));
    }
    std::fs::rename(&cpp, &source).map_err(|e| format!("{}: {e}", source.display()))?;
    std::fs::rename(&partial, library).map_err(|e| format!("{}: {e}", library.display()))
}

/// A kernel's arguments, in the order of its signature: scalars by value, buffers as the slices
/// the kernel reads or writes (borrowed for as long as the arguments live).
#[derive(Default)]
pub struct Args<'a> {
    values: Vec<Box<dyn Any>>,
    _buffers: std::marker::PhantomData<&'a mut ()>,
}

impl<'a> Args<'a> {
    pub fn new() -> Self {
        Self::default()
    }

    /// A scalar (or plain `#[repr(C)]` struct) passed by value.
    pub fn value<T: Copy + 'static>(&mut self, v: T) -> &mut Self {
        self.values.push(Box::new(v));
        self
    }

    /// A buffer the kernel reads.
    pub fn slice<T: 'static>(&mut self, s: &'a [T]) -> &mut Self {
        self.value(s.as_ptr())
    }

    /// A buffer the kernel writes.
    pub fn slice_mut<T: 'static>(&mut self, s: &'a mut [T]) -> &mut Self {
        self.value(s.as_mut_ptr())
    }

    /// A null pointer (an optional buffer left out).
    pub fn null(&mut self) -> &mut Self {
        self.value(std::ptr::null::<c_void>())
    }

    /// The address of each value, as CUDA's launch takes them.
    fn pointers(&mut self) -> Vec<*mut c_void> {
        self.values.iter_mut().map(|b| (&mut **b as *mut dyn Any).cast::<c_void>()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dynamic_shared_memory_becomes_the_emulators_buffer() {
        assert_eq!(
            dynamic_shared("    extern __shared__ float partials[];").as_deref(),
            Some("    float* partials = static_cast<float*>(emu::dynamic_shared());")
        );
        assert_eq!(
            dynamic_shared("  extern __shared__ __align__(128) __nv_bfloat16 stages[];").as_deref(),
            Some("  __nv_bfloat16* stages = static_cast<__nv_bfloat16*>(emu::dynamic_shared());")
        );
        assert_eq!(dynamic_shared("    __shared__ float tile[32];"), None);
    }

    #[test]
    fn the_launcher_knows_every_kernel_of_the_source() {
        let unit = translation_unit(super::super::source("softmax.cu"));
        assert!(unit.starts_with("#include \"cuda_emulator.hpp\""));
        for kernel in super::super::source("softmax.cu").kernels {
            assert!(unit.contains(&format!("emu::launch({kernel},")), "{kernel}");
        }
    }
}
