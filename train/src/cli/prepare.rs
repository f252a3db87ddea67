//! `emergent prepare`: text (plain or `.jsonl`) to GPT-2 token shards in llm.c's format, streaming.

use crate::data::prepare::{prepare, ShardSizes};
use crate::error::{Result, TrainError};
use crate::tokenizer::Gpt2Tokenizer;
use clap::Args;
use std::path::PathBuf;
use std::time::Instant;

#[derive(Debug, Args)]
pub struct PrepareArgs {
    /// Text files or .jsonl files (a "text" field per line), or glob patterns of them. A .jsonl line
    /// is a document; in a text file the runs of lines between empty lines are.
    #[arg(required = true)]
    pub inputs: Vec<String>,
    /// Folder with GPT-2's vocab.json + merges.txt.
    #[arg(long)]
    pub vocab: PathBuf,
    /// Folder to write the shards to.
    #[arg(long)]
    pub out: PathBuf,
    /// Shard file names: NAME_val_000000.bin, NAME_train_000001.bin, …
    #[arg(long, default_value = "data")]
    pub name: String,
    /// Tokens of the validation shard (shard 0, the first tokens of the input).
    #[arg(long, default_value_t = 1_000_000)]
    pub val_tokens: usize,
    /// Tokens per training shard (llm.c writes 100M).
    #[arg(long, default_value_t = 100_000_000)]
    pub shard_tokens: usize,
}

pub fn run(args: &PrepareArgs, out: &mut dyn std::io::Write) -> Result<()> {
    let mut inputs = Vec::new();
    for pattern in &args.inputs {
        let matched: Vec<PathBuf> = match glob::glob(pattern) {
            Ok(paths) if pattern.contains(['*', '?', '[']) => paths.flatten().collect(),
            _ => vec![PathBuf::from(pattern)],
        };
        if matched.is_empty() {
            return Err(TrainError::Invalid(format!("{pattern}: no file matches")));
        }
        inputs.extend(matched);
    }
    let tokenizer = Gpt2Tokenizer::load(&args.vocab)?;
    let sizes = ShardSizes { val_tokens: args.val_tokens, shard_tokens: args.shard_tokens };
    let started = Instant::now();
    let bar = indicatif::ProgressBar::new_spinner();
    let prepared = prepare(&inputs, &tokenizer, &args.out, &args.name, sizes, |tokens| {
        let rate = tokens as f64 / started.elapsed().as_secs_f64().max(1e-9);
        bar.set_message(format!("{tokens} tokens, {rate:.0} tokens/s"));
    })?;
    bar.finish_and_clear();
    let seconds = started.elapsed().as_secs_f64();
    let io = |e| TrainError::io(std::path::Path::new("<stdout>"), e);
    writeln!(
        out,
        "{} documents, {} tokens in {:.1} s ({:.0} tokens/s), {} shards in {}:",
        prepared.documents,
        prepared.tokens,
        seconds,
        prepared.tokens as f64 / seconds.max(1e-9),
        prepared.shards.len(),
        args.out.display()
    )
    .map_err(io)?;
    for shard in &prepared.shards {
        writeln!(out, "  {}", shard.display()).map_err(io)?;
    }
    Ok(())
}
