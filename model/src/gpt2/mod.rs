//! GPT-2 (Radford et al. 2019): token + learned position embeddings, a stack of pre-LN blocks, a
//! final LayerNorm, and the LM head tied to the token embedding. Parameter names and shapes follow
//! HF transformers' `GPT2LMHeadModel`, so its checkpoints load unchanged.

mod attention;
mod block;
mod config;
mod kv_cache;
mod mlp;
mod model;

pub use attention::CausalSelfAttention;
pub use block::Block;
pub use config::Gpt2Config;
pub use kv_cache::{KvCache, LayerCache};
pub use mlp::Mlp;
pub use model::{Gpt2, CONFIG_FILE, IGNORE_INDEX, WEIGHTS_FILE};
