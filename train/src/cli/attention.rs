//! `emergent attention`: the attention maps of every layer and head for a prompt, as one PNG.

use crate::error::{Result, TrainError};
use crate::trainer::{checkpoint_dir, load_tokenizer};
use clap::Args;
use model::gpt2::Gpt2;
use std::path::{Path, PathBuf};
use tensor::{DType, Tensor};

#[derive(Debug, Args)]
pub struct AttentionArgs {
    /// A run folder (its latest checkpoint is used) or a checkpoint folder.
    #[arg(long)]
    pub checkpoint: PathBuf,
    /// A folder with GPT-2's vocab.json + merges.txt, for a checkpoint folder without a tokenizer of
    /// its own (a bare HF GPT-2 folder has the two files itself and needs none).
    #[arg(long)]
    pub vocab: Option<PathBuf>,
    /// The text whose attention to draw.
    #[arg(long)]
    pub prompt: String,
    /// Where to write the PNG.
    #[arg(long, default_value = "attention.png")]
    pub out: PathBuf,
}

pub fn run(args: &AttentionArgs, out: &mut dyn std::io::Write) -> Result<()> {
    let dir = checkpoint_dir(&args.checkpoint)?;
    let model = Gpt2::load(&dir, DType::F32)?;
    let tokenizer = load_tokenizer(&dir, args.vocab.as_deref())?;
    let ids = tokenizer.encode(&args.prompt)?;
    if ids.is_empty() || ids.len() > model.config.n_positions {
        return Err(TrainError::Invalid(format!(
            "the prompt has {} tokens; the model takes 1 to {}",
            ids.len(),
            model.config.n_positions
        )));
    }
    let tokens = ids.iter().map(|&i| tokenizer.decode(&[i])).collect::<Result<Vec<_>>>()?;
    let n = ids.len();
    let maps = model.attention_maps(&Tensor::from_vec(ids.into_iter().map(i64::from).collect(), &[1, n])?)?;
    let title = format!("attention of {} for {:?}", dir.display(), args.prompt);
    crate::plot::write_attention_grid(&args.out, &maps, &tokens, &title)?;
    writeln!(out, "{} layers × {} heads written to {}", maps.len(), model.config.n_head, args.out.display())
        .map_err(|e| TrainError::io(Path::new("<stdout>"), e))
}
