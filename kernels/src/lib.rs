//! Raw compute on slices. Nothing here knows about `Tensor`: every function takes plain slices (or
//! strided matrix views) and writes into caller-provided buffers.
//!
//! One module per fused op — [`gemm`], [`softmax`], [`layer_norm`], [`gelu`], [`attention`],
//! [`cross_entropy`], [`adamw`] — holding all of it: the naive reference (the formula as loops, what
//! the tests and benchmarks compare against), the CPU kernel, and in its `cuda` module the launch
//! of its `.cu` source, which sits in the same folder. What the ops share lives beside them:
//!
//! - [`cpu`]: threads (rayon), SIMD dispatch, elementwise maps, embedding, the machine's ceilings.
//! - [`cuda`]: the device, NVRTC, launch plans, profiling, cuBLAS(Lt), NCCL, the shared `.cuh`
//!   headers, the memory-bound sources no single op owns, and [`cuda::SOURCES`], where each `.cu`
//!   file is registered.
//! - [`expf`]: a branch-free f32 `exp` so the row loops vectorise.

pub mod adamw;
pub mod attention;
pub mod cpu;
pub mod cross_entropy;
pub mod cuda;
pub mod expf;
pub mod float;
pub mod gelu;
pub mod gemm;
pub mod layer_norm;
pub mod softmax;

pub use float::Float;
