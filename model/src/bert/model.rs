//! `BertModel` and its heads: masked-LM (F10) and sequence classification (F11), loading HF
//! checkpoints (`BertForMaskedLM`, `BertForSequenceClassification`) by their parameter names.

use super::layers::{BertEmbeddings, BertLayer};
use super::BertConfig;
use crate::checkpoint::{read_safetensors, CheckpointInit};
use crate::gpt2::{CONFIG_FILE, IGNORE_INDEX, WEIGHTS_FILE};
use crate::nn::{Dense, Init, LayerNorm};
use crate::{ModelError, Result};
use autograd::{Params, Reduction, Var};
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
    fn new(params: &mut Params, init: &mut dyn Init, cfg: &BertConfig, with_pooler: bool) -> Result<Self> {
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
fn load<M>(dir: &Path, dtype: DType, new: impl FnOnce(&BertConfig, &mut dyn Init) -> Result<M>) -> Result<M> {
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

/// Masked-LM head (F10): `logits = LN(GELU(h·W_tᵀ + b_t))·E_tokᵀ + b`, the decoder tied to the
/// word embedding.
pub struct BertForMaskedLM {
    pub bert: BertModel,
    pub transform: Dense,
    pub transform_norm: LayerNorm,
    pub bias: Var,
    pub params: Params,
}

impl BertForMaskedLM {
    pub fn new(config: &BertConfig, init: &mut dyn Init) -> Result<Self> {
        let mut params = Params::new();
        let bert = BertModel::new(&mut params, init, config, false)?;
        let (h, std) = (config.hidden_size, config.initializer_range);
        let transform = Dense::new(&mut params, init, "cls.predictions.transform.dense", (h, h), std)?;
        let transform_norm =
            LayerNorm::new(&mut params, init, "cls.predictions.transform.LayerNorm", h, config.layer_norm_eps)?;
        let bias = crate::nn::param(
            &mut params,
            init,
            "cls.predictions",
            "bias",
            &[config.vocab_size],
            crate::nn::Fresh::Zeros,
        )?;
        Ok(Self { bert, transform, transform_norm, bias, params })
    }

    pub fn load(dir: &Path, dtype: DType) -> Result<Self> {
        load(dir, dtype, Self::new)
    }

    /// Logits `(B, T, V)`.
    pub fn forward(&self, ids: &Tensor, attention_mask: &Tensor, token_type_ids: &Tensor) -> Result<Var> {
        let h = self.bert.forward(ids, attention_mask, token_type_ids)?;
        let t = self.transform_norm.forward(&self.transform.forward(&h)?.gelu(tensor::GeluApproximation::Erf)?)?;
        Ok(t.matmul(&self.bert.embeddings.word.weight.t()?)?.add(&self.bias)?)
    }

    /// Mean cross-entropy at the masked positions (`labels` −100 elsewhere).
    pub fn loss(&self, logits: &Var, labels: &Tensor) -> Result<Var> {
        Ok(logits.cross_entropy(labels, Some(IGNORE_INDEX), Reduction::Mean)?)
    }
}

/// Sequence classifier (F11): `logits = pool(BERT(x))·W⁰ᵀ + b⁰`, loss `H(y, softmax(logits))`.
pub struct BertForSequenceClassification {
    pub bert: BertModel,
    pub classifier: Dense,
    pub params: Params,
}

impl BertForSequenceClassification {
    pub fn new(config: &BertConfig, init: &mut dyn Init) -> Result<Self> {
        let mut params = Params::new();
        let bert = BertModel::new(&mut params, init, config, true)?;
        let dims = (config.hidden_size, config.num_labels());
        let classifier = Dense::new(&mut params, init, "classifier", dims, config.initializer_range)?;
        Ok(Self { bert, classifier, params })
    }

    pub fn load(dir: &Path, dtype: DType) -> Result<Self> {
        load(dir, dtype, Self::new)
    }

    /// Logits `(B, num_labels)`.
    pub fn forward(&self, ids: &Tensor, attention_mask: &Tensor, token_type_ids: &Tensor) -> Result<Var> {
        let h = self.bert.forward(ids, attention_mask, token_type_ids)?;
        self.classifier.forward(&self.bert.pool(&h)?)
    }

    /// Mean cross-entropy against class ids `(B,)`.
    pub fn loss(&self, logits: &Var, labels: &Tensor) -> Result<Var> {
        Ok(logits.cross_entropy(labels, None, Reduction::Mean)?)
    }
}
