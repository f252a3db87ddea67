//! BERT (Devlin et al. 2019): token + position + segment embeddings, a stack of post-LN encoder
//! layers with padding masks, and heads for masked-LM, pre-training (MLM + next sentence) and classification. Parameter names, shapes
//! and `config.json` follow HF transformers, so its checkpoints load unchanged.

mod config;
mod heads;
mod layers;
mod model;

pub use config::{BertConfig, BINARY_PROBLEM};
pub use heads::{BertForMaskedLM, BertForPreTraining, BertForSequenceClassification, MlmHead};
pub use layers::{BertEmbeddings, BertLayer};
pub use model::BertModel;
