//! Metrics (F15) and the run's log: one JSON object per logged step in `metrics.jsonl`.

use crate::error::{Result, TrainError};
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::Path;

/// Perplexity `exp(L)` of a mean cross-entropy `L` (in nats): the effective number of equally likely
/// next tokens.
pub fn perplexity(loss: f64) -> f64 {
    loss.exp()
}

/// Fraction of predictions that equal their reference exactly (a whole answer, not per token).
pub fn exact_match<T: PartialEq>(predicted: &[T], reference: &[T]) -> f64 {
    if reference.is_empty() {
        return 0.0;
    }
    predicted.iter().zip(reference).filter(|(p, r)| p == r).count() as f64 / reference.len() as f64
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricsRecord {
    pub step: u64,
    pub train_loss: f64,
    pub lr: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub val_loss: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub val_perplexity: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exact_match: Option<f64>,
    pub tokens_per_s: f64,
    pub elapsed_s: f64,
}

/// Appends a record as one line.
pub fn append(path: &Path, record: &MetricsRecord) -> Result<()> {
    let mut f =
        std::fs::OpenOptions::new().create(true).append(true).open(path).map_err(|e| TrainError::io(path, e))?;
    let line = serde_json::to_string(record).expect("records serialise");
    writeln!(f, "{line}").map_err(|e| TrainError::io(path, e))
}

/// Every record of a metrics file (a torn last line, from a kill mid-write, is skipped).
pub fn read(path: &Path) -> Result<Vec<MetricsRecord>> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(text.lines().filter_map(|l| serde_json::from_str(l).ok()).collect()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(TrainError::io(path, e)),
    }
}

/// Keeps only records up to `step` (after a resume, later ones belong to the lost future).
pub fn truncate_after(path: &Path, step: u64) -> Result<()> {
    let kept: Vec<String> =
        read(path)?.iter().filter(|r| r.step <= step).map(|r| serde_json::to_string(r).expect("serialise")).collect();
    let text = if kept.is_empty() { String::new() } else { kept.join("\n") + "\n" };
    model::checkpoint::write_atomically(path, text.as_bytes())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn perplexity_and_exact_match() {
        assert!((perplexity(2f64.ln()) - 2.0).abs() < 1e-12);
        assert_eq!(exact_match(&["12", "34", "56"], &["12", "35", "56"]), 2.0 / 3.0);
    }
}
