//! CUDA kernels as `.cu` sources, embedded in the binary and compiled at run time by NVRTC for the
//! device's architecture. This module holds the sources and the compiler call; nothing here needs a
//! GPU, and everything checks for the CUDA libraries before touching them (cudarc panics otherwise).

pub mod bench;
mod device;
pub mod launch;
mod nvrtc;

pub use device::{driver_available, include_paths, Gpu};
pub use nvrtc::{compile, nvrtc_available, ptxas_report, CudaError};

/// One `.cu` file (with `reductions.cuh` prepended where it reduces rows) and the `extern "C"`
/// kernels it defines.
#[derive(Debug, Clone, Copy)]
pub struct KernelSource {
    pub name: &'static str,
    pub source: &'static str,
    pub kernels: &'static [&'static str],
}

/// Every kernel source of the engine.
pub const SOURCES: &[KernelSource] = &[
    KernelSource {
        name: "elementwise.cu",
        source: include_str!("elementwise.cu"),
        kernels: &["binary_f32", "unary_f32", "where_f32"],
    },
    KernelSource {
        name: "reduce.cu",
        source: concat!(include_str!("reductions.cuh"), include_str!("reduce.cu")),
        kernels: &["reduce_rows_f32"],
    },
    KernelSource {
        name: "softmax.cu",
        source: concat!(include_str!("reductions.cuh"), include_str!("softmax.cu")),
        kernels: &["softmax_thread_per_row", "softmax_warp_per_row", "softmax_block_per_row", "softmax_backward"],
    },
    KernelSource {
        name: "layer_norm.cu",
        source: concat!(include_str!("reductions.cuh"), include_str!("layer_norm.cu")),
        kernels: &["layer_norm_forward", "layer_norm_backward"],
    },
    KernelSource { name: "gelu.cu", source: include_str!("gelu.cu"), kernels: &["gelu_forward", "gelu_backward"] },
    KernelSource {
        name: "embedding.cu",
        source: include_str!("embedding.cu"),
        kernels: &["embedding_forward", "embedding_backward"],
    },
    KernelSource {
        name: "cross_entropy.cu",
        source: concat!(include_str!("reductions.cuh"), include_str!("cross_entropy.cu")),
        kernels: &["cross_entropy_fused"],
    },
    KernelSource { name: "adamw.cu", source: include_str!("adamw.cu"), kernels: &["adamw_step"] },
    KernelSource {
        name: "attention.cu",
        source: include_str!("attention.cu"),
        kernels: &["attention_forward", "attention_backward_dot", "attention_backward_dkdv", "attention_backward_dq"],
    },
    KernelSource {
        name: "gemm.cu",
        source: include_str!("gemm.cu"),
        kernels: &["gemm_naive", "gemm_tiled", "gemm_register_blocked", "gemm_wmma_bf16"],
    },
];
