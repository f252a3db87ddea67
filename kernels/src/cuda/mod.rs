//! CUDA kernels as `.cu` sources, embedded in the binary and compiled at run time by NVRTC for the
//! device's architecture. This module holds the sources and the compiler call; nothing here needs a
//! GPU, and everything checks for the CUDA libraries before touching them (cudarc panics otherwise).

pub mod blas_lt;
pub mod cost;
mod device;
pub mod dry_run;
#[cfg(feature = "emulator")]
pub mod emulated;
pub mod launch;
#[cfg(feature = "nccl")]
pub mod nccl;
mod nvrtc;
pub mod profile;

pub use device::{driver_available, include_paths, Gpu, MatmulPrecision};
pub use nvrtc::{compile, nvrtc_available, ptxas_report, CudaError};

/// The source named `name` (a file of this folder).
pub fn source(name: &str) -> &'static KernelSource {
    SOURCES.iter().find(|s| s.name == name).unwrap_or_else(|| panic!("no kernel source {name}"))
}

/// A kernel launch: `launch!(gpu, "file.cu", "kernel", config, cost, args…)` compiles the source
/// on first use, pushes the arguments in the order of the kernel's signature and launches it on
/// the GPU's stream, as `Result<(), CudaError>`; `cost` ([`cost::Cost`]) is what it moves and
/// computes. The caller vouches (`unsafe`) that the arguments match
/// the signature and the buffers are as large as the launch reads and writes.
#[macro_export]
macro_rules! launch {
    ($gpu:expr, $source:expr, $kernel:expr, $cfg:expr, $cost:expr $(, $arg:expr)* $(,)?) => {{
        use $crate::cuda::cudarc::driver::PushKernelArg as _;
        match $gpu.function($crate::cuda::source($source), $kernel) {
            Ok(f) => $gpu.launch($kernel, $cost, || {
                let mut builder = $gpu.stream.launch_builder(&f);
                // One expression, so temporaries among the arguments live until the launch.
                builder
                    $(.arg($arg))*
                    .launch($cfg)
                    .map(drop)
                    .map_err(|e| $crate::cuda::CudaError::Driver(format!("launching {}: {e:?}", $kernel)))
            }),
            Err(e) => Err(e),
        }
    }};
}

pub use cudarc;

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
        source: concat!(
            include_str!("layout.cuh"),
            include_str!("packs.cuh"),
            include_str!("nan_max.cuh"),
            include_str!("gelu.cuh"),
            include_str!("elementwise.cu")
        ),
        kernels: &["binary_f32", "add_assign_f32", "unary_f32", "copy_into_f32", "fill_f32", "cmp_f32", "where_f32"],
    },
    KernelSource {
        name: "convert.cu",
        source: concat!(include_str!("layout.cuh"), include_str!("convert.cu")),
        kernels: &["f32_to_bf16", "bf16_to_f32", "copy_bf16", "u32_to_f32", "i64_to_f32", "copy_u32", "copy_i64"],
    },
    KernelSource {
        name: "reduce.cu",
        source: concat!(
            include_str!("packs.cuh"),
            include_str!("nan_max.cuh"),
            include_str!("reductions.cuh"),
            include_str!("bf16_copy.cuh"),
            include_str!("reduce.cu")
        ),
        kernels: &[
            "reduce_rows_f32",
            "argreduce_rows_f32",
            "column_sums_partial",
            "column_sums_partial_bf16",
            "column_sums_finish",
        ],
    },
    KernelSource {
        name: "softmax.cu",
        source: concat!(
            include_str!("packs.cuh"),
            include_str!("nan_max.cuh"),
            include_str!("reductions.cuh"),
            include_str!("clusters.cuh"),
            include_str!("../softmax/softmax.cu")
        ),
        kernels: &[
            "softmax_thread_per_row",
            "softmax_warp_per_row",
            "softmax_block_per_row",
            "softmax_cluster_per_row",
            "softmax_backward",
        ],
    },
    KernelSource {
        name: "layer_norm.cu",
        source: concat!(
            include_str!("packs.cuh"),
            include_str!("nan_max.cuh"),
            include_str!("reductions.cuh"),
            include_str!("bf16_copy.cuh"),
            include_str!("../layer_norm/layer_norm.cu")
        ),
        kernels: &[
            "layer_norm_thread_per_row",
            "layer_norm_block_per_row",
            "layer_norm_warp_per_row",
            "layer_norm_warp_per_row_bf16",
            "layer_norm_backward",
            "layer_norm_backward_bf16_dy",
        ],
    },
    KernelSource {
        name: "gelu.cu",
        source: concat!(
            include_str!("layout.cuh"),
            include_str!("packs.cuh"),
            include_str!("gelu.cuh"),
            include_str!("bf16_copy.cuh"),
            include_str!("../gelu/gelu.cu")
        ),
        kernels: &["gelu_forward", "gelu_forward_bf16_product", "gelu_backward", "gelu_backward_bf16_product"],
    },
    KernelSource {
        name: "index.cu",
        source: concat!(include_str!("layout.cuh"), include_str!("index.cu")),
        kernels: &["index_select_f32", "index_add_f32", "gather_f32", "scatter_add_f32"],
    },
    KernelSource {
        name: "cross_entropy.cu",
        // bf16_copy.cuh before reductions.cuh: its bf16 packs let the row reductions read bf16.
        source: concat!(
            include_str!("packs.cuh"),
            include_str!("bf16_copy.cuh"),
            include_str!("nan_max.cuh"),
            include_str!("reductions.cuh"),
            include_str!("../cross_entropy/cross_entropy.cu")
        ),
        kernels: &["cross_entropy_rows", "cross_entropy_bf16_in_place"],
    },
    KernelSource {
        name: "adamw.cu",
        source: concat!(
            include_str!("layout.cuh"),
            include_str!("packs.cuh"),
            include_str!("bf16_copy.cuh"),
            include_str!("nan_max.cuh"),
            include_str!("reductions.cuh"),
            include_str!("../adamw/adamw.cu")
        ),
        kernels: &["adamw_step", "adamw_step_multi_tensor", "gradient_squares_multi_tensor", "clip_factor"],
    },
    KernelSource {
        name: "attention.cu",
        source: concat!(
            include_str!("packs.cuh"),
            include_str!("nan_max.cuh"),
            include_str!("reductions.cuh"),
            include_str!("bf16_copy.cuh"),
            include_str!("async_copy.cuh"),
            include_str!("mma_sync.cuh"),
            include_str!("../attention/attention.cu"),
            include_str!("../attention/attention_tensor_cores.cu"),
            include_str!("../attention/attention_registers.cu")
        ),
        kernels: &[
            "attention_forward",
            "attention_backward_dot",
            "attention_backward_dkdv",
            "attention_backward_dq",
            "attention_forward_tiled",
            "attention_backward_tiled",
            "attention_forward_tensor_cores",
            "attention_backward_tensor_cores",
            "attention_forward_registers",
            "attention_forward_pipelined",
            "attention_backward_pipelined",
            "attention_backward_registers",
        ],
    },
    KernelSource {
        name: "gemm.cu",
        source: concat!(
            include_str!("async_copy.cuh"),
            include_str!("warpgroup_mma.cuh"),
            include_str!("tensor_copy.cuh"),
            include_str!("../gemm/gemm.cu")
        ),
        kernels: &[
            "gemm_naive",
            "gemm_tiled",
            "gemm_register_blocked",
            "gemm_wmma_bf16",
            "gemm_wmma_bf16_tiled",
            "gemm_wmma_bf16_pipelined",
            "gemm_wmma_bf16_wide",
            "gemm_wgmma_bf16",
            "gemm_wgmma_tma_bf16",
            "gemm_wgmma_specialized_bf16",
        ],
    },
];
