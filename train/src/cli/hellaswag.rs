//! `emergent eval --hellaswag FILE`: acc and acc_norm of a language model on HellaSwag, with one JSON
//! line per item written beside.

use super::eval::EvalArgs;
use crate::error::{Result, TrainError};
use crate::scores::{read_hellaswag, score_endings, tokenize_item};
use crate::tokenizer::Tokenizer;
use model::LanguageModel;
use std::io::Write;
use std::path::Path;

/// Scores every item of `file` (up to `--max-items`), writes the predictions file atomically (a
/// stopped run leaves none), and prints the counts and both accuracies.
pub fn run(
    model: &dyn LanguageModel,
    tokenizer: &dyn Tokenizer,
    file: &Path,
    args: &EvalArgs,
    out: &mut dyn Write,
) -> Result<()> {
    let mut items = read_hellaswag(file)?;
    items.truncate(args.max_items.unwrap_or(usize::MAX).max(1));
    let bar = crate::progress::progress_bar(items.len() as u64, 0, true);
    let (mut correct, mut correct_norm, mut lines) = (0usize, 0usize, String::new());
    for (index, item) in items.iter().enumerate() {
        let (ctx, endings) = tokenize_item(item, tokenizer)?;
        let scores = score_endings(model, &ctx, &endings)
            .map_err(|e| TrainError::Invalid(format!("{} item {}: {e}", file.display(), index + 1)))?;
        let (predicted, predicted_norm) = (scores.predicted(), scores.predicted_norm());
        correct += usize::from(predicted == item.label);
        correct_norm += usize::from(predicted_norm == item.label);
        let line = serde_json::json!({
            "index": index,
            "label": item.label,
            "predicted": predicted,
            "predicted_norm": predicted_norm,
            "sum_loss": scores.sum,
            "mean_loss": scores.mean,
        });
        lines.push_str(&format!("{line}\n"));
        bar.inc(1);
        let done = (index + 1) as f64;
        bar.set_message(format!("acc {:.4} acc_norm {:.4}", correct as f64 / done, correct_norm as f64 / done));
    }
    bar.finish_and_clear();
    model::checkpoint::write_atomically(&args.predictions, lines.as_bytes())?;
    let n = items.len() as f64;
    let io = |e| TrainError::io(Path::new("<stdout>"), e);
    writeln!(out, "{} HellaSwag items of {}", items.len(), file.display()).map_err(io)?;
    writeln!(
        out,
        "acc={:.4} ({correct}/{}) acc_norm={:.4} ({correct_norm}/{})",
        correct as f64 / n,
        items.len(),
        correct_norm as f64 / n,
        items.len()
    )
    .map_err(io)?;
    writeln!(out, "predictions: {}", args.predictions.display()).map_err(io)
}
