//! `BertModel`: embeddings, the encoder stack and the pooler; loading and saving the HF folders of
//! the models built on it (see `heads`).

use super::layers::{BertEmbeddings, BertLayer};
use super::BertConfig;
use crate::checkpoint::{read_safetensors, save_model_folder, CheckpointInit, CheckpointOrFresh};
use crate::gpt2::{CONFIG_FILE, WEIGHTS_FILE};
use crate::nn::{Dense, Init, RandomInit};
use crate::{ModelError, Result};
use autograd::{Params, Var};
use std::path::Path;
use tensor::{DType, Tensor};

/// Embeddings, the encoder stack and (for classifiers) the pooler `tanh(h_[CLS]·Wᵀ + b)`.
pub struct BertModel {
    pub config: BertConfig,
    pub embeddings: BertEmbeddings,
    pub layers: Vec<BertLayer>,
    pub pooler: Option<Dense>,
}

impl BertModel {
    pub(super) fn new(params: &mut Params, init: &mut dyn Init, cfg: &BertConfig, with_pooler: bool) -> Result<Self> {
        cfg.validate()?;
        let embeddings = BertEmbeddings::new(params, init, "bert.embeddings", cfg)?;
        let layers = (0..cfg.num_hidden_layers)
            .map(|i| BertLayer::new(params, init, &format!("bert.encoder.layer.{i}"), cfg))
            .collect::<Result<Vec<_>>>()?;
        let pooler = with_pooler
            .then(|| {
                Dense::new(params, init, "bert.pooler.dense", (cfg.hidden_size, cfg.hidden_size), cfg.initializer_range)
            })
            .transpose()?;
        Ok(Self { config: cfg.clone(), embeddings, layers, pooler })
    }

    /// Hidden states `(B, T, H)` of ids `(B, T)`, padding mask `(B, T)` (1 = token, 0 = padding)
    /// and token types `(B, T)`.
    pub fn forward(&self, ids: &Tensor, attention_mask: &Tensor, token_type_ids: &Tensor) -> Result<Var> {
        let (b, t) = match ids.shape() {
            [b, t] if *t <= self.config.max_position_embeddings => (*b, *t),
            s => {
                return Err(ModelError::Config(format!(
                    "bert: ids must be (batch, time ≤ {}), got {s:?}",
                    self.config.max_position_embeddings
                )))
            }
        };
        for (name, t2) in [("attention_mask", attention_mask), ("token_type_ids", token_type_ids)] {
            if t2.shape() != ids.shape() {
                return Err(ModelError::Config(format!(
                    "bert: {name} {:?} must match ids {:?}",
                    t2.shape(),
                    ids.shape()
                )));
            }
        }
        let keep = attention_mask.to_dtype(DType::U32).reshape(&[b, 1, 1, t])?;
        let mut x = self.embeddings.forward(ids, token_type_ids)?;
        for layer in &self.layers {
            x = layer.forward(&x, &keep)?;
        }
        Ok(x)
    }

    /// `tanh(h_[CLS]·Wᵀ + b)`, `(B, H)`.
    pub fn pool(&self, hidden: &Var) -> Result<Var> {
        let pooler = self.pooler.as_ref().ok_or_else(|| ModelError::Config("bert: this model has no pooler".into()))?;
        let (b, h) = (hidden.shape()[0], hidden.shape()[2]);
        Ok(pooler.forward(&hidden.narrow(1, 0, 1)?.reshape(&[b, h])?)?.tanh()?)
    }
}

/// Builds a model with `new` from an HF folder (`config.json` + `model.safetensors`); every tensor of
/// the file must be used (tied copies of the word embedding excepted).
pub(super) fn load<M>(
    dir: &Path,
    dtype: DType,
    new: impl FnOnce(&BertConfig, &mut dyn Init) -> Result<M>,
) -> Result<M> {
    let config = BertConfig::load(&dir.join(CONFIG_FILE))?;
    let path = dir.join(WEIGHTS_FILE);
    let mut init = CheckpointInit::new(&path, read_safetensors(&path)?, "", dtype);
    let model = new(&config, &mut init)?;
    let unused = init.unused(|n| n == "cls.predictions.decoder.weight" || n == "cls.predictions.decoder.bias");
    match unused.first() {
        Some(name) => Err(ModelError::mismatch(&path, name, "is not a parameter of this model")),
        None => Ok(model),
    }
}

/// Builds a model with `new` for `config`, taking every parameter that the HF folder `dir` holds
/// (e.g. the encoder of a pre-trained model) and drawing the others fresh with `seed` (e.g. a new
/// classifier), as HF's `from_pretrained` does. Returns the model and the names drawn fresh.
pub(super) fn load_partly<M>(
    dir: &Path,
    config: &BertConfig,
    seed: u64,
    new: impl FnOnce(&BertConfig, &mut dyn Init) -> Result<M>,
) -> Result<(M, Vec<String>)> {
    let path = dir.join(WEIGHTS_FILE);
    let checkpoint = CheckpointInit::new(&path, read_safetensors(&path)?, "", DType::F32);
    let mut init = CheckpointOrFresh::new(checkpoint, RandomInit::new(seed, DType::F32));
    let model = new(config, &mut init)?;
    Ok((model, init.fresh))
}

/// Saves `params` and `config` (with `architectures = [architecture]`) as an HF folder.
pub(super) fn save(dir: &Path, params: &Params, config: &BertConfig, architecture: &str) -> Result<()> {
    let config = BertConfig { architectures: vec![architecture.to_string()], ..config.clone() };
    save_model_folder(dir, params, &serde_json::to_string_pretty(&config).expect("config serialises"))
}
