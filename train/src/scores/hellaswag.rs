//! HellaSwag (Zellers et al. 2019) scored completion-style, as llm.c's `dev/data/hellaswag.py` does:
//! a context and four candidate endings; the model picks the ending it finds least surprising.
//!
//! For candidate `i` the row is `BPE(ctx) ++ BPE(" " + endingᵢ)`; the loss of ending token `t` at
//! position `p` is the cross-entropy `ℓₚ = −log softmax(logits[p−1])[t]` (F6). Then
//! - `sumᵢ = Σₚ ℓₚ` over the ending's positions (the prediction of `acc`), and
//! - `meanᵢ = sumᵢ / |endingᵢ|` (the prediction of `acc_norm`, not favouring short endings);
//!
//! the lowest wins (the first of equals). A row longer than the model's context keeps its last
//! `context + 1` tokens (the context is cut from the left); an ending longer than the context is an
//! error.

use crate::error::{Result, TrainError};
use crate::tokenizer::Tokenizer;
use model::LanguageModel;
use serde::Deserialize;
use std::path::Path;
use tensor::Tensor;

/// One HellaSwag item: the context, four endings and the index of the right one.
#[derive(Debug, Clone, PartialEq)]
pub struct HellaSwagItem {
    pub ctx: String,
    pub endings: [String; 4],
    pub label: usize,
}

/// The public jsonl format's fields this scoring reads; the others (`ind`, `activity_label`, …) are
/// ignored.
#[derive(Deserialize)]
struct Line {
    ctx: String,
    endings: Vec<String>,
    label: serde_json::Value,
}

/// Reads every item of a HellaSwag `.jsonl` file, checking each line before any is scored: a line
/// that is not JSON, lacks `ctx`/`endings`/`label`, has other than four endings or a label outside
/// 0..4 is an error naming the file and line.
pub fn read_hellaswag(path: &Path) -> Result<Vec<HellaSwagItem>> {
    let text = std::fs::read_to_string(path).map_err(|e| TrainError::io(path, e))?;
    let mut items = Vec::new();
    for (number, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let bad = |why: String| TrainError::Invalid(format!("{} line {}: {why}", path.display(), number + 1));
        let parsed: Line = serde_json::from_str(line).map_err(|e| bad(format!("not a HellaSwag item: {e}")))?;
        let count = parsed.endings.len();
        let endings: [String; 4] =
            parsed.endings.try_into().map_err(|_| bad(format!("{count} endings; a HellaSwag item has 4")))?;
        let label = match &parsed.label {
            serde_json::Value::Number(n) => n.as_u64(),
            serde_json::Value::String(s) => s.trim().parse().ok(),
            _ => None,
        }
        .filter(|&l| l < 4)
        .ok_or_else(|| bad(format!("label {} is not one of 0, 1, 2, 3", parsed.label)))?;
        items.push(HellaSwagItem { ctx: parsed.ctx, endings, label: label as usize });
    }
    if items.is_empty() {
        return Err(TrainError::Invalid(format!("{}: no HellaSwag items", path.display())));
    }
    Ok(items)
}

/// The four endings' summed and mean cross-entropy under a model.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EndingScores {
    pub sum: [f64; 4],
    pub mean: [f64; 4],
}

impl EndingScores {
    /// The ending of lowest summed loss (`acc`'s prediction).
    pub fn predicted(&self) -> usize {
        argmin(&self.sum)
    }
    /// The ending of lowest mean loss (`acc_norm`'s prediction).
    pub fn predicted_norm(&self) -> usize {
        argmin(&self.mean)
    }
}

/// The index of the smallest value, the first of equals; NaN never wins.
fn argmin(values: &[f64; 4]) -> usize {
    (1..4).fold(0, |best, i| if values[i] < values[best] || values[best].is_nan() { i } else { best })
}

/// Tokenises `item` as llm.c does: the context, then each ending with a space before it.
pub fn tokenize_item(item: &HellaSwagItem, tokenizer: &dyn Tokenizer) -> Result<(Vec<u32>, [Vec<u32>; 4])> {
    let ctx = tokenizer.encode(&item.ctx)?;
    let mut endings: [Vec<u32>; 4] = Default::default();
    for (ids, ending) in endings.iter_mut().zip(&item.endings) {
        *ids = tokenizer.encode(&format!(" {ending}"))?;
    }
    Ok((ctx, endings))
}

/// Scores the four rows `ctx ++ endingᵢ` in one forward pass of a batch of four (rows padded on the
/// right; causal attention keeps the padding from the scored positions).
pub fn score_endings(model: &dyn LanguageModel, ctx: &[u32], endings: &[Vec<u32>; 4]) -> Result<EndingScores> {
    let vocab = model.vocab_size();
    let context = model.max_positions().unwrap_or(usize::MAX);
    if ctx.is_empty() {
        return Err(TrainError::Invalid("an empty context: the first ending token needs one before it".into()));
    }
    let mut rows = Vec::with_capacity(4);
    for ending in endings {
        if ending.is_empty() || ending.len() > context {
            return Err(TrainError::Invalid(format!(
                "an ending of {} tokens: the model's context holds {context}, and an ending needs at least one",
                ending.len()
            )));
        }
        let row: Vec<u32> = ctx.iter().chain(ending).copied().collect();
        let keep = row.len().min(context.saturating_add(1));
        rows.push(row[row.len() - keep..].to_vec());
    }
    if let Some(&id) = rows.iter().flatten().find(|&&id| id as usize >= vocab) {
        return Err(TrainError::Invalid(format!("token id {id} is outside the model's vocabulary of {vocab}")));
    }
    // Inputs are every token but the last; the logits at p−1 predict the token at p.
    let width = rows.iter().map(|r| r.len() - 1).max().unwrap_or(1);
    let mut inputs = vec![0i64; 4 * width];
    for (i, row) in rows.iter().enumerate() {
        for (p, &id) in row[..row.len() - 1].iter().enumerate() {
            inputs[i * width + p] = i64::from(id);
        }
    }
    let logits = autograd::no_grad(|| model.logits(&Tensor::from_vec(inputs, &[4, width])?, None))?;
    let log_probs: Vec<f32> = logits.value().log_softmax(-1)?.to_vec()?;
    let mut scores = EndingScores { sum: [0.0; 4], mean: [0.0; 4] };
    for (i, (row, ending)) in rows.iter().zip(endings).enumerate() {
        let first = row.len() - ending.len();
        let sum: f64 =
            (first..row.len()).map(|p| -f64::from(log_probs[(i * width + p - 1) * vocab + row[p] as usize])).sum();
        scores.sum[i] = sum;
        scores.mean[i] = sum / ending.len() as f64;
    }
    Ok(scores)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(text: &str) -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.jsonl");
        std::fs::write(&path, text).unwrap();
        (dir, path)
    }

    #[test]
    fn reads_items_with_numeric_or_string_labels() {
        let (_dir, path) = write(concat!(
            r#"{"ind": 1, "ctx": "A man", "endings": ["a", "b", "c", "d"], "label": 3}"#,
            "\n\n",
            r#"{"ctx": "B", "endings": ["e", "f", "g", "h"], "label": "0", "split": "val"}"#,
            "\n"
        ));
        let items = read_hellaswag(&path).unwrap();
        assert_eq!(items.len(), 2);
        assert_eq!((items[0].label, items[1].label), (3, 0));
        assert_eq!(items[1].endings[3], "h");
    }

    #[test]
    fn bad_lines_are_named() {
        let good = r#"{"ctx": "A", "endings": ["a", "b", "c", "d"], "label": 1}"#;
        for (bad, says) in [
            (r#"{"ctx": "A", "endings": ["a", "b", "c"], "label": 1}"#, "3 endings"),
            (r#"{"ctx": "A", "endings": ["a", "b", "c", "d"], "label": 4}"#, "label 4"),
            (r#"{"ctx": "A", "endings": ["a", "b", "c", "d"], "label": -1}"#, "label -1"),
            (r#"{"endings": ["a", "b", "c", "d"], "label": 1}"#, "missing field `ctx`"),
            ("not json", "not a HellaSwag item"),
        ] {
            let (_dir, path) = write(&format!("{good}\n{bad}\n"));
            let err = read_hellaswag(&path).unwrap_err().to_string();
            assert!(err.contains("line 2") && err.contains(says), "{bad}: {err}");
        }
        let (_dir, path) = write("\n");
        assert!(read_hellaswag(&path).unwrap_err().to_string().contains("no HellaSwag items"));
    }

    #[test]
    fn the_first_of_equal_losses_wins_and_nan_never_does() {
        assert_eq!(argmin(&[2.0, 1.0, 1.0, 3.0]), 1);
        assert_eq!(argmin(&[f64::NAN, 5.0, 4.0, 4.5]), 2);
        assert_eq!(argmin(&[1.0, f64::NAN, 0.5, f64::NAN]), 2);
    }
}
