//! Where a tensor's storage lives.

use std::fmt;

/// A compute device. Only the CPU exists today; a CUDA variant adds a match arm at each dispatch
/// point in `storage.rs`, not new op code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Device {
    #[default]
    Cpu,
}

impl fmt::Display for Device {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Device::Cpu => write!(f, "cpu"),
        }
    }
}
