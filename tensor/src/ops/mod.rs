//! Tensor ops, grouped by family. Each validates shapes, dtypes and devices, then dispatches
//! through `Storage`.

mod adamw;
mod attention;
mod elementwise;
mod index;
mod matmul;
mod nn;
mod reduce;
mod view;

pub use adamw::{AdamWConfig, AdamWUpdate};
