//! `emergent forward`: logits (and optionally the loss) of a checkpoint on given token ids.

use crate::error::{Result, TrainError};
use crate::npy;
use autograd::no_grad;
use clap::Args;
use model::gpt2::Gpt2;
use std::path::PathBuf;
use tensor::DType;

#[derive(Debug, Args)]
pub struct ForwardArgs {
    /// Folder with config.json and model.safetensors (HF GPT2LMHeadModel or GPT2Model format).
    #[arg(long)]
    pub checkpoint: PathBuf,
    /// Integer token ids, shape (B, T), as .npy (int32/int64/uint32/uint64).
    #[arg(long)]
    pub ids: PathBuf,
    /// Next-token targets, same shape as --ids, already aligned (target[t] follows position t);
    /// -100 ignores a position. Prints `loss=<mean cross-entropy>` as the last line.
    #[arg(long)]
    pub targets: Option<PathBuf>,
    /// Where to write the f32 logits, shape (B, T, vocab), as .npy.
    #[arg(long)]
    pub out: PathBuf,
    /// Precision to compute in.
    #[arg(long, value_enum, default_value = "f32")]
    pub dtype: Precision,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Precision {
    F32,
    F64,
}

pub fn run(args: &ForwardArgs, out: &mut dyn std::io::Write) -> Result<()> {
    let dtype = match args.dtype {
        Precision::F32 => DType::F32,
        Precision::F64 => DType::F64,
    };
    let model = Gpt2::load(&args.checkpoint, dtype)?;
    let ids = npy::read_ids(&args.ids)?;
    if ids.rank() != 2 {
        return Err(TrainError::Invalid(format!(
            "{}: ids must have shape (B, T), got {:?}",
            args.ids.display(),
            ids.shape()
        )));
    }
    let targets = args.targets.as_ref().map(|p| npy::read_ids(p).map(|t| (p, t))).transpose()?;
    if let Some((path, t)) = &targets {
        if t.shape() != ids.shape() {
            return Err(TrainError::Invalid(format!(
                "{}: targets have shape {:?}, the ids {:?}",
                path.display(),
                t.shape(),
                ids.shape()
            )));
        }
    }
    no_grad(|| -> Result<()> {
        let logits = model.forward(&ids, None)?;
        npy::write_f32(&args.out, &logits.value())?;
        let io = |e| TrainError::io(&args.out, e);
        writeln!(out, "logits {:?} written to {}", logits.shape(), args.out.display()).map_err(io)?;
        if let Some((_, t)) = &targets {
            let loss = model.loss(&logits, t)?.value().to_scalar()?;
            writeln!(out, "loss={loss}").map_err(io)?;
        }
        Ok(())
    })
}
