//! `emergent bert-pretrain`: masked-LM + next-sentence pre-training of a BERT on documents (the
//! built-in generated reviews by default); the result starts `emergent classify --init`.

use crate::bert::pretrain::{run_pretrain, PretrainConfig, MODEL_DIR};
use crate::error::{Result, TrainError};
use clap::Args;
use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(Debug, Args)]
pub struct BertPretrainArgs {
    /// A text file: one sentence per line, a blank line between documents [default: generated reviews].
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Documents of the built-in corpus.
    #[arg(long, default_value_t = PretrainConfig::default().documents)]
    pub documents: usize,
    /// Use this vocab.txt instead of learning a WordPiece vocabulary.
    #[arg(long)]
    pub vocab: Option<PathBuf>,
    /// Size of the WordPiece vocabulary learned from the data.
    #[arg(long, default_value_t = PretrainConfig::default().vocab_size)]
    pub vocab_size: usize,
    /// Transformer blocks.
    #[arg(long, default_value_t = PretrainConfig::default().n_layer)]
    pub n_layer: usize,
    /// Attention heads per block; must divide --n-embd.
    #[arg(long, default_value_t = PretrainConfig::default().n_head)]
    pub n_head: usize,
    /// Hidden width of the encoder.
    #[arg(long, default_value_t = PretrainConfig::default().n_embd)]
    pub n_embd: usize,
    /// Tokens per sentence pair with [CLS] and two [SEP] (the model's positions).
    #[arg(long, default_value_t = PretrainConfig::default().max_len)]
    pub max_len: usize,
    /// Sentence pairs per step.
    #[arg(long, default_value_t = PretrainConfig::default().batch_size)]
    pub batch_size: usize,
    /// Optimisation steps.
    #[arg(long, default_value_t = PretrainConfig::default().steps)]
    pub steps: u64,
    /// Peak learning rate (AdamW).
    #[arg(long, default_value_t = PretrainConfig::default().lr)]
    pub lr: f64,
    /// AdamW's decoupled weight decay λ.
    #[arg(long, default_value_t = PretrainConfig::default().weight_decay)]
    pub weight_decay: f64,
    /// Evaluate and log every this many steps.
    #[arg(long, default_value_t = PretrainConfig::default().eval_interval)]
    pub eval_interval: u64,
    /// Share of tokens chosen for the masked-LM loss.
    #[arg(long, default_value_t = PretrainConfig::default().mask_probability)]
    pub mask_probability: f64,
    /// Seed of the weights, the masking and the batches.
    #[arg(long, default_value_t = PretrainConfig::default().seed)]
    pub seed: u64,
    /// Run folder [default: runs/bert-pretrain].
    #[arg(long, default_value = "runs/bert-pretrain")]
    pub out: PathBuf,
    #[command(flatten)]
    pub device: super::DeviceArgs,
}

pub fn run(args: &BertPretrainArgs, out: &mut dyn Write) -> Result<()> {
    let (device, _context) = args.device.open(super::AttentionPath::Fused)?;
    let cfg = PretrainConfig {
        data: args.data.clone(),
        documents: args.documents,
        vocab: args.vocab.clone(),
        vocab_size: args.vocab_size,
        n_layer: args.n_layer,
        n_head: args.n_head,
        n_embd: args.n_embd,
        max_len: args.max_len,
        batch_size: args.batch_size,
        steps: args.steps,
        lr: args.lr,
        weight_decay: args.weight_decay,
        eval_interval: args.eval_interval,
        mask_probability: args.mask_probability,
        seed: args.seed,
    };
    let last = run_pretrain(&cfg, &args.out, device, true)?;
    let io = |e| TrainError::io(Path::new("<stdout>"), e);
    writeln!(
        out,
        "step {}: validation masked-LM loss {:.4} (accuracy {:.1}% of masked tokens), next-sentence loss {:.4} \
         (accuracy {:.1}%)",
        last.step,
        last.val_mlm_loss,
        100.0 * last.val_mlm_accuracy,
        last.val_nsp_loss,
        100.0 * last.val_nsp_accuracy
    )
    .map_err(io)?;
    let model = args.out.join(MODEL_DIR);
    writeln!(out, "model: {} (fine-tune it: emergent classify --init {})", model.display(), model.display())
        .map_err(io)?;
    writeln!(out, "metrics: {0}/metrics.jsonl, plot: {0}/pretrain.png", args.out.display()).map_err(io)
}
