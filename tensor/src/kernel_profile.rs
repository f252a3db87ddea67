//! The device time of each kernel while a GPU is profiled (for `emergent bench train --profile`):
//! the launches stay asynchronous; their events are read when the profile is taken. And what each
//! launch moves and computes, on a GPU or in a dry run on the null driver
//! (`emergent bench train --dry-run`): the ledger of launches, the roofline, the dry run's memory.

use crate::{Device, Error, Result};
pub use kernels::cuda::cost::{record as record_launches, take_recorded as recorded_launches};
pub use kernels::cuda::cost::{Cost, Launch, Math, Roofline, H100_SXM};
pub use kernels::cuda::dry_run::{memory as dry_run_memory, reset_peak as reset_dry_run_peak, MemoryUse};
pub use kernels::cuda::profile::{product_flops, KernelTime};
use kernels::cuda::Gpu;

/// Replaces the CUDA libraries with the dry-run driver for the rest of the process: device
/// `cuda:0` is then an H100 on which nothing runs and nothing is allocated (see
/// `kernels::cuda::dry_run`). Must come before the process's first CUDA call; an error if the
/// device that opens is not the dry run's.
pub fn start_dry_run() -> Result<()> {
    let error = |error| Error::Cuda { op: "dry run", error };
    kernels::cuda::dry_run::install().map_err(error)?;
    let name = Gpu::shared(0).map_err(error)?.name.clone();
    if !kernels::cuda::dry_run::is_dry_run_device(&name) {
        return Err(error(kernels::cuda::CudaError::Driver(format!(
            "CUDA was loaded before the dry run began (device 0 is {name})"
        ))));
    }
    Ok(())
}

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
