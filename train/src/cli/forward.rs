//! `emergent forward`: logits (and optionally the loss) of a GPT-2 or BERT checkpoint on given token
//! ids; the architecture is read from the checkpoint's config.json.

use crate::error::{Result, TrainError};
use crate::npy;
use autograd::no_grad;
use autograd::Var;
use clap::Args;
use model::bert::{BertForMaskedLM, BertForPreTraining, BertForSequenceClassification};
use model::gpt2::Gpt2;
use std::path::{Path, PathBuf};
use tensor::{DType, Tensor};

#[derive(Debug, Args)]
pub struct ForwardArgs {
    /// Folder with config.json and model.safetensors in HF format: GPT2LMHeadModel / GPT2Model,
    /// BertForMaskedLM, or BertForSequenceClassification.
    #[arg(long)]
    pub checkpoint: PathBuf,
    /// Integer token ids, shape (B, T), as .npy (int32/int64/uint32/uint64).
    #[arg(long)]
    pub ids: PathBuf,
    /// Targets, printing `loss=<mean cross-entropy>` as the last line: for GPT-2 next tokens and for a
    /// masked-LM the masked tokens, shape (B, T), -100 ignoring a position; for a classifier the
    /// labels, shape (B,).
    #[arg(long)]
    pub targets: Option<PathBuf>,
    /// BERT: 1 for tokens, 0 for padding, shape (B, T) [default: all 1].
    #[arg(long)]
    pub attention_mask: Option<PathBuf>,
    /// BERT: segment ids, shape (B, T) [default: all 0].
    #[arg(long)]
    pub token_type_ids: Option<PathBuf>,
    /// Where to write the f32 logits, (B, T, vocab) for language models or (B, labels) for a
    /// classifier, as .npy.
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

/// A checkpoint of any architecture `forward` runs.
enum Checkpoint {
    Gpt2(Gpt2),
    BertMaskedLm(BertForMaskedLM),
    BertClassifier(BertForSequenceClassification),
    /// Masked-LM + next-sentence heads; `forward` writes the masked-LM logits.
    BertPreTraining(BertForPreTraining),
}

impl Checkpoint {
    /// Picks the architecture from config.json's `model_type` (and, for BERT, `architectures`).
    fn load(dir: &Path, dtype: DType) -> Result<Self> {
        let path = dir.join(model::gpt2::CONFIG_FILE);
        let text = std::fs::read_to_string(&path).map_err(|e| TrainError::io(&path, e))?;
        let v: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| TrainError::format(&path, format!("not JSON: {e}")))?;
        let is = |name: &str| v["architectures"].as_array().is_some_and(|a| a.iter().any(|x| x == name));
        Ok(match v["model_type"].as_str() {
            Some("bert") if is("BertForSequenceClassification") => {
                Checkpoint::BertClassifier(BertForSequenceClassification::load(dir, dtype)?)
            }
            Some("bert") if is("BertForPreTraining") => {
                Checkpoint::BertPreTraining(BertForPreTraining::load(dir, dtype)?)
            }
            Some("bert") => Checkpoint::BertMaskedLm(BertForMaskedLM::load(dir, dtype)?),
            _ => Checkpoint::Gpt2(Gpt2::load(dir, dtype)?),
        })
    }

    /// Logits for `ids`, with BERT's padding mask and token types.
    fn logits(&self, ids: &Tensor, mask: &Tensor, types: &Tensor) -> Result<Var> {
        Ok(match self {
            Checkpoint::Gpt2(m) => m.forward(ids, None)?,
            Checkpoint::BertMaskedLm(m) => m.forward(ids, mask, types)?,
            Checkpoint::BertClassifier(m) => m.forward(ids, mask, types)?,
            Checkpoint::BertPreTraining(m) => m.forward(ids, mask, types)?.0,
        })
    }

    fn loss(&self, logits: &Var, targets: &Tensor) -> Result<Var> {
        Ok(match self {
            Checkpoint::Gpt2(m) => m.loss(logits, targets)?,
            Checkpoint::BertMaskedLm(m) => m.loss(logits, targets)?,
            Checkpoint::BertClassifier(m) => m.loss(logits, targets)?,
            Checkpoint::BertPreTraining(m) => m.head_loss(logits, targets)?,
        })
    }

    /// The shape targets must have for ids of shape `(B, T)`.
    fn target_shape(&self, ids: &[usize]) -> Vec<usize> {
        match self {
            Checkpoint::BertClassifier(_) => ids[..1].to_vec(),
            _ => ids.to_vec(),
        }
    }
}

/// An optional `(B, T)` input file, or `fill` everywhere.
fn read_aligned(path: Option<&PathBuf>, ids: &Tensor, fill: f64) -> Result<Tensor> {
    let Some(path) = path else { return Ok(Tensor::full(ids.shape(), fill, DType::I64)) };
    let t = npy::read_ids(path)?;
    if t.shape() != ids.shape() {
        return Err(TrainError::Invalid(format!(
            "{}: shape {:?} does not match the ids {:?}",
            path.display(),
            t.shape(),
            ids.shape()
        )));
    }
    Ok(t)
}

pub fn run(args: &ForwardArgs, out: &mut dyn std::io::Write) -> Result<()> {
    let dtype = match args.dtype {
        Precision::F32 => DType::F32,
        Precision::F64 => DType::F64,
    };
    let model = Checkpoint::load(&args.checkpoint, dtype)?;
    if let Checkpoint::Gpt2(_) = model {
        for (flag, given) in [("--attention-mask", &args.attention_mask), ("--token-type-ids", &args.token_type_ids)] {
            if given.is_some() {
                return Err(TrainError::Invalid(format!("{flag} is for BERT checkpoints; GPT-2 takes neither")));
            }
        }
    }
    let ids = npy::read_ids(&args.ids)?;
    if ids.rank() != 2 {
        return Err(TrainError::Invalid(format!(
            "{}: ids must have shape (B, T), got {:?}",
            args.ids.display(),
            ids.shape()
        )));
    }
    let mask = read_aligned(args.attention_mask.as_ref(), &ids, 1.0)?;
    let types = read_aligned(args.token_type_ids.as_ref(), &ids, 0.0)?;
    let targets = args.targets.as_ref().map(|p| npy::read_ids(p).map(|t| (p, t))).transpose()?;
    if let Some((path, t)) = &targets {
        let want = model.target_shape(ids.shape());
        if t.shape() != want.as_slice() {
            return Err(TrainError::Invalid(format!(
                "{}: targets have shape {:?}, this model needs {want:?}",
                path.display(),
                t.shape()
            )));
        }
    }
    no_grad(|| -> Result<()> {
        let logits = model.logits(&ids, &mask, &types)?;
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
