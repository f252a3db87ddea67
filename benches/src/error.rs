//! What a benchmark run can fail on.

use kernels::cuda::CudaError;

/// A benchmark's error: a request it cannot serve, the output it could not write, or the GPU's.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A bad request (an unknown kernel, a malformed shape, buffers larger than the memory), or
    /// variants that disagreed with their reference.
    #[error("{0}")]
    Invalid(String),
    #[error("writing the table: {0}")]
    Output(#[from] std::io::Error),
    #[error(transparent)]
    Cuda(#[from] CudaError),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
