//! The LSTM language model (F12): Embedding → LSTM → Linear, trained with cross-entropy on the
//! next token. Saved like an HF checkpoint (`config.json` with `"model_type": "lstm"` +
//! `model.safetensors`), the LSTM's tensors in PyTorch's `nn.LSTM` names.

use crate::checkpoint::{read_safetensors, save_model_folder, CheckpointInit};
use crate::gpt2::{CONFIG_FILE, IGNORE_INDEX, WEIGHTS_FILE};
use crate::nn::{Dropout, Embedding, Init, Linear, Lstm, RandomInit};
use crate::{ModelError, Result};
use autograd::{Params, Reduction, Var};
use serde::{Deserialize, Serialize};
use std::path::Path;
use tensor::{DType, Tensor};

/// Sizes of an [`LstmLm`], as written to its `config.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LstmConfig {
    pub vocab_size: usize,
    /// Width of the token embedding (the LSTM's input).
    pub n_embd: usize,
    /// Width of the LSTM state `h, c`.
    pub hidden: usize,
    /// Dropout on the embeddings and on the LSTM outputs during training.
    #[serde(default)]
    pub dropout: f64,
    #[serde(default = "lstm_model_type")]
    pub model_type: String,
}

fn lstm_model_type() -> String {
    "lstm".into()
}

impl LstmConfig {
    pub fn new(vocab_size: usize, n_embd: usize, hidden: usize) -> Self {
        Self { vocab_size, n_embd, hidden, dropout: 0.0, model_type: lstm_model_type() }
    }

    /// `V·E + 4H·(E + H) + 8H + H·V + V` (embedding, the four gates' weights and both biases, head).
    pub fn parameter_count(&self) -> usize {
        let (v, e, h) = (self.vocab_size, self.n_embd, self.hidden);
        v * e + 4 * h * (e + h) + 8 * h + h * v + v
    }

    fn validate(&self) -> Result<()> {
        if self.vocab_size == 0 || self.n_embd == 0 || self.hidden == 0 || !(0.0..1.0).contains(&self.dropout) {
            return Err(ModelError::Config(format!(
                "lstm: sizes must be positive and dropout in [0, 1), got {self:?}"
            )));
        }
        let (v, e, h) = (self.vocab_size as f64, self.n_embd as f64, self.hidden as f64);
        crate::config_checks::plausible_size("lstm", v * e + 4.0 * h * (e + h) + 8.0 * h + h * v + v)
    }
}

pub struct LstmLm {
    pub config: LstmConfig,
    pub params: Params,
    pub embedding: Embedding,
    pub lstm: Lstm,
    pub head: Linear,
    pub drop: Dropout,
}

impl LstmLm {
    /// Builds the model, taking each parameter from `init` (fresh or from a checkpoint).
    pub fn new(config: LstmConfig, init: &mut dyn Init) -> Result<Self> {
        config.validate()?;
        let mut params = Params::new();
        let LstmConfig { vocab_size, n_embd, hidden, dropout, .. } = config;
        let embedding = Embedding::new(&mut params, init, "embedding", (vocab_size, n_embd), 0.1)?;
        let lstm = Lstm::new(&mut params, init, "lstm", n_embd, hidden)?;
        let head = Linear::new(&mut params, init, "head", (hidden, vocab_size), 1.0 / (hidden as f64).sqrt())?;
        Ok(Self { config, params, embedding, lstm, head, drop: Dropout { p: dropout } })
    }

    /// Fresh weights drawn with `seed`.
    pub fn random(config: LstmConfig, seed: u64, dtype: DType) -> Result<Self> {
        Self::new(config, &mut RandomInit::new(seed, dtype))
    }

    /// `ids (B, T) → logits (B, T, V)`: `head(LSTM(E[ids]))`, with dropout where `rng` is given.
    pub fn forward(&self, ids: &Tensor, mut rng: Option<&mut rand::rngs::StdRng>) -> Result<Var> {
        let x = self.drop.forward(&self.embedding.forward(ids)?, rng.as_deref_mut())?;
        let h = self.drop.forward(&self.lstm.forward(&x)?, rng)?;
        self.head.forward(&h)
    }

    /// Mean cross-entropy of `logits` against `targets (B, T)` (`-100` = no loss there).
    pub fn loss(&self, logits: &Var, targets: &Tensor) -> Result<Var> {
        Ok(logits.cross_entropy(targets, Some(IGNORE_INDEX), Reduction::Mean)?)
    }

    /// Loads a folder written by [`LstmLm::save`], parameters in `dtype`.
    pub fn load(dir: &Path, dtype: DType) -> Result<Self> {
        let path = dir.join(CONFIG_FILE);
        let text = std::fs::read_to_string(&path).map_err(|e| ModelError::io(&path, e))?;
        let config: LstmConfig =
            serde_json::from_str(&text).map_err(|e| ModelError::format(&path, format!("not an LSTM config: {e}")))?;
        let weights = dir.join(WEIGHTS_FILE);
        let mut init = CheckpointInit::new(&weights, read_safetensors(&weights)?, "", dtype);
        let model = Self::new(config, &mut init)?;
        if let Some(name) = init.unused(|_| false).first() {
            return Err(ModelError::mismatch(&weights, name, "is not a parameter of this LSTM (unexpected tensor)"));
        }
        Ok(model)
    }

    /// Saves `config.json` and `model.safetensors` into `dir`, each written atomically.
    pub fn save(&self, dir: &Path) -> Result<()> {
        save_model_folder(dir, &self.params, &serde_json::to_string_pretty(&self.config).expect("config serialises"))
    }
}
