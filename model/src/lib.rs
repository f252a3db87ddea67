//! `model`: layers and models over the autograd engine, reading like the papers.
//!
//! - [`nn`]: Linear, Embedding, LayerNorm, Dropout, LSTM, sinusoidal positions.
//! - [`gpt2`]: GPT-2 with a KV cache, loading and saving HF-format checkpoints.
//! - [`lstm`]: the LSTM language model (F12).
//! - [`LanguageModel`]: what GPT-2 and the LSTM share, so one trainer trains either.
//! - [`generate`]: greedy, temperature, top-k and top-p decoding (F14) with the KV cache.
//! - [`seq2seq`]: the encoder-decoder Transformer (F4, F5) with greedy and beam decoding.
//! - [`beam`]: beam search with a length penalty (F14), for any model.
//! - [`checkpoint`]: `.safetensors` read through a memory map, written atomically.

pub mod beam;
pub mod bert;
pub mod checkpoint;
mod config_checks;
mod error;
pub mod generate;
pub mod gpt2;
mod language_model;
pub mod lstm;
pub mod nn;
pub mod seq2seq;

pub use error::{ModelError, Result};
pub use language_model::{load_language_model, LanguageModel};
