//! Tensor ops, grouped by family. Each validates shapes, dtypes and devices, then dispatches
//! through `Storage`.

mod elementwise;
mod index;
mod reduce;
mod view;
