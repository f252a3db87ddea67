//! BERT's hyper-parameters, with the field names of HF transformers' `config.json`.

use crate::{ModelError, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BertConfig {
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub intermediate_size: usize,
    pub max_position_embeddings: usize,
    pub type_vocab_size: usize,
    #[serde(default = "default_act")]
    pub hidden_act: String,
    #[serde(default)]
    pub hidden_dropout_prob: f64,
    #[serde(default)]
    pub attention_probs_dropout_prob: f64,
    #[serde(default = "default_init")]
    pub initializer_range: f64,
    #[serde(default = "default_eps")]
    pub layer_norm_eps: f64,
    #[serde(default)]
    pub architectures: Vec<String>,
    /// Class names by id, for classifiers (its length is the number of labels).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id2label: Option<BTreeMap<String, String>>,
    /// HF's name for how a classifier is trained; `"multi_label_classification"` with one label
    /// is our binary classifier (one logit, binary cross-entropy).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub problem_type: Option<String>,
    #[serde(default = "default_model_type")]
    pub model_type: String,
}

/// The `problem_type` of a one-logit binary classifier.
pub const BINARY_PROBLEM: &str = "multi_label_classification";

fn default_act() -> String {
    "gelu".into()
}
fn default_init() -> f64 {
    0.02
}
fn default_eps() -> f64 {
    1e-12
}
fn default_model_type() -> String {
    "bert".into()
}

impl BertConfig {
    /// A fresh model's config: `layers` post-LN layers of width `hidden` with `heads` heads, an MLP
    /// 4× as wide, `max_positions` positions, two segment types, no dropout; `labels` class names
    /// for a classifier (one name with `binary` for the one-logit model).
    pub fn new(vocab: usize, hidden: usize, layers: usize, heads: usize, max_positions: usize) -> Self {
        Self {
            vocab_size: vocab,
            hidden_size: hidden,
            num_hidden_layers: layers,
            num_attention_heads: heads,
            intermediate_size: 4 * hidden,
            max_position_embeddings: max_positions,
            type_vocab_size: 2,
            hidden_act: default_act(),
            hidden_dropout_prob: 0.0,
            attention_probs_dropout_prob: 0.0,
            initializer_range: default_init(),
            layer_norm_eps: default_eps(),
            architectures: Vec::new(),
            id2label: None,
            problem_type: None,
            model_type: default_model_type(),
        }
    }

    /// The same config for a classifier of `labels` classes (`binary`: one logit for 2 classes).
    pub fn with_labels(self, labels: &[String], binary: bool) -> Self {
        let names: Vec<String> =
            if binary { labels.iter().skip(1).take(1).cloned().collect() } else { labels.to_vec() };
        let id2label = names.into_iter().enumerate().map(|(i, n)| (i.to_string(), n)).collect();
        Self { id2label: Some(id2label), problem_type: binary.then(|| BINARY_PROBLEM.to_string()), ..self }
    }

    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| ModelError::io(path, e))?;
        let cfg: Self = serde_json::from_str(&text)
            .map_err(|e| ModelError::format(path, format!("not a BERT config.json: {e}")))?;
        if cfg.model_type != "bert" {
            return Err(ModelError::format(path, format!("model_type is {:?}, expected \"bert\"", cfg.model_type)));
        }
        cfg.validate().map_err(|e| ModelError::format(path, e.to_string()))?;
        Ok(cfg)
    }

    /// Labels of a classifier (2 when the config names none, as HF assumes).
    pub fn num_labels(&self) -> usize {
        self.id2label.as_ref().map_or(2, |m| m.len())
    }

    pub fn validate(&self) -> Result<()> {
        let sizes = [
            self.vocab_size,
            self.hidden_size,
            self.num_hidden_layers,
            self.num_attention_heads,
            self.intermediate_size,
            self.max_position_embeddings,
            self.type_vocab_size,
        ];
        if sizes.contains(&0) || !self.hidden_size.is_multiple_of(self.num_attention_heads.max(1)) {
            return Err(ModelError::Config(format!(
                "bert: sizes must be positive (vocabulary, width, layers, heads, intermediate size, positions, \
                 token types) and heads ({}) must divide the width ({})",
                self.num_attention_heads, self.hidden_size
            )));
        }
        if self.num_labels() == 1 && self.problem_type.as_deref() != Some(BINARY_PROBLEM) {
            return Err(ModelError::Config(format!(
                "bert: one label is a regression head in HF, which is not supported; a one-logit binary \
                 classifier needs problem_type {BINARY_PROBLEM:?}"
            )));
        }
        if self.hidden_act != "gelu" {
            return Err(ModelError::Config(format!(
                "bert: hidden_act {:?} is not supported (only \"gelu\")",
                self.hidden_act
            )));
        }
        let (d, ff) = (self.hidden_size as f64, self.intermediate_size as f64);
        let positions = self.vocab_size as f64 + self.max_position_embeddings as f64 + self.type_vocab_size as f64;
        crate::config_checks::plausible_size(
            "bert",
            positions * d + self.num_hidden_layers as f64 * (4.0 * d * d + 2.0 * d * ff),
        )?;
        crate::config_checks::positive("bert", "layer_norm_eps", self.layer_norm_eps)?;
        crate::config_checks::non_negative("bert", "initializer_range", self.initializer_range)?;
        crate::config_checks::probability("bert", "hidden_dropout_prob", self.hidden_dropout_prob)?;
        crate::config_checks::probability("bert", "attention_probs_dropout_prob", self.attention_probs_dropout_prob)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny() -> BertConfig {
        serde_json::from_str(
            r#"{"vocab_size": 50, "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 4,
                "intermediate_size": 64, "max_position_embeddings": 16, "type_vocab_size": 2}"#,
        )
        .unwrap()
    }

    #[test]
    fn defaults_labels_and_bad_configs() {
        let cfg = tiny();
        cfg.validate().unwrap();
        assert_eq!((cfg.hidden_act.as_str(), cfg.layer_norm_eps, cfg.num_labels()), ("gelu", 1e-12, 2));
        let err = BertConfig { num_attention_heads: 5, ..tiny() }.validate().unwrap_err().to_string();
        assert!(err.contains("heads (5) must divide the width (32)"), "{err}");
        let err = BertConfig { hidden_act: "relu".into(), ..tiny() }.validate().unwrap_err().to_string();
        assert!(err.contains("hidden_act \"relu\" is not supported"), "{err}");
        // One label is HF's regression head unless it is our one-logit binary classifier.
        let labels = ["no".to_string(), "yes".to_string()];
        let binary = tiny().with_labels(&labels, true);
        binary.validate().unwrap();
        assert_eq!(binary.num_labels(), 1);
        let err = BertConfig { problem_type: None, ..binary }.validate().unwrap_err().to_string();
        assert!(err.contains("regression") && err.contains(BINARY_PROBLEM), "{err}");
        assert_eq!(tiny().with_labels(&labels, false).num_labels(), 2);
        let err = BertConfig { layer_norm_eps: -1.0, ..tiny() }.validate().unwrap_err().to_string();
        assert!(err.contains("layer_norm_eps must be a positive number, got -1"), "{err}");
        let err = BertConfig { hidden_dropout_prob: 1.0, ..tiny() }.validate().unwrap_err().to_string();
        assert!(err.contains("hidden_dropout_prob must be in [0, 1)"), "{err}");
        assert!(BertConfig { intermediate_size: 0, ..tiny() }.validate().is_err());
    }
}
