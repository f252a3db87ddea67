//! The engine's GPU path on the emulated CUDA libraries of the `cuda-emulator` crate (the driver,
//! NVRTC, cuBLAS and cuBLASLt run on the CPU), for tests on machines without a GPU: built with
//! the `emulator` feature only, and chosen at run time by `EMERGENT_EMULATE_CUDA=1` before the
//! first CUDA call (what `.ci/run` does for the GPU tests). Release builds have neither.

use super::SOURCES;

/// Set to `1`, a process built with the `emulator` feature uses the emulated CUDA libraries.
pub const ENV: &str = "EMERGENT_EMULATE_CUDA";

pub use cuda_emulator::DEVICE_NAME;

/// Whether this process asked for the emulated libraries.
pub fn requested() -> bool {
    std::env::var(ENV).is_ok_and(|v| v == "1")
}

/// Installs the emulated libraries when [`requested`] (once per process); a failure to build them
/// is reported on stderr and leaves the process without CUDA.
pub(crate) fn install_if_requested() {
    if requested() {
        if let Err(e) = install() {
            eprintln!("{e}");
        }
    }
}

/// Builds and loads the emulated libraries in place of the real ones, whatever [`ENV`] says; the
/// emulated driver loads the engine's kernel sources.
pub fn install() -> Result<(), cuda_emulator::Error> {
    cuda_emulator::install_libraries(|name| {
        let source = SOURCES.iter().find(|s| s.name == name)?;
        Some(cuda_emulator::Source { name: source.name, text: source.source, kernels: source.kernels })
    })
}
