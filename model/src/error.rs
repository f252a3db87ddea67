//! Errors of the model layer: tensor errors, plus files (checkpoints, configs) that are missing,
//! truncated, corrupt or do not match the model — each naming the file and, where it applies, the tensor.

use std::path::PathBuf;

pub type Result<T> = std::result::Result<T, ModelError>;

#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error(transparent)]
    Tensor(#[from] tensor::Error),

    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },

    /// The file is not a valid checkpoint or config (truncated, corrupt header, bad JSON, …).
    #[error("{path}: {msg}")]
    Format { path: PathBuf, msg: String },

    /// A tensor is missing, unexpected, or has the wrong shape or dtype.
    #[error("{path}: tensor {name:?}: {msg}")]
    TensorMismatch { path: PathBuf, name: String, msg: String },

    #[error("{0}")]
    Config(String),
}

impl ModelError {
    pub(crate) fn io(path: &std::path::Path, source: std::io::Error) -> Self {
        ModelError::Io { path: path.to_path_buf(), source }
    }

    pub(crate) fn format(path: &std::path::Path, msg: impl Into<String>) -> Self {
        ModelError::Format { path: path.to_path_buf(), msg: msg.into() }
    }

    pub(crate) fn mismatch(path: &std::path::Path, name: &str, msg: impl Into<String>) -> Self {
        ModelError::TensorMismatch { path: path.to_path_buf(), name: name.to_string(), msg: msg.into() }
    }
}
