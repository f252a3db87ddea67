//! The device time of each kernel while a GPU is profiled (for `emergent bench train --profile`):
//! the launches stay asynchronous; their events are read when the profile is taken.

use crate::{Device, Error, Result};
pub use kernels::cuda::profile::{product_flops, KernelTime};
use kernels::cuda::Gpu;

/// Starts (`on`) or stops timing each kernel launched on `device` (a no-op on the CPU).
pub fn profile_kernels(device: Device, on: bool) -> Result<()> {
    if let Device::Cuda(ordinal) = device {
        gpu(ordinal)?.profile_kernels(on);
    }
    Ok(())
}

/// The device time of each kernel launched on `device` since profiling started (or since the
/// last call), slowest first; waits for the device. Empty on the CPU.
pub fn kernel_times(device: Device) -> Result<Vec<KernelTime>> {
    match device {
        Device::Cpu => Ok(Vec::new()),
        Device::Cuda(ordinal) => {
            gpu(ordinal)?.kernel_times().map_err(|error| Error::Cuda { op: "kernel profile", error })
        }
    }
}

fn gpu(ordinal: usize) -> Result<std::sync::Arc<Gpu>> {
    Gpu::shared(ordinal).map_err(|error| Error::Cuda { op: "kernel profile", error })
}
