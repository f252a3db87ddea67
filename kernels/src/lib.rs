//! Raw compute on slices. Nothing here knows about `Tensor`: every function takes plain slices (or
//! strided matrix views) and writes into caller-provided buffers.
//!
//! - [`cpu::gemm`]: the f32/f64 matrix multiply — naive reference and the packed, cache-blocked,
//!   AVX2+FMA, rayon-parallel version.
//! - [`cpu`] row kernels: softmax, log-softmax, layer norm, GELU, embedding, cross-entropy, AdamW —
//!   fused loops for the places where composing generic elementwise ops would be slow.
//! - [`expf`]: a branch-free f32 `exp` so those loops vectorise.
//! - [`cuda`]: the CUDA kernels as `.cu` sources and their NVRTC compilation (no GPU needed to compile).

pub mod cpu;
pub mod cuda;
pub mod expf;
pub mod float;

pub use float::Float;
