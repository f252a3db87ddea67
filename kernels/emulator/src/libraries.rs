//! The CUDA libraries the engine loads — the driver, NVRTC, cuBLAS and cuBLASLt — emulated on the CPU
//! (`cpp/fake_cuda.cpp`), so the engine's whole GPU path, cudarc included, runs and is tested on
//! machines without a GPU. Kernel launches run on the [emulator](crate::emulator); cuBLAS products
//! are plain loops.
//!
//! cudarc opens the libraries by bare name (`libcuda.so`, …); a library already loaded under that
//! SONAME is what such an open returns, so loading the emulated ones first, from their build
//! folder, puts them in place of the real ones for the rest of the process.

use crate::compile::build_library;
use crate::{emulator, Emulator, Error, Shape, Source};
use std::ffi::{c_char, c_int, c_void, CStr};
use std::sync::OnceLock;

/// The name of the emulated device (as `fake_cuda.cpp` reports it).
pub const DEVICE_NAME: &str = "CUDA emulator (CPU)";

/// Where the driver's module load finds a source by name.
static SOURCES: OnceLock<fn(&str) -> Option<Source>> = OnceLock::new();

/// Builds and loads the emulated driver, NVRTC, cuBLAS and cuBLASLt in place of the real ones, for
/// the rest of the process (once; later calls return the first call's result). The emulated NVRTC
/// "compiles" a source to its name; the driver's module load finds it through `sources`.
pub fn install_libraries(sources: fn(&str) -> Option<Source>) -> Result<(), Error> {
    static INSTALLED: OnceLock<Result<(), Error>> = OnceLock::new();
    SOURCES.get_or_init(|| sources);
    INSTALLED.get_or_init(load_libraries).clone()
}

fn load_libraries() -> Result<(), Error> {
    let error = |e: String| Error(format!("the emulated CUDA libraries: {e}"));
    let program = include_str!("../cpp/fake_cuda.cpp");
    let mut driver = None;
    for stem in ["libcuda", "libnvrtc", "libcublas", "libcublasLt"] {
        let soname = format!("-Wl,-soname,{stem}.so");
        let path = build_library(&format!("{stem}-emulated"), stem, program, &["-O2", "-fvisibility=hidden", &soname])
            .map_err(error)?;
        // Safety: the library built above from fake_cuda.cpp; it has no initialisers.
        let library = unsafe { libloading::Library::new(&path) }.map_err(|e| error(e.to_string()))?;
        if stem == "libcuda" {
            type SetCallbacks = unsafe extern "C" fn(ModuleLoader, Launcher);
            // Safety: fake_cuda.cpp defines `emu_set_callbacks` with this signature.
            let set =
                *unsafe { library.get::<SetCallbacks>(b"emu_set_callbacks\0") }.map_err(|e| error(e.to_string()))?;
            driver = Some(set);
        }
        // Loaded for the rest of the process: cudarc's own opens by name return this library.
        std::mem::forget(library);
    }
    // Safety: both callbacks have the signatures fake_cuda.cpp declares.
    unsafe { driver.expect("built above")(load_module, launch_kernel) };
    Ok(())
}

type ModuleLoader = extern "C" fn(*const c_char) -> *const c_void;
type Launcher =
    extern "C" fn(*const c_void, *const c_char, *const u32, *const u32, usize, u32, *mut *mut c_void) -> c_int;

/// The driver's module load: the emulator of the source named `name`, kept for the process (its
/// address is the module's handle), or null.
extern "C" fn load_module(name: *const c_char) -> *const c_void {
    // Safety: the driver passes the NUL-terminated name from the module's "PTX".
    let name = unsafe { CStr::from_ptr(name) }.to_string_lossy();
    let Some(source) = SOURCES.get().and_then(|find| find(&name)) else {
        eprintln!("CUDA emulator: no kernel source {name}");
        return std::ptr::null();
    };
    match emulator(&source) {
        Ok(emu) => std::sync::Arc::into_raw(emu).cast(),
        Err(e) => {
            eprintln!("{e}");
            std::ptr::null()
        }
    }
}

/// The driver's kernel launch on a module from [`load_module`], in clusters of `cluster` blocks
/// along x (1: none): 0 when it ran, else 1 (the reason on stderr, as the driver has no message
/// to carry it).
extern "C" fn launch_kernel(
    module: *const c_void,
    kernel: *const c_char,
    grid: *const u32,
    block: *const u32,
    shared: usize,
    cluster: u32,
    params: *mut *mut c_void,
) -> c_int {
    // Safety: `module` came from `load_module` (an `Arc<Emulator>` never released); the driver
    // passes a NUL-terminated name and three-element grid and block arrays.
    let (emu, kernel, grid, block) = unsafe {
        (
            &*module.cast::<Emulator>(),
            CStr::from_ptr(kernel).to_string_lossy(),
            [*grid, *grid.add(1), *grid.add(2)],
            [*block, *block.add(1), *block.add(2)],
        )
    };
    // The driver does not say how many parameters there are: the emulator takes the kernel's
    // word for it, as the GPU does.
    // Safety: the engine's launch vouches for its arguments, as it does to the real driver.
    let shape = Shape { grid, block, shared_bytes: shared, cluster };
    match unsafe { emu.launch_params(&kernel, shape, params, None) } {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("{e}");
            1
        }
    }
}
