//! Metrics (F15) and the run's log: one JSON object per logged step in `metrics.jsonl`.

use crate::error::{Result, TrainError};
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::Path;
use tensor::Tensor;

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

/// Levenshtein distance: the fewest insertions, deletions and substitutions turning `a` into `b`.
pub fn edit_distance<T: PartialEq>(a: &[T], b: &[T]) -> usize {
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, x) in a.iter().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, y) in b.iter().enumerate() {
            let substitute = diagonal + usize::from(x != y);
            diagonal = row[j + 1];
            row[j + 1] = substitute.min(row[j] + 1).min(diagonal + 1);
        }
    }
    row[b.len()]
}

/// Fraction of positions with a target (`≠ ignore`) where the arg-max of `logits (…, V)` is the
/// target: teacher-forced per-token accuracy.
pub fn token_accuracy(logits: &Tensor, targets: &Tensor, ignore: i64) -> Result<f64> {
    let predicted = logits.argmax(-1, false)?.to_vec::<i64>()?;
    let targets = targets.to_vec::<i64>()?;
    let scored: Vec<bool> = predicted.iter().zip(&targets).filter(|(_, &t)| t != ignore).map(|(p, t)| p == t).collect();
    Ok(if scored.is_empty() { 0.0 } else { scored.iter().filter(|&&c| c).count() as f64 / scored.len() as f64 })
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
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
    /// Teacher-forced accuracy of each answer token (arithmetic tasks).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_accuracy: Option<f64>,
    /// Mean Levenshtein distance between generated and true answers, in tokens (arithmetic tasks).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub edit_distance: Option<f64>,
    /// Accuracy on all training / validation pairs (the grokking task).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub train_acc: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub val_acc: Option<f64>,
    /// `‖θ‖₂` over all parameters, at evaluations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight_norm: Option<f64>,
    pub tokens_per_s: f64,
    pub elapsed_s: f64,
}

/// Appends a record as one line, in one `write`: a kill leaves the line whole or torn at its end,
/// never interleaved.
pub fn append(path: &Path, record: &impl serde::Serialize) -> Result<()> {
    let mut f =
        std::fs::OpenOptions::new().create(true).append(true).open(path).map_err(|e| TrainError::io(path, e))?;
    let line = serde_json::to_string(record).expect("records serialise") + "\n";
    f.write_all(line.as_bytes()).map_err(|e| TrainError::io(path, e))
}

/// Every record of a metrics file (a torn line, from a kill or a full disk mid-write, is skipped).
pub fn read(path: &Path) -> Result<Vec<MetricsRecord>> {
    Ok(read_lines(path)?.0)
}

/// The records, how many lines are not records (torn), and whether the file ends mid-line (the
/// next append would be glued onto that line).
fn read_lines(path: &Path) -> Result<(Vec<MetricsRecord>, usize, bool)> {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let parsed: Vec<Option<MetricsRecord>> = text.lines().map(|l| serde_json::from_str(l).ok()).collect();
            let torn = parsed.iter().filter(|r| r.is_none()).count();
            Ok((parsed.into_iter().flatten().collect(), torn, !text.is_empty() && !text.ends_with('\n')))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok((Vec::new(), 0, false)),
        Err(e) => Err(TrainError::io(path, e)),
    }
}

/// Keeps only whole records up to `step` (after a resume, later ones belong to the lost future;
/// a torn line would swallow the next record appended). Returns the number of torn lines dropped.
pub fn truncate_after(path: &Path, step: u64) -> Result<usize> {
    let (records, torn, open_line) = read_lines(path)?;
    if path.exists() && torn == 0 && !open_line && records.iter().all(|r| r.step <= step) {
        return Ok(0); // nothing to drop: the file is left untouched
    }
    let kept: Vec<String> =
        records.iter().filter(|r| r.step <= step).map(|r| serde_json::to_string(r).expect("serialise")).collect();
    let text = if kept.is_empty() { String::new() } else { kept.join("\n") + "\n" };
    model::checkpoint::write_atomically(path, text.as_bytes())?;
    Ok(torn)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn perplexity_and_exact_match() {
        assert!((perplexity(2f64.ln()) - 2.0).abs() < 1e-12);
        assert_eq!(exact_match(&["12", "34", "56"], &["12", "35", "56"]), 2.0 / 3.0);
    }

    #[test]
    fn edit_distance_by_hand() {
        let d = |a: &str, b: &str| edit_distance(&a.chars().collect::<Vec<_>>(), &b.chars().collect::<Vec<_>>());
        assert_eq!(d("kitten", "sitting"), 3);
        assert_eq!(d("00702", "00702"), 0);
        assert_eq!(d("00702", "00712"), 1);
        assert_eq!(d("", "123"), 3);
        assert_eq!(d("1234", ""), 4);
        assert_eq!(d("1234", "2341"), 2);
    }

    #[test]
    fn a_torn_last_line_is_removed_on_resume_and_the_next_record_stands_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("metrics.jsonl");
        let record = |step| MetricsRecord { step, train_loss: 1.0, ..MetricsRecord::default() };
        append(&path, &record(10)).unwrap();
        append(&path, &record(20)).unwrap();
        // A write cut short (full disk, kill): half of the step-30 line, no newline.
        let whole = std::fs::read_to_string(&path).unwrap();
        let line = serde_json::to_string(&record(30)).unwrap();
        std::fs::write(&path, format!("{whole}{}", &line[..line.len() / 2])).unwrap();
        assert_eq!(truncate_after(&path, 20).unwrap(), 1, "the torn line is reported");
        append(&path, &record(30)).unwrap();
        let steps: Vec<u64> = read(&path).unwrap().iter().map(|r| r.step).collect();
        assert_eq!(steps, vec![10, 20, 30]);
        assert_eq!(truncate_after(&path, 30).unwrap(), 0);
        // A whole record whose newline was cut: kept, and closed so the next one stands alone.
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::write(&path, text.trim_end()).unwrap();
        assert_eq!(truncate_after(&path, 30).unwrap(), 0);
        append(&path, &record(40)).unwrap();
        assert_eq!(read(&path).unwrap().len(), 4);
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::write(&path, text.lines().take(3).collect::<Vec<_>>().join("\n") + "\n").unwrap();
        // Records past the checkpoint go; the file is otherwise untouched.
        assert_eq!(truncate_after(&path, 15).unwrap(), 0);
        assert_eq!(read(&path).unwrap().len(), 1);
    }

    #[test]
    fn token_accuracy_skips_ignored_positions() {
        // Rows: argmax 2, 0, 1; targets 2, ignored, 0 → one right out of two scored.
        let logits = Tensor::from_vec(vec![0.0f32, 1.0, 3.0, 5.0, 1.0, 0.0, 0.0, 2.0, 1.0], &[1, 3, 3]).unwrap();
        let targets = Tensor::from_vec(vec![2i64, -100, 0], &[1, 3]).unwrap();
        assert_eq!(token_accuracy(&logits, &targets, -100).unwrap(), 0.5);
    }
}
