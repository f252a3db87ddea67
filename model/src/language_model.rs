//! What the trainer and the `sample` / `eval` commands need of a next-token model. GPT-2 and the
//! LSTM language model are both one, so the same loop trains either on the same data.

use crate::generate::{generate, generate_by_recompute, Sampling};
use crate::gpt2::{Gpt2, CONFIG_FILE, IGNORE_INDEX};
use crate::lstm::LstmLm;
use crate::{ModelError, Result};
use autograd::{Params, Reduction, Var};
use rand::rngs::StdRng;
use std::path::Path;
use tensor::{DType, Tensor};

pub trait LanguageModel {
    /// Every parameter by name.
    fn params(&self) -> &Params;
    /// `ids (B, T) → logits (B, T, V)`; with `rng`, dropout is on (training).
    fn logits(&self, ids: &Tensor, rng: Option<&mut StdRng>) -> Result<Var>;
    fn vocab_size(&self) -> usize;
    /// The longest sequence the model reads (`None`: any length).
    fn max_positions(&self) -> Option<usize>;
    /// Writes `config.json` + `model.safetensors` into `dir`.
    fn save(&self, dir: &Path) -> Result<()>;
    /// E.g. "2-layer 128-wide GPT".
    fn describe(&self) -> String;

    /// Mean next-token cross-entropy (F6) of `logits (B, T, V)` against aligned `targets (B, T)`;
    /// `-100` positions are ignored.
    fn loss(&self, logits: &Var, targets: &Tensor) -> Result<Var> {
        Ok(logits.cross_entropy(targets, Some(IGNORE_INDEX), Reduction::Mean)?)
    }

    /// The loss of `ids (B, T)` against aligned `targets (B, T)`: [`LanguageModel::loss`] of
    /// [`LanguageModel::logits`], or the same value with the head and the loss fused where the
    /// model has that (GPT-2: `Gpt2::forward_loss`). With `rng`, dropout is on (training).
    fn forward_loss(&self, ids: &Tensor, targets: &Tensor, rng: Option<&mut StdRng>) -> Result<Var> {
        self.loss(&self.logits(ids, rng)?, targets)
    }

    /// Appends `max_new` tokens to each row of `prompt (B, T₀)`; see [`generate`].
    fn generate(&self, prompt: &Tensor, max_new: usize, sampling: Sampling, rng: &mut StdRng) -> Result<Tensor> {
        generate_by_recompute(self, prompt, max_new, sampling, rng)
    }
}

impl LanguageModel for Gpt2 {
    fn params(&self) -> &Params {
        &self.params
    }
    fn logits(&self, ids: &Tensor, rng: Option<&mut StdRng>) -> Result<Var> {
        self.forward(ids, rng)
    }
    fn forward_loss(&self, ids: &Tensor, targets: &Tensor, rng: Option<&mut StdRng>) -> Result<Var> {
        Gpt2::forward_loss(self, ids, targets, rng)
    }
    fn vocab_size(&self) -> usize {
        self.config.vocab_size
    }
    fn max_positions(&self) -> Option<usize> {
        Some(self.config.n_positions)
    }
    fn save(&self, dir: &Path) -> Result<()> {
        Gpt2::save(self, dir)
    }
    fn describe(&self) -> String {
        format!("{}-layer {}-wide GPT", self.config.n_layer, self.config.n_embd)
    }
    /// With the KV cache: every new token costs one position.
    fn generate(&self, prompt: &Tensor, max_new: usize, sampling: Sampling, rng: &mut StdRng) -> Result<Tensor> {
        generate(self, prompt, max_new, sampling, rng)
    }
}

impl LanguageModel for LstmLm {
    fn params(&self) -> &Params {
        &self.params
    }
    fn logits(&self, ids: &Tensor, rng: Option<&mut StdRng>) -> Result<Var> {
        self.forward(ids, rng)
    }
    fn vocab_size(&self) -> usize {
        self.config.vocab_size
    }
    fn max_positions(&self) -> Option<usize> {
        None
    }
    fn save(&self, dir: &Path) -> Result<()> {
        LstmLm::save(self, dir)
    }
    fn describe(&self) -> String {
        format!("{}-wide LSTM", self.config.hidden)
    }
}

/// The model a checkpoint folder holds: an LSTM if its `config.json` says `"model_type": "lstm"`,
/// GPT-2 otherwise.
pub fn load_language_model(dir: &Path, dtype: DType) -> Result<Box<dyn LanguageModel>> {
    let path = dir.join(CONFIG_FILE);
    let text = std::fs::read_to_string(&path).map_err(|e| ModelError::io(&path, e))?;
    let config: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| ModelError::format(&path, format!("not JSON: {e}")))?;
    Ok(match config["model_type"].as_str() {
        Some("lstm") => Box::new(LstmLm::load(dir, dtype)?),
        _ => Box::new(Gpt2::load(dir, dtype)?),
    })
}
