//! `emergent eval`: loss and perplexity (F15) of a checkpoint on a text file or token shards, or its
//! HellaSwag accuracy.

use crate::error::{Result, TrainError};
use crate::trainer::{checkpoint_dir, load_tokenizer, perplexity};
use autograd::no_grad;
use clap::Args;
use model::load_language_model;
use std::path::{Path, PathBuf};
use tensor::{DType, Tensor};

#[derive(Debug, Args)]
pub struct EvalArgs {
    /// A run folder (its latest checkpoint is used) or a checkpoint folder.
    #[arg(long)]
    pub checkpoint: PathBuf,
    /// A folder with GPT-2's vocab.json + merges.txt, for a checkpoint folder without a tokenizer of
    /// its own (a bare HF GPT-2 folder has the two files itself and needs none).
    #[arg(long)]
    pub vocab: Option<PathBuf>,
    /// The text file to evaluate on, or token shards (a folder or glob, as `train --data` takes).
    #[arg(long, required_unless_present = "hellaswag", conflicts_with = "hellaswag")]
    pub data: Option<PathBuf>,
    /// Score HellaSwag instead: its public .jsonl (`ctx`, `endings`, `label` per line), completion
    /// style as llm.c does; prints acc and acc_norm.
    #[arg(long)]
    pub hellaswag: Option<PathBuf>,
    /// With --hellaswag: where to write one JSON line per item (index, label, predictions, the four
    /// summed and mean losses).
    #[arg(long, default_value = "hellaswag-predictions.jsonl")]
    pub predictions: PathBuf,
    /// With --hellaswag: score at most this many items (from the start of the file).
    #[arg(long)]
    pub max_items: Option<usize>,
    /// The part to score: `val` is what training held out (a text file's last tenth, or the shards
    /// named `val`), `train` the rest.
    #[arg(long, value_enum, default_value = "val")]
    pub split: Split,
    /// Evaluate at most this many tokens (from the start of the part).
    #[arg(long, default_value_t = 100_000)]
    pub max_tokens: usize,
    /// Window length for a model without a context limit (the LSTM); a GPT uses its context.
    #[arg(long, default_value_t = 256)]
    pub window: usize,
    /// Windows per forward pass.
    #[arg(long, default_value_t = 16)]
    pub batch_size: usize,
    #[command(flatten)]
    pub device: super::DeviceArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Split {
    Train,
    Val,
}

/// The ids of `split` in `path`, at most `max` of them: a text file is tokenised and cut as
/// training cuts it (the last tenth held out); shards are read from their maps.
fn part_ids(path: &Path, split: Split, max: usize, tokenizer: &dyn crate::tokenizer::Tokenizer) -> Result<Vec<i64>> {
    let data = if crate::data::shards::names_shards(path) {
        crate::data::TextData::shards(path)?
    } else {
        let text = std::fs::read_to_string(path).map_err(|e| TrainError::io(path, e))?;
        // Held out as training holds it out; nothing here checks where the ids came from.
        crate::data::TextData::split(tokenizer.encode(&text)?, crate::data::VAL_FRACTION, String::new())
    };
    let part = if split == Split::Val { &data.val } else { &data.train };
    Ok(part.window(0, part.len().min(max)))
}

/// Loss and perplexity of `--data`, or the HellaSwag scores of `--hellaswag`.
pub fn run(args: &EvalArgs, out: &mut dyn std::io::Write) -> Result<()> {
    let (device, _context) = args.device.open(super::AttentionPath::Fused)?;
    let dir = checkpoint_dir(&args.checkpoint)?;
    let model = load_language_model(&dir, DType::F32)?;
    model.params().to_device(device)?;
    let tokenizer = load_tokenizer(&dir, args.vocab.as_deref())?;
    match (&args.hellaswag, &args.data) {
        (Some(file), _) => super::hellaswag::run(model.as_ref(), tokenizer.as_ref(), file, args, out),
        (None, Some(data)) => run_loss(model.as_ref(), tokenizer.as_ref(), data, args, out),
        (None, None) => Err(TrainError::Invalid("give --data FILE or --hellaswag FILE".into())),
    }
}

/// Mean next-token cross-entropy over consecutive, non-overlapping windows of the model's context.
fn run_loss(
    model: &dyn model::LanguageModel,
    tokenizer: &dyn crate::tokenizer::Tokenizer,
    data: &Path,
    args: &EvalArgs,
    out: &mut dyn std::io::Write,
) -> Result<()> {
    let ids = part_ids(data, args.split, args.max_tokens, tokenizer)?;
    let block = model.max_positions().unwrap_or(args.window).max(1);
    let windows: Vec<&[i64]> = ids.windows(block + 1).step_by(block).collect();
    if windows.is_empty() {
        return Err(TrainError::Invalid(format!(
            "{}: {} tokens, fewer than one window of {}",
            data.display(),
            ids.len(),
            block + 1
        )));
    }
    let (mut total, mut count) = (0.0, 0usize);
    no_grad(|| -> Result<()> {
        for chunk in windows.chunks(args.batch_size.max(1)) {
            let b = chunk.len();
            let x: Vec<i64> = chunk.iter().flat_map(|w| w[..block].iter().copied()).collect();
            let y: Vec<i64> = chunk.iter().flat_map(|w| w[1..].iter().copied()).collect();
            let loss =
                model.forward_loss(&Tensor::from_vec(x, &[b, block])?, &Tensor::from_vec(y, &[b, block])?, None)?;
            total += loss.value().to_scalar()? * (b * block) as f64;
            count += b * block;
        }
        Ok(())
    })?;
    let loss = total / count as f64;
    let io = |e| TrainError::io(Path::new("<stdout>"), e);
    let part = if args.split == Split::Val { "validation" } else { "training" };
    writeln!(out, "{count} tokens of the {part} part of {}", data.display()).map_err(io)?;
    writeln!(out, "loss={loss:.4} perplexity={:.3}", perplexity(loss)).map_err(io)
}
