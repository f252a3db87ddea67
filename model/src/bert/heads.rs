//! The models built on [`BertModel`], with HF's parameter names: masked-LM (F10), pre-training
//! (masked-LM + next-sentence prediction) and sequence classification (F11, F7).

use super::model::{load, load_partly, save};
use super::{BertConfig, BertModel};
use crate::gpt2::IGNORE_INDEX;
use crate::nn::{param, Dense, Fresh, Init, LayerNorm};
use crate::{ModelError, Result};
use autograd::{Params, Reduction, Var};
use std::path::Path;
use tensor::{DType, Tensor};

/// The masked-LM head: `logits = LN(GELU(h·W_tᵀ + b_t))·E_tokᵀ + b`, the decoder tied to the
/// word embedding.
pub struct MlmHead {
    pub transform: Dense,
    pub transform_norm: LayerNorm,
    pub bias: Var,
}

impl MlmHead {
    fn new(params: &mut Params, init: &mut dyn Init, config: &BertConfig) -> Result<Self> {
        let (h, std) = (config.hidden_size, config.initializer_range);
        Ok(Self {
            transform: Dense::new(params, init, "cls.predictions.transform.dense", (h, h), std)?,
            transform_norm: LayerNorm::new(
                params,
                init,
                "cls.predictions.transform.LayerNorm",
                h,
                config.layer_norm_eps,
            )?,
            bias: param(params, init, "cls.predictions", "bias", &[config.vocab_size], Fresh::Zeros)?,
        })
    }

    /// Logits `(B, T, V)` from hidden states `(B, T, H)`.
    fn forward(&self, bert: &BertModel, hidden: &Var) -> Result<Var> {
        let t = self.transform_norm.forward(&self.transform.forward(hidden)?.gelu(tensor::GeluApproximation::Erf)?)?;
        Ok(t.matmul(&bert.embeddings.word.weight.t()?)?.add(&self.bias)?)
    }
}

/// Mean cross-entropy at the masked positions (`labels` −100 elsewhere).
fn masked_lm_loss(logits: &Var, labels: &Tensor) -> Result<Var> {
    Ok(logits.cross_entropy(labels, Some(IGNORE_INDEX), Reduction::Mean)?)
}

/// BERT with the masked-LM head (F10).
pub struct BertForMaskedLM {
    pub bert: BertModel,
    pub head: MlmHead,
    pub params: Params,
}

impl BertForMaskedLM {
    pub fn new(config: &BertConfig, init: &mut dyn Init) -> Result<Self> {
        let mut params = Params::new();
        let bert = BertModel::new(&mut params, init, config, false)?;
        let head = MlmHead::new(&mut params, init, config)?;
        Ok(Self { bert, head, params })
    }

    pub fn load(dir: &Path, dtype: DType) -> Result<Self> {
        load(dir, dtype, Self::new)
    }

    pub fn save(&self, dir: &Path) -> Result<()> {
        save(dir, &self.params, &self.bert.config, "BertForMaskedLM")
    }

    /// Logits `(B, T, V)`.
    pub fn forward(&self, ids: &Tensor, attention_mask: &Tensor, token_type_ids: &Tensor) -> Result<Var> {
        self.head.forward(&self.bert, &self.bert.forward(ids, attention_mask, token_type_ids)?)
    }

    /// Mean cross-entropy at the masked positions (`labels` −100 elsewhere).
    pub fn loss(&self, logits: &Var, labels: &Tensor) -> Result<Var> {
        masked_lm_loss(logits, labels)
    }
}

/// BERT's pre-training model: the masked-LM head on every position and the next-sentence head
/// `logits_nsp = pool(h)·W_nspᵀ + b_nsp` (2 classes: 0 = B follows A, 1 = B is a random sentence).
pub struct BertForPreTraining {
    pub bert: BertModel,
    pub head: MlmHead,
    pub seq_relationship: Dense,
    pub params: Params,
}

impl BertForPreTraining {
    pub fn new(config: &BertConfig, init: &mut dyn Init) -> Result<Self> {
        let mut params = Params::new();
        let bert = BertModel::new(&mut params, init, config, true)?;
        let head = MlmHead::new(&mut params, init, config)?;
        let seq_relationship =
            Dense::new(&mut params, init, "cls.seq_relationship", (config.hidden_size, 2), config.initializer_range)?;
        Ok(Self { bert, head, seq_relationship, params })
    }

    pub fn load(dir: &Path, dtype: DType) -> Result<Self> {
        load(dir, dtype, Self::new)
    }

    pub fn save(&self, dir: &Path) -> Result<()> {
        save(dir, &self.params, &self.bert.config, "BertForPreTraining")
    }

    /// Masked-LM logits `(B, T, V)` and next-sentence logits `(B, 2)`.
    pub fn forward(&self, ids: &Tensor, attention_mask: &Tensor, token_type_ids: &Tensor) -> Result<(Var, Var)> {
        let h = self.bert.forward(ids, attention_mask, token_type_ids)?;
        Ok((self.head.forward(&self.bert, &h)?, self.seq_relationship.forward(&self.bert.pool(&h)?)?))
    }

    /// The masked-LM loss alone (at the positions where `labels` is not −100).
    pub fn head_loss(&self, mlm_logits: &Var, labels: &Tensor) -> Result<Var> {
        masked_lm_loss(mlm_logits, labels)
    }

    /// `L = L_MLM + L_NSP`: the mean cross-entropy at the masked positions plus the mean
    /// cross-entropy of the next-sentence labels `(B,)` (as HF sums them). Returns all three.
    pub fn loss(&self, mlm_logits: &Var, nsp_logits: &Var, labels: &Tensor, next: &Tensor) -> Result<[Var; 3]> {
        let mlm = masked_lm_loss(mlm_logits, labels)?;
        let nsp = nsp_logits.cross_entropy(next, None, Reduction::Mean)?;
        Ok([mlm.add(&nsp)?, mlm, nsp])
    }
}

/// Sequence classifier (F11): `logits = pool(BERT(x))·W⁰ᵀ + b⁰`, loss `H(y, softmax(logits))`; or,
/// with one logit and `problem_type = "multi_label_classification"` (HF's convention), binary
/// cross-entropy on `σ(logit)` (F7).
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

    /// A classifier for `config` starting from the encoder (and pooler) of the HF folder `dir`
    /// (e.g. a pre-trained model); the parameters the folder lacks are drawn fresh with `seed`
    /// and named in the second value.
    pub fn from_pretrained(dir: &Path, config: &BertConfig, seed: u64) -> Result<(Self, Vec<String>)> {
        load_partly(dir, config, seed, Self::new)
    }

    pub fn save(&self, dir: &Path) -> Result<()> {
        save(dir, &self.params, &self.bert.config, "BertForSequenceClassification")
    }

    /// Logits `(B, num_labels)`.
    pub fn forward(&self, ids: &Tensor, attention_mask: &Tensor, token_type_ids: &Tensor) -> Result<Var> {
        let h = self.bert.forward(ids, attention_mask, token_type_ids)?;
        self.classifier.forward(&self.bert.pool(&h)?)
    }

    /// True for one logit trained with binary cross-entropy.
    pub fn is_binary(&self) -> bool {
        self.bert.config.num_labels() == 1
    }

    /// Mean cross-entropy against class ids `(B,)`; for the one-logit binary model, the mean
    /// binary cross-entropy of the logits `(B, 1)` against labels `(B,)` in {0, 1}.
    pub fn loss(&self, logits: &Var, labels: &Tensor) -> Result<Var> {
        if !self.is_binary() {
            return Ok(logits.cross_entropy(labels, None, Reduction::Mean)?);
        }
        let targets = labels.to_dtype(logits.value().dtype()).reshape(&logits.shape())?;
        if targets.to_f64_vec().iter().any(|&y| y != 0.0 && y != 1.0) {
            return Err(ModelError::Config("bert: the one-logit classifier needs labels 0 or 1".into()));
        }
        Ok(logits.bce_with_logits(&targets, Reduction::Mean)?)
    }

    /// The predicted class of each row: `argmax` of the logits, or `logit > 0` (σ > ½) for one logit.
    pub fn predict(&self, logits: &Tensor) -> Result<Vec<usize>> {
        if self.is_binary() {
            return Ok(logits.to_f64_vec().iter().map(|&z| usize::from(z > 0.0)).collect());
        }
        Ok(logits.argmax(-1, false)?.to_vec::<i64>()?.iter().map(|&c| c as usize).collect())
    }
}
