//! The one error type of the tensor layer. Every variant names the op and what it was given.

use crate::{DType, Device};

pub type Result<T> = std::result::Result<T, Error>;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Error {
    #[error("{op}: shape mismatch: {lhs:?} vs {rhs:?}")]
    ShapeMismatch { op: &'static str, lhs: Vec<usize>, rhs: Vec<usize> },

    #[error("{op}: dtype mismatch: {lhs:?} vs {rhs:?}")]
    DTypeMismatch { op: &'static str, lhs: DType, rhs: DType },

    #[error("{op}: tensors on different devices: {lhs} and {rhs}")]
    DeviceMismatch { op: &'static str, lhs: Device, rhs: Device },

    #[error("{op}: dtype {dtype:?} is not supported on {device} (shape {shape:?})")]
    UnsupportedDType { op: &'static str, dtype: DType, device: Device, shape: Vec<usize> },

    #[error("{op}: dim {dim} is out of range for a tensor of shape {shape:?}")]
    DimOutOfRange { op: &'static str, dim: i64, shape: Vec<usize> },

    #[error("{op}: index {index} is out of range for a dimension of size {size}")]
    IndexOutOfRange { op: &'static str, index: i64, size: usize },

    #[error("{op}: {msg}")]
    Invalid { op: &'static str, msg: String },

    #[error("{op}: {error}")]
    Cuda { op: &'static str, error: kernels::cuda::CudaError },
}

impl Error {
    /// A free-form error for conditions the other variants do not describe; `msg` must name the
    /// shapes or values involved.
    pub fn invalid(op: &'static str, msg: impl Into<String>) -> Self {
        Error::Invalid { op, msg: msg.into() }
    }
}
