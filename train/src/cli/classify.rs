//! `emergent classify`: fine-tune a BERT classifier on TSV files or the built-in reviews; report
//! accuracy and F1 on dev and test.

use crate::bert::classify::{run_classify, ClassifyConfig, BEST_DIR};
use crate::error::{Result, TrainError};
use clap::Args;
use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(Debug, Args)]
pub struct ClassifyArgs {
    /// Training examples, one `text<TAB>label` per line [default: generated reviews].
    #[arg(long)]
    pub train: Option<PathBuf>,
    /// Dev examples (TSV) [default: a tenth of --train held out].
    #[arg(long, requires = "train")]
    pub dev: Option<PathBuf>,
    /// Test examples (TSV), scored once at the end with the best model.
    #[arg(long, requires = "train")]
    pub test: Option<PathBuf>,
    /// Training examples of the built-in task (dev and test get an eighth as many).
    #[arg(long, default_value_t = ClassifyConfig::default().generated)]
    pub examples: usize,
    /// Start from this BERT folder (e.g. runs/bert-pretrain/model): its encoder and vocab.txt.
    #[arg(long)]
    pub init: Option<PathBuf>,
    /// Use this vocab.txt instead of learning a WordPiece vocabulary from the training texts.
    #[arg(long, conflicts_with = "init")]
    pub vocab: Option<PathBuf>,
    /// Size of the WordPiece vocabulary learned from the training texts.
    #[arg(long, default_value_t = ClassifyConfig::default().vocab_size)]
    pub vocab_size: usize,
    /// Transformer blocks (ignored with --init).
    #[arg(long, default_value_t = ClassifyConfig::default().n_layer)]
    pub n_layer: usize,
    /// Attention heads per block; must divide --n-embd (ignored with --init).
    #[arg(long, default_value_t = ClassifyConfig::default().n_head)]
    pub n_head: usize,
    /// Hidden width of the encoder (ignored with --init).
    #[arg(long, default_value_t = ClassifyConfig::default().n_embd)]
    pub n_embd: usize,
    /// Tokens per example with [CLS] and [SEP]; longer texts are truncated.
    #[arg(long, default_value_t = ClassifyConfig::default().max_len)]
    pub max_len: usize,
    /// Examples per step.
    #[arg(long, default_value_t = ClassifyConfig::default().batch_size)]
    pub batch_size: usize,
    /// Passes over the training examples.
    #[arg(long, default_value_t = ClassifyConfig::default().epochs)]
    pub epochs: usize,
    /// Peak learning rate (AdamW).
    #[arg(long, default_value_t = ClassifyConfig::default().lr)]
    pub lr: f64,
    /// AdamW's decoupled weight decay λ.
    #[arg(long, default_value_t = ClassifyConfig::default().weight_decay)]
    pub weight_decay: f64,
    /// Dev evaluations per epoch.
    #[arg(long, default_value_t = ClassifyConfig::default().evals_per_epoch)]
    pub evals_per_epoch: usize,
    /// Early stopping: dev evaluations without a better dev loss before stopping.
    #[arg(long)]
    pub patience: Option<u64>,
    /// Binary tasks: one logit with binary cross-entropy instead of two with softmax.
    #[arg(long)]
    pub single_logit: bool,
    /// Seed of the weights, the split and the batches.
    #[arg(long, default_value_t = ClassifyConfig::default().seed)]
    pub seed: u64,
    /// Run folder [default: runs/classify-<data>].
    #[arg(long)]
    pub out: Option<PathBuf>,
    #[command(flatten)]
    pub device: super::DeviceArgs,
}

pub fn run(args: &ClassifyArgs, out: &mut dyn Write) -> Result<()> {
    let (device, _context) = args.device.open(super::AttentionPath::Fused)?;
    let cfg = ClassifyConfig {
        train: args.train.clone(),
        dev: args.dev.clone(),
        test: args.test.clone(),
        generated: args.examples,
        init: args.init.clone(),
        vocab: args.vocab.clone(),
        vocab_size: args.vocab_size,
        n_layer: args.n_layer,
        n_head: args.n_head,
        n_embd: args.n_embd,
        max_len: args.max_len,
        batch_size: args.batch_size,
        epochs: args.epochs,
        lr: args.lr,
        weight_decay: args.weight_decay,
        evals_per_epoch: args.evals_per_epoch,
        patience: args.patience,
        single_logit: args.single_logit,
        seed: args.seed,
    };
    let dir = args.out.clone().unwrap_or_else(|| {
        let data = args.train.as_ref().and_then(|p| p.file_stem()).map_or("reviews".into(), |s| s.to_string_lossy());
        PathBuf::from("runs").join(format!("classify-{data}"))
    });
    let summary = run_classify(&cfg, &dir, device, true)?;
    let io = |e| TrainError::io(Path::new("<stdout>"), e);
    writeln!(out, "{}", summary.report).map_err(io)?;
    writeln!(
        out,
        "best model: {}, metrics: {}/metrics.jsonl, plot: {}/classify.png",
        dir.join(BEST_DIR).display(),
        dir.display(),
        dir.display()
    )
    .map_err(io)
}
