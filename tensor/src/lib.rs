//! `tensor`: an n-dimensional array = storage (per device) + layout (shape, strides, offset) +
//! dtype, with the ops a Transformer needs. Every public op returns [`Result`]; errors name the op
//! and the shapes, dtypes and devices involved.
//!
//! ```
//! use tensor::{DType, Tensor};
//! let a = Tensor::from_vec(vec![1f32, 2., 3., 4.], &[2, 2])?;
//! let b = a.t()?.matmul(&a)?; // AᵀA
//! assert_eq!(b.to_vec::<f32>()?, vec![10., 14., 14., 20.]);
//! # Ok::<(), tensor::Error>(())
//! ```

pub mod context;
pub mod cpu;
pub mod cuda;
mod device;
mod display;
mod dtype;
mod error;
mod fused;
pub mod kernel_profile;
mod layout;
pub mod op;
mod ops;
pub mod shape;
mod storage;
#[allow(clippy::module_inception)]
mod tensor;

pub use context::{AttentionPath, ContextScope, ExecutionContext};
pub use device::Device;
pub use dtype::{DType, Element, FloatElement};
pub use error::{Error, Result};
pub use fused::{AdamWBuffers, AdamWConfig, AdamWUpdate, ClassifierGrad, ClassifierLoss, Preactivation};
pub use half::{bf16, f16};
pub use kernels::attention::cuda::AttentionVersion;
pub use kernels::cpu::isa::{isa as cpu_isa, Isa as CpuIsa};
pub use kernels::cuda::MatmulPrecision;
pub use layout::{Layout, StridedOffsets};
pub use op::{BinaryOp, CmpOp, GeluApproximation, ReduceOp, UnaryOp};
pub use shape::Dim;
pub use storage::Storage;
pub use tensor::Tensor;

/// Opens `device` (nothing to do for the CPU): a missing driver, GPU or NVRTC is an error now, before
/// any work, rather than at the first op.
pub fn open_device(device: Device) -> Result<()> {
    match device {
        Device::Cpu => Ok(()),
        Device::Cuda(ordinal) => cuda::gpu(ordinal).map(drop),
    }
}

/// Waits until `device` has finished the work queued on it (a no-op on the CPU): for timing.
pub fn synchronize(device: Device) -> Result<()> {
    match device {
        Device::Cpu => Ok(()),
        Device::Cuda(ordinal) => kernels::cuda::Gpu::shared(ordinal)
            .and_then(|gpu| gpu.synchronize())
            .map_err(|error| Error::Cuda { op: "synchronize", error }),
    }
}

/// Seeded random numbers for `randn` / `uniform`: `tensor::rng(42)` gives a reproducible stream.
pub fn rng(seed: u64) -> rand::rngs::StdRng {
    use rand::SeedableRng;
    rand::rngs::StdRng::seed_from_u64(seed)
}
