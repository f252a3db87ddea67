//! `emergent translate-train` and `emergent translate`: the encoder-decoder Transformer on the
//! built-in task, numbers from digits to English words.

use crate::error::{Result, TrainError};
use crate::translate::{parse_number, run_translate_train, TranslateConfig, Translator, MODEL_DIR};
use clap::Args;
use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(Debug, Args)]
pub struct TranslateTrainArgs {
    /// Width of the embeddings and of every layer.
    #[arg(long = "n-embd", alias = "d-model", default_value_t = TranslateConfig::default().d_model)]
    pub d_model: usize,
    /// Attention heads per layer; must divide --n-embd.
    #[arg(long, default_value_t = TranslateConfig::default().n_head)]
    pub n_head: usize,
    /// Layers in each of the encoder and the decoder.
    #[arg(long = "n-layer", alias = "layers", default_value_t = TranslateConfig::default().layers)]
    pub layers: usize,
    /// Optimisation steps.
    #[arg(long, default_value_t = TranslateConfig::default().steps)]
    pub steps: u64,
    /// Number pairs per step.
    #[arg(long, default_value_t = TranslateConfig::default().batch_size)]
    pub batch_size: usize,
    /// Peak learning rate (AdamW).
    #[arg(long, default_value_t = TranslateConfig::default().lr)]
    pub lr: f64,
    /// AdamW's decoupled weight decay λ.
    #[arg(long, default_value_t = TranslateConfig::default().weight_decay)]
    pub weight_decay: f64,
    /// Warm-up steps before the learning rate decays.
    #[arg(long, default_value_t = TranslateConfig::default().warmup)]
    pub warmup: u64,
    /// Evaluate and log every this many steps.
    #[arg(long, default_value_t = TranslateConfig::default().eval_interval)]
    pub eval_interval: u64,
    /// Held-out numbers (never trained on) that the scores are computed on.
    #[arg(long, default_value_t = TranslateConfig::default().held_out)]
    pub held_out: usize,
    /// Beam width of the final beam-search scores.
    #[arg(long, default_value_t = TranslateConfig::default().beam_width)]
    pub beam: usize,
    /// α in the beam's score log P / |y|^α.
    #[arg(long, default_value_t = TranslateConfig::default().length_penalty)]
    pub length_penalty: f64,
    /// Seed of the weights, the data and the batches.
    #[arg(long, default_value_t = TranslateConfig::default().seed)]
    pub seed: u64,
    /// Run folder.
    #[arg(long, default_value = "runs/translate")]
    pub out: PathBuf,
    #[command(flatten)]
    pub device: super::DeviceArgs,
}

pub fn run_train(args: &TranslateTrainArgs, out: &mut dyn Write) -> Result<()> {
    let (device, _context) = args.device.open(super::AttentionPath::Fused)?;
    let cfg = TranslateConfig {
        d_model: args.d_model,
        n_head: args.n_head,
        layers: args.layers,
        steps: args.steps,
        batch_size: args.batch_size,
        lr: args.lr,
        weight_decay: args.weight_decay,
        warmup: args.warmup,
        eval_interval: args.eval_interval,
        held_out: args.held_out,
        beam_width: args.beam,
        length_penalty: args.length_penalty,
        seed: args.seed,
    };
    let summary = run_translate_train(&cfg, &args.out, device, true)?;
    let io = |e| TrainError::io(Path::new("<stdout>"), e);
    writeln!(out, "{}", summary.report).map_err(io)?;
    let model = args.out.join(MODEL_DIR);
    writeln!(out, "model: {} (try: emergent translate --checkpoint {} 40517)", model.display(), args.out.display())
        .map_err(io)?;
    writeln!(out, "metrics: {0}/metrics.jsonl, plot: {0}/translate.png", args.out.display()).map_err(io)
}

#[derive(Debug, Args)]
pub struct TranslateArgs {
    /// A translate-train run folder or its model folder.
    #[arg(long)]
    pub checkpoint: PathBuf,
    /// Numbers (0 to 999999) to write out in words.
    #[arg(required = true)]
    pub numbers: Vec<String>,
    /// Beam width (1 = greedy).
    #[arg(long, default_value_t = 1)]
    pub beam: usize,
    /// α in the beam's score log P / |y|^α.
    #[arg(long, default_value_t = 1.0)]
    pub length_penalty: f64,
    #[command(flatten)]
    pub device: super::DeviceArgs,
}

pub fn run(args: &TranslateArgs, out: &mut dyn Write) -> Result<()> {
    let (device, _context) = args.device.open(super::AttentionPath::Fused)?;
    let dir = if args.checkpoint.join(MODEL_DIR).is_dir() {
        args.checkpoint.join(MODEL_DIR)
    } else {
        args.checkpoint.clone()
    };
    let translator = Translator::load(&dir)?;
    translator.model.params.to_device(device)?;
    let numbers = args.numbers.iter().map(|n| parse_number(n)).collect::<Result<Vec<_>>>()?;
    let io = |e| TrainError::io(Path::new("<stdout>"), e);
    if args.beam <= 1 {
        for (n, words) in numbers.iter().zip(translator.greedy(&numbers)?) {
            writeln!(out, "{n}\t{}", words.join(" ")).map_err(io)?;
        }
        return Ok(());
    }
    for &n in &numbers {
        for (words, log_prob) in translator.beam(n, args.beam, args.length_penalty)? {
            writeln!(out, "{n}\t{}\t(log P = {log_prob:.3})", words.join(" ")).map_err(io)?;
        }
    }
    Ok(())
}
