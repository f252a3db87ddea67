//! BERT (Devlin et al. 2019): token + position + segment embeddings, a stack of post-LN encoder
//! layers with padding masks, and heads for masked-LM and classification. Parameter names, shapes
//! and `config.json` follow HF transformers, so its checkpoints load unchanged.

mod config;
mod layers;
mod model;

pub use config::BertConfig;
pub use layers::{BertEmbeddings, BertLayer};
pub use model::{BertForMaskedLM, BertForSequenceClassification, BertModel};
