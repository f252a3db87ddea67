//! Everything a training run is configured by; written to the run folder as `config.json`.

use crate::data::Operation;
use crate::optim::Schedule;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum DataConfig {
    /// A built-in arithmetic task written out in characters: `digits`-digit operands (for modular
    /// addition, the width of the modulus), `held_out` problems for exact match.
    #[serde(alias = "addition")]
    Arithmetic {
        #[serde(default)]
        op: Operation,
        digits: usize,
        held_out: usize,
    },
    /// The grokking task: addition modulo `modulus` with numbers as single tokens, trained
    /// full-batch (the batch size is ignored) on `train_fraction` of all pairs.
    Modular { modulus: u64, train_fraction: f64 },
    /// A text file, tokenised by characters or with GPT-2's BPE (`vocab` = folder with
    /// vocab.json + merges.txt); the last `val_fraction` is validation data.
    Text { path: PathBuf, tokenizer: TokenizerKind, vocab: Option<PathBuf>, val_fraction: f64 },
    /// Token shards of GPT-2 ids (llm.c's format, or nanoGPT's `train.bin` / `val.bin`): a folder
    /// or a glob; the shards with `val` in their name are validation data. `vocab` is the folder
    /// with GPT-2's vocab.json + merges.txt that decodes them.
    Shards { path: PathBuf, vocab: PathBuf },
}

impl DataConfig {
    /// The file, folder or pattern the data comes from, if not built in.
    pub fn path(&self) -> Option<&std::path::Path> {
        match self {
            DataConfig::Text { path, .. } | DataConfig::Shards { path, .. } => Some(path),
            _ => None,
        }
    }
}

/// The network trained: a GPT (`n_layer`, `n_head`, `n_embd`) or an LSTM language model (a
/// `n_embd`-wide embedding into one LSTM layer of `hidden` units).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Architecture {
    #[default]
    Gpt,
    Lstm {
        hidden: usize,
    },
}

/// Knowledge distillation (F13): the student also learns the `teacher` checkpoint's predictions,
/// softened by `temperature`, with weight `alpha` (see `Var::distillation_loss`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DistillConfig {
    /// A run folder (its latest checkpoint) or a checkpoint folder with the same tokenizer.
    pub teacher: PathBuf,
    pub temperature: f64,
    pub alpha: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum TokenizerKind {
    Char,
    Gpt2,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum OptimizerKind {
    Adamw,
    Adam,
    Sgd,
    Adagrad,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OptimizerConfig {
    pub kind: OptimizerKind,
    pub lr: f64,
    pub weight_decay: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    /// SGD momentum (0 = plain SGD).
    pub momentum: f64,
    pub nesterov: bool,
}

/// A misspelt key is an error (see [`unknown_key_hint`]), never a setting silently ignored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainConfig {
    pub data: DataConfig,
    /// GPT unless stated (configs written before the LSTM existed have no `arch`).
    #[serde(default)]
    pub arch: Architecture,
    pub n_layer: usize,
    pub n_head: usize,
    pub n_embd: usize,
    /// Context length for text data (the addition task sets its own).
    pub block_size: usize,
    pub dropout: f64,
    /// Total optimisation steps (the schedule's horizon).
    pub steps: u64,
    pub batch_size: usize,
    /// Micro-batches whose gradients are summed (averaged) before each step.
    pub grad_accum: usize,
    pub optimizer: OptimizerConfig,
    pub schedule: Schedule,
    /// Clip the global gradient norm to this (none if `None`).
    pub clip: Option<f64>,
    /// Evaluate (validation loss, exact match), log and checkpoint every this many steps.
    pub eval_interval: u64,
    /// Validation batches per evaluation (text data).
    pub eval_batches: usize,
    /// Early stopping: stop after this many evaluations without a better validation loss.
    pub patience: Option<u64>,
    pub seed: u64,
    /// Checkpoints kept in the run folder, newest first: one unreadable file is not the end of a run.
    #[serde(default = "default_keep_checkpoints")]
    pub keep_checkpoints: usize,
    /// Learn from a teacher too (`emergent distill`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub distill: Option<DistillConfig>,
    /// The data's [`crate::data::fingerprint`] when the run began (text files and shards), which
    /// `--resume` checks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_fingerprint: Option<String>,
    /// ZeRO stage across data-parallel ranks: 0 (every rank keeps the whole optimizer state) or 1
    /// (each keeps its shard's; see [`crate::distributed::ZeroShards`]). The arithmetic is the same.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub zero_stage: u8,
}

fn is_zero(stage: &u8) -> bool {
    *stage == 0
}

impl Default for TrainConfig {
    /// The default run: 4-digit addition (answer in natural order) with a 2-layer, 128-wide GPT.
    fn default() -> Self {
        Self {
            data: DataConfig::Arithmetic { op: Operation::Add, digits: 4, held_out: 500 },
            arch: Architecture::Gpt,
            n_layer: 2,
            n_head: 4,
            n_embd: 128,
            block_size: 64,
            dropout: 0.0,
            steps: 3000,
            batch_size: 64,
            grad_accum: 1,
            optimizer: OptimizerConfig {
                kind: OptimizerKind::Adamw,
                lr: 1e-3,
                weight_decay: 0.1,
                beta1: 0.9,
                beta2: 0.99,
                eps: 1e-8,
                momentum: 0.9,
                nesterov: false,
            },
            schedule: Schedule::WarmupCosine { warmup: 100, total: 3000, min_ratio: 0.1 },
            clip: Some(1.0),
            eval_interval: 100,
            eval_batches: 10,
            patience: None,
            seed: 1337,
            keep_checkpoints: default_keep_checkpoints(),
            distill: None,
            data_fingerprint: None,
            zero_stage: 0,
        }
    }
}

fn default_keep_checkpoints() -> usize {
    2
}

/// serde's "unknown field `lrr`, expected one of `kind`, `lr`, …" with the nearest known key named
/// ("did you mean `lr`?"); other messages unchanged.
pub fn unknown_key_hint(message: &str) -> String {
    let quoted = |s: &str| s.split('`').skip(1).step_by(2).map(str::to_string).collect::<Vec<_>>();
    let Some(rest) = message.strip_prefix("unknown field ") else { return message.to_string() };
    let Some((unknown, expected)) = rest.split_once(", expected") else { return message.to_string() };
    let unknown = quoted(unknown).pop().unwrap_or_default();
    let chars = |s: &str| s.chars().collect::<Vec<_>>();
    let nearest =
        quoted(expected).into_iter().min_by_key(|k| crate::metrics::edit_distance(&chars(k), &chars(&unknown)));
    match nearest {
        Some(k) => format!("{message} (did you mean `{k}`?)"),
        None => message.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_misspelt_key_is_refused_with_the_nearest_known_one() {
        let mut json = serde_json::to_value(TrainConfig::default()).unwrap();
        json["optimizer"]["lrr"] = serde_json::json!(0.1);
        let e = serde_json::from_value::<TrainConfig>(json).unwrap_err().to_string();
        assert!(unknown_key_hint(&e).ends_with("(did you mean `lr`?)"), "{}", unknown_key_hint(&e));
        let mut json = serde_json::to_value(TrainConfig::default()).unwrap();
        json["n_layers"] = serde_json::json!(4);
        let e = serde_json::from_value::<TrainConfig>(json).unwrap_err().to_string();
        assert!(
            unknown_key_hint(&e).contains("unknown field `n_layers`") && unknown_key_hint(&e).ends_with("`n_layer`?)")
        );
        assert_eq!(unknown_key_hint("missing field `seed`"), "missing field `seed`");
    }
}
