//! The CUDA emulator: the kernel sources, unchanged, compiled by the host's C++ compiler and run
//! on the CPU, so their logic is tested on machines without a GPU (CI among them) and can be
//! stepped through in a debugger. A crate of its own, for tests: the engine reaches it only
//! through the `kernels` crate's opt-in `emulator` feature, so no release binary carries it.
//!
//! `cpp/cuda_emulator.hpp` supplies what CUDA adds to C++: `threadIdx` and friends, `__shared__`
//! as `static`, `__syncthreads`, warp shuffles, atomics, bf16 (`cuda_bf16.h`) and WMMA (`mma.h`).
//! Every thread of a block is a fiber with its own stack; the fibers switch only at barriers and
//! each round visits them in a shuffled order, so a missing `__syncthreads` shows as a wrong result.
//! Blocks run one after another. Pointers are host pointers: kernels read and write the slices
//! handed to [`Args`] (or, through the [emulated CUDA libraries](install_libraries), their
//! buffers). What it cannot tell: speed, and races the hardware's memory model would expose
//! between barriers.
//!
//! A source is compiled once per process (`g++ -O2 -g`, or `$CXX`), into a cache folder under the
//! system's temporary directory named by a hash of everything that went in; the C++ it compiled
//! stays there as `kernels.cpp`, for the debugger.

mod args;
mod compile;
mod emulator;
mod libraries;

pub use args::Args;
pub use emulator::{emulator, Emulator};
pub use libraries::{install_libraries, DEVICE_NAME};

/// One CUDA source and the `extern "C"` kernels it defines (each launchable by name).
#[derive(Debug, Clone, Copy)]
pub struct Source {
    pub name: &'static str,
    pub text: &'static str,
    pub kernels: &'static [&'static str],
}

/// What went wrong building, loading or running a kernel on the emulator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error(pub String);

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CUDA emulator: {}", self.0)
    }
}

impl std::error::Error for Error {}

/// A launch's shape: blocks in the grid, threads in a block, bytes of dynamic shared memory a
/// block, and blocks in a cluster along x (1: no clusters).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shape {
    pub grid: [u32; 3],
    pub block: [u32; 3],
    pub shared_bytes: usize,
    pub cluster: u32,
}

impl Shape {
    /// `blocks` blocks of `threads` threads along x, no dynamic shared memory, no clusters.
    pub fn blocks(blocks: u32, threads: u32) -> Self {
        Self { grid: [blocks, 1, 1], block: [threads, 1, 1], shared_bytes: 0, cluster: 1 }
    }

    /// This shape with `bytes` of dynamic shared memory a block.
    pub fn with_shared(self, bytes: usize) -> Self {
        Self { shared_bytes: bytes, ..self }
    }

    /// This shape in clusters of `blocks` blocks along x (Hopper's thread-block clusters).
    pub fn in_clusters(self, blocks: u32) -> Self {
        Self { cluster: blocks, ..self }
    }
}
