//! One file per op family; each op's forward, backward and formula sit together.

mod attention;
mod classifier;
mod distill;
mod elementwise;
mod index;
mod layer_norm;
mod loss;
mod matmul;
mod reduce;
mod shape;
mod softmax;

pub use attention::{fused_attention, AttentionMask};
pub use loss::Reduction;
