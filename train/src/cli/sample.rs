//! `emergent sample`: continue a prompt with a trained model (F14), using the KV cache (GPT).

use crate::error::{Result, TrainError};
use crate::trainer::{checkpoint_dir, load_tokenizer};
use clap::Args;
use model::generate::Sampling;
use model::load_language_model;
use std::path::{Path, PathBuf};
use tensor::{DType, Tensor};

#[derive(Debug, Args)]
pub struct SampleArgs {
    /// A run folder (its latest checkpoint is used) or a checkpoint folder.
    #[arg(long)]
    pub checkpoint: PathBuf,
    /// A folder with GPT-2's vocab.json + merges.txt, for a checkpoint folder without a tokenizer of
    /// its own (a bare HF GPT-2 folder has the two files itself and needs none).
    #[arg(long)]
    pub vocab: Option<PathBuf>,
    /// The text to continue.
    #[arg(long, default_value = "\n")]
    pub prompt: String,
    /// Tokens to generate; past the model's context each next token is predicted from the last
    /// context-length tokens.
    #[arg(long, default_value_t = 200)]
    pub tokens: usize,
    /// End the text at the first generated `<|endoftext|>` (the document separator), leaving it out.
    #[arg(long)]
    pub stop_at_eot: bool,
    /// Always take the most likely token.
    #[arg(long)]
    pub greedy: bool,
    /// Divide the logits by this before sampling: lower is more conservative.
    #[arg(long, default_value_t = 0.8)]
    pub temperature: f64,
    /// Sample only among the k most likely tokens.
    #[arg(long)]
    pub top_k: Option<usize>,
    /// Sample only within the smallest set of tokens whose probability reaches p.
    #[arg(long)]
    pub top_p: Option<f64>,
    /// Seed of the sampler.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    #[command(flatten)]
    pub device: super::DeviceArgs,
}

pub fn run(args: &SampleArgs, out: &mut dyn std::io::Write) -> Result<()> {
    let (device, _context) = args.device.open(super::AttentionPath::Fused)?;
    let dir = checkpoint_dir(&args.checkpoint)?;
    let model = load_language_model(&dir, DType::F32)?;
    model.params().to_device(device)?;
    let tokenizer = load_tokenizer(&dir, args.vocab.as_deref())?;
    let ids: Vec<i64> = tokenizer.encode(&args.prompt)?.into_iter().map(i64::from).collect();
    if ids.is_empty() {
        return Err(TrainError::Invalid("the prompt encodes to no tokens".into()));
    }
    let stop =
        match args.stop_at_eot {
            true => Some(tokenizer.end_of_text().ok_or_else(|| {
                TrainError::Invalid("--stop-at-eot: this model's tokenizer has no <|endoftext|>".into())
            })?),
            false => None,
        };
    let sampling = if args.greedy {
        Sampling::Greedy
    } else {
        Sampling::Sample { temperature: args.temperature, top_k: args.top_k, top_p: args.top_p }
    };
    let n = ids.len();
    let prompt = Tensor::from_vec(ids, &[1, n])?;
    let result = model.generate(&prompt, args.tokens, sampling, &mut tensor::rng(args.seed))?;
    let mut all: Vec<u32> = result.to_vec::<i64>()?.iter().map(|&i| i as u32).collect();
    if let Some(at) = stop.and_then(|eot| all[n..].iter().position(|&id| id == eot)) {
        all.truncate(n + at);
    }
    writeln!(out, "{}", tokenizer.decode(&all)?).map_err(|e| TrainError::io(Path::new("<stdout>"), e))
}
