//! The fused ops, a folder each: the `Tensor` methods (in `mod.rs`, with their formulas), which
//! dispatch through [`on_device!`](crate::storage::on_device) to one adapter per device — `cpu.rs`
//! converts to the compute type and runs the op's loops in `kernels::<op>`, `cuda.rs` launches the
//! op's kernels in `kernels::<op>::cuda`. A new fused op is a folder here and its `mod` line; a new
//! device, a file in each folder and an arm of `on_device!`.

mod adamw;
mod attention;
mod classifier;
mod cross_entropy;
mod gelu;
mod layer_norm;
mod matmul;
mod softmax;

pub use adamw::{AdamWBuffers, AdamWConfig, AdamWUpdate};
pub use classifier::{ClassifierGrad, ClassifierLoss};
pub use gelu::Preactivation;

use crate::Layout;

/// `(rows, cols)` of a tensor taken as rows of its last dim.
pub(crate) fn rows_cols(layout: &Layout) -> (usize, usize) {
    let cols = layout.shape().last().copied().unwrap_or(1);
    (layout.elem_count() / cols.max(1), cols)
}
