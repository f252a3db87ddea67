//! `emergent eval`: loss and perplexity (F15) of a checkpoint on a text file.

use crate::error::{Result, TrainError};
use crate::trainer::{checkpoint_dir, load_tokenizer, perplexity};
use autograd::no_grad;
use clap::Args;
use model::load_language_model;
use std::path::{Path, PathBuf};
use tensor::{DType, Tensor};

#[derive(Debug, Args)]
pub struct EvalArgs {
    /// A run folder (its latest checkpoint is used) or a checkpoint folder with tokenizer.json.
    #[arg(long)]
    pub checkpoint: PathBuf,
    /// The text file to evaluate on.
    #[arg(long)]
    pub data: PathBuf,
    /// Evaluate at most this many tokens (from the start of the file).
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

/// Mean next-token cross-entropy over consecutive, non-overlapping windows of the model's context.
pub fn run(args: &EvalArgs, out: &mut dyn std::io::Write) -> Result<()> {
    let device = args.device.open()?;
    let dir = checkpoint_dir(&args.checkpoint)?;
    let model = load_language_model(&dir, DType::F32)?;
    model.params().to_device(device)?;
    let tokenizer = load_tokenizer(&dir)?;
    let text = std::fs::read_to_string(&args.data).map_err(|e| TrainError::io(&args.data, e))?;
    let ids: Vec<i64> = tokenizer.encode(&text)?.into_iter().take(args.max_tokens).map(i64::from).collect();
    let block = model.max_positions().unwrap_or(args.window).max(1);
    let windows: Vec<&[i64]> = ids.windows(block + 1).step_by(block).collect();
    if windows.is_empty() {
        return Err(TrainError::Invalid(format!(
            "{}: {} tokens, fewer than one window of {}",
            args.data.display(),
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
            let loss = model
                .loss(&model.logits(&Tensor::from_vec(x, &[b, block])?, None)?, &Tensor::from_vec(y, &[b, block])?)?;
            total += loss.value().to_scalar()? * (b * block) as f64;
            count += b * block;
        }
        Ok(())
    })?;
    let loss = total / count as f64;
    let io = |e| TrainError::io(Path::new("<stdout>"), e);
    writeln!(out, "{count} tokens of {}", args.data.display()).map_err(io)?;
    writeln!(out, "loss={loss:.4} perplexity={:.3}", perplexity(loss)).map_err(io)
}
