//! The dry run refused once CUDA is in use: the driver a process loaded first stays the one cudarc
//! calls, so `start_dry_run` after a GPU (or the emulator) was opened must say so instead of
//! counting a real step as a dry one. A test binary of its own: the dry run's libraries stay
//! loaded in the process. Needs a CUDA GPU or the emulator.

use tensor::kernel_profile::start_dry_run;
use tensor::{DType, Device, Tensor};

#[test]
#[ignore = "needs a CUDA GPU"]
fn a_dry_run_after_cuda_was_loaded_is_refused() {
    Tensor::zeros(&[2], DType::F32).to_device(Device::Cuda(0)).unwrap();
    let e = start_dry_run().unwrap_err().to_string();
    assert!(e.contains("dry run") && e.contains("CUDA was loaded before the dry run began"), "{e}");
}
