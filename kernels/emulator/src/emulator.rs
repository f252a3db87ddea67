//! One kernel source compiled for the CPU, and its launches.

use crate::compile::{build_library, translation_unit};
use crate::{Args, Error, Shape, Source};
use std::collections::HashMap;
use std::ffi::{c_char, c_int, c_void, CString};
use std::sync::{Arc, Mutex, OnceLock};

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
pub fn emulator(source: &Source) -> Result<Arc<Emulator>, Error> {
    type Cell = Arc<OnceLock<Result<Arc<Emulator>, Error>>>;
    static CACHE: OnceLock<Mutex<HashMap<&'static str, Cell>>> = OnceLock::new();
    let cell = CACHE.get_or_init(Default::default).lock().unwrap().entry(source.name).or_default().clone();
    // Other sources compile meanwhile; callers of this one wait for it.
    cell.get_or_init(|| Emulator::build(source).map(Arc::new)).clone()
}

impl Emulator {
    fn build(source: &Source) -> Result<Self, Error> {
        let program = translation_unit(source);
        // Hidden symbols: each library keeps its own emulator state (inline variables would otherwise
        // be shared by every library the process loads).
        let flags = ["-O2", "-fvisibility=hidden", "-fno-gnu-unique"];
        let library = build_library(source.name, "kernels", &program, &flags)
            .map_err(|e| Error(format!("building {}: {e}", source.name)))?;
        let open_error = |e: libloading::Error| Error(format!("loading {}: {e}", library.display()));
        // Safety: a library built just now (or earlier from the same inputs) by the code above;
        // loading it runs no initialisers beyond the C++ runtime's.
        let lib = unsafe { libloading::Library::new(&library) }.map_err(open_error)?;
        // Safety: `emu_launch` is defined by `translation_unit` with exactly this signature.
        let launch_fn = *unsafe { lib.get::<LaunchFn>(b"emu_launch\0") }.map_err(open_error)?;
        // Safety: `emu_fault` is defined by `translation_unit` with exactly this signature.
        let fault_fn = *unsafe { lib.get::<FaultFn>(b"emu_fault\0") }.map_err(open_error)?;
        Ok(Self { source: source.name, _library: lib, functions: Mutex::new((launch_fn, fault_fn)) })
    }

    /// Runs `kernel` over `shape` with `args` in the order of its signature (the blocks of a
    /// cluster run together).
    ///
    /// # Safety
    /// The arguments must match the kernel's parameters in number, order and type, and the slices
    /// must be as large as the launch reads and writes (an access outside them is undefined
    /// behaviour on the host, as it would be on the GPU).
    pub unsafe fn launch(&self, kernel: &str, shape: Shape, args: &mut Args<'_>) -> Result<(), Error> {
        let mut params = args.pointers();
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
    ) -> Result<(), Error> {
        let name = CString::new(kernel).map_err(|_| Error(format!("bad kernel name {kernel:?}")))?;
        let threads = block.iter().map(|&b| b as u64).product::<u64>();
        if grid.contains(&0) || threads == 0 || threads > 1024 {
            return Err(Error(format!(
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
            1 => Err(Error(format!("{kernel}: the threads of a block deadlocked at a barrier"))),
            2 => Err(Error(format!("{kernel}: no memory for the threads' stacks"))),
            3..=5 => {
                // Safety: `emu_fault` returns the library's NUL-terminated message buffer, which
                // the lock keeps from changing while it is read.
                let message = unsafe { std::ffi::CStr::from_ptr(fault_fn()) }.to_string_lossy().into_owned();
                Err(Error(format!("{kernel}: {message}")))
            }
            _ => Err(Error(format!("{}: no kernel {kernel}", self.source))),
        }
    }
}
