//! The encoder-decoder Transformer of "Attention Is All You Need" (Vaswani et al. 2017; F4, F5):
//! sinusoidal positions added to scaled embeddings, an encoder of self-attention layers, a decoder
//! of masked self-attention + cross-attention layers, each sub-layer wrapped as
//! `LayerNorm(x + Sublayer(x))`; one embedding shared by source, target and the output layer.
//! Trained with teacher forcing; decoded greedily or by beam search (F14).

mod attention;
mod layers;
mod model;

pub use attention::MultiHeadAttention;
pub use layers::{DecoderLayer, EncoderLayer};
pub use model::{Seq2SeqConfig, Transformer};
