//! Errors of the training layer and the CLI: each names the file, flag or value that was wrong.

use std::path::PathBuf;

pub type Result<T> = std::result::Result<T, TrainError>;

#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error(transparent)]
    Tensor(#[from] tensor::Error),

    #[error(transparent)]
    Model(#[from] model::ModelError),

    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },

    /// A file that exists but is not what it should be.
    #[error("{path}: {msg}")]
    Format { path: PathBuf, msg: String },

    /// Bad input on the command line or to an API (text, ids, shapes).
    #[error("{0}")]
    Invalid(String),

    /// A kernel benchmark's failure (a bad request, disagreeing variants, the GPU's error).
    #[error(transparent)]
    Bench(#[from] kernel_bench::Error),
}

impl TrainError {
    pub(crate) fn io(path: &std::path::Path, source: std::io::Error) -> Self {
        TrainError::Io { path: path.to_path_buf(), source }
    }

    pub(crate) fn format(path: &std::path::Path, msg: impl Into<String>) -> Self {
        TrainError::Format { path: path.to_path_buf(), msg: msg.into() }
    }
}
