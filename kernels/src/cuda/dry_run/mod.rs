//! A dry run: the engine's whole GPU path — the same tensor ops, the same launch wrappers with
//! their declared costs ([`super::cost`]) — on a null CUDA driver (`null_cuda.c`, built into four
//! libraries by the crate's build script and embedded here) that runs nothing and allocates
//! nothing. One H100 appears; every launch returns at once; an allocation is an address no one
//! reads, counted here, so a step's launches, bytes, FLOPs and peak device memory are known on a
//! machine without a GPU, in the time the host takes to issue them. Installed for the rest of the
//! process, before its first CUDA call.

use super::cost::{note, Cost};
use super::CudaError;
use std::collections::HashMap;
use std::sync::{LazyLock, Mutex, OnceLock};

/// Device memory as the dry run counts it: the bytes of the buffers allocated and not yet freed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MemoryUse {
    pub live: usize,
    /// The most that was live at once since the process began (or since [`reset_peak`]).
    pub peak: usize,
}

struct Memory {
    /// The next address to hand out (256-byte aligned, as the driver's).
    next: u64,
    sizes: HashMap<u64, usize>,
    usage: MemoryUse,
}

static MEMORY: LazyLock<Mutex<Memory>> =
    LazyLock::new(|| Mutex::new(Memory { next: 1 << 40, sizes: HashMap::new(), usage: MemoryUse::default() }));

/// The dry run's device memory now.
pub fn memory() -> MemoryUse {
    MEMORY.lock().unwrap_or_else(|e| e.into_inner()).usage
}

/// Starts the peak over from what is live now.
pub fn reset_peak() {
    let mut memory = MEMORY.lock().unwrap_or_else(|e| e.into_inner());
    memory.usage.peak = memory.usage.live;
}

/// The driver's allocation: a fresh address for `bytes` (never reused, never dereferenced).
extern "C" fn allocate(bytes: usize) -> u64 {
    let mut memory = MEMORY.lock().unwrap_or_else(|e| e.into_inner());
    let address = memory.next;
    memory.next += (bytes.max(1) as u64).div_ceil(256) * 256;
    memory.sizes.insert(address, bytes);
    memory.usage.live += bytes;
    memory.usage.peak = memory.usage.peak.max(memory.usage.live);
    address
}

/// The driver's free of an address [`allocate`] gave.
extern "C" fn release(address: u64) {
    let mut memory = MEMORY.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(bytes) = memory.sizes.remove(&address) {
        memory.usage.live -= bytes;
    }
}

/// The driver's memsets and copies, written to the launch ledger: `kind` as null_cuda.c numbers
/// them (memset, device→device, host→device, device→host). Host transfers are on the ledger for
/// the count, at no device-memory cost of their own (they cross PCIe, not HBM).
extern "C" fn transfer(kind: i32, bytes: usize) {
    let (name, cost) = match kind {
        0 => ("memset", Cost::bytes(0, bytes)),
        1 => ("copy device→device", Cost::bytes(bytes, bytes)),
        2 => ("copy host→device", Cost::default()),
        _ => ("copy device→host", Cost::default()),
    };
    note(name, cost);
}

#[cfg(not(no_dry_run))]
const LIBRARIES: [(&str, &[u8]); 4] = [
    ("libcuda", include_bytes!(concat!(env!("OUT_DIR"), "/libcuda-dry-run.so"))),
    ("libnvrtc", include_bytes!(concat!(env!("OUT_DIR"), "/libnvrtc-dry-run.so"))),
    ("libcublas", include_bytes!(concat!(env!("OUT_DIR"), "/libcublas-dry-run.so"))),
    ("libcublasLt", include_bytes!(concat!(env!("OUT_DIR"), "/libcublasLt-dry-run.so"))),
];

/// Loads the dry-run libraries in place of CUDA's, for the rest of the process (once; later
/// calls return the first one's result). Must come before the process's first CUDA call: a
/// driver already loaded stays the one in use (the device's name tells which one is).
pub fn install() -> Result<(), CudaError> {
    static INSTALLED: OnceLock<Result<(), String>> = OnceLock::new();
    INSTALLED.get_or_init(load).clone().map_err(|e| CudaError::Driver(format!("the dry-run driver: {e}")))
}

/// Whether a device's name is the dry-run driver's.
pub fn is_dry_run_device(name: &str) -> bool {
    name.contains("dry run")
}

#[cfg(no_dry_run)]
fn load() -> Result<(), String> {
    Err("this build has none (no C compiler was found when it was built, or not on Linux)".into())
}

#[cfg(not(no_dry_run))]
fn load() -> Result<(), String> {
    let dir = std::env::temp_dir().join(format!("emergent-dry-run-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut register = None;
    for (stem, bytes) in LIBRARIES {
        let path = dir.join(format!("{stem}.so"));
        std::fs::write(&path, bytes).map_err(|e| format!("{}: {e}", path.display()))?;
        // Safety: a library built from null_cuda.c, which has no initialisers.
        let library = unsafe { libloading::Library::new(&path) }.map_err(|e| e.to_string())?;
        if stem == "libcuda" {
            type SetCallbacks =
                unsafe extern "C" fn(extern "C" fn(usize) -> u64, extern "C" fn(u64), extern "C" fn(i32, usize));
            // Safety: null_cuda.c defines `dry_run_set_callbacks` with this signature.
            register =
                Some(*unsafe { library.get::<SetCallbacks>(b"dry_run_set_callbacks\0") }.map_err(|e| e.to_string())?);
        }
        // Loaded for the rest of the process: cudarc's own opens by name return this library.
        std::mem::forget(library);
    }
    let _ = std::fs::remove_dir_all(&dir);
    // Safety: the callbacks have the signatures null_cuda.c declares.
    unsafe { register.expect("libcuda is among the libraries")(allocate, release, transfer) };
    Ok(())
}
