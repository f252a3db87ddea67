//! `emergent train`: train a GPT (or an LSTM language model) on a built-in task or a text file.

use crate::data::{parse_task, task_name};
use crate::distributed::Collective;
use crate::error::{Result, TrainError};
use crate::optim::Schedule;
use crate::trainer::{absolute, Architecture, DataConfig, OptimizerKind, TokenizerKind, TrainConfig, Trainer};
use clap::Args;
use std::io::Write;
use std::path::PathBuf;
use std::rc::Rc;

#[derive(Debug, Args)]
pub struct TrainArgs {
    /// A JSON training config (as written to a run's config.json); flags override it.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// A named setup (model size and hyper-parameters, as nanoGPT's config files); flags override it.
    #[arg(long, value_enum)]
    pub preset: Option<crate::trainer::Preset>,
    /// Run folder for config.json, metrics.jsonl, loss.png and checkpoints [default: runs/<data>-<seed>].
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Continue the run in this folder from its latest checkpoint (with its own settings: flags
    /// other than --steps, --until, --data and the device's are ignored, each named in a warning;
    /// --data gives the new place of data that moved, which must be the same data).
    #[arg(long, conflicts_with_all = ["config", "init"])]
    pub resume: Option<PathBuf>,
    /// Start from this HF-format GPT-2 checkpoint instead of random weights.
    #[arg(long)]
    pub init: Option<PathBuf>,
    /// A text file to train on, or token shards (a folder or glob of llm.c shards as `emergent
    /// prepare` writes them, or nanoGPT's train.bin + val.bin; with --vocab) [default: the built-in
    /// addition task]. With --resume: where the run's data is now, if it moved.
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Tokenizer for --data.
    #[arg(long, value_enum, default_value = "char")]
    pub tokenizer: TokenizerKind,
    /// Folder with vocab.json + merges.txt for --tokenizer gpt2 and for shards.
    #[arg(long)]
    pub vocab: Option<PathBuf>,
    /// The built-in task: addN (N-digit addition), mulN (multiplication) or modP (addition modulo P)
    /// [default: add4].
    #[arg(long, conflicts_with = "data")]
    pub task: Option<String>,
    /// Digits per operand of the built-in arithmetic task.
    #[arg(long)]
    pub digits: Option<usize>,
    /// Train an LSTM language model with this many hidden units instead of a GPT (--n-embd is then
    /// its embedding width; --n-layer and --n-head do not apply).
    #[arg(long, value_name = "HIDDEN")]
    pub lstm: Option<usize>,
    /// Transformer blocks [default: 2].
    #[arg(long)]
    pub n_layer: Option<usize>,
    /// Attention heads per block; must divide --n-embd [default: 4].
    #[arg(long)]
    pub n_head: Option<usize>,
    /// Width of the embeddings and of every block (the LSTM's embedding width) [default: 128].
    #[arg(long)]
    pub n_embd: Option<usize>,
    /// Context length for text data (an arithmetic task sets its own) [default: 64].
    #[arg(long)]
    pub block_size: Option<usize>,
    /// Dropout probability on embeddings, attention and residual branches [default: 0].
    #[arg(long)]
    pub dropout: Option<f64>,
    /// Total steps (the schedule's horizon) [default: 3000].
    #[arg(long)]
    pub steps: Option<u64>,
    /// Rows (sequences) per micro-batch [default: 64].
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// Micro-batches accumulated per step [default: 1].
    #[arg(long)]
    pub grad_accum: Option<usize>,
    /// ZeRO stage across MPI ranks: 1 shards the optimizer state (each rank keeps and updates its
    /// share of the parameters'), 0 keeps it whole on every rank [default: 0].
    #[arg(long, value_parser = clap::value_parser!(u8).range(0..=1))]
    pub zero: Option<u8>,
    /// The optimizer [default: adamw].
    #[arg(long, value_enum)]
    pub optimizer: Option<OptimizerKind>,
    /// Peak learning rate [default: 1e-3].
    #[arg(long, allow_negative_numbers = true)]
    pub lr: Option<f64>,
    /// Decoupled weight decay λ (AdamW) or L2 coefficient (others); not on biases and norms [default: 0.1].
    #[arg(long, allow_negative_numbers = true)]
    pub weight_decay: Option<f64>,
    /// Adam's and AdamW's β₁, the decay of the first moment [default: 0.9].
    #[arg(long)]
    pub beta1: Option<f64>,
    /// Adam's and AdamW's β₂, the decay of the second moment [default: 0.99].
    #[arg(long)]
    pub beta2: Option<f64>,
    /// ε in the Adam-family denominators √v̂ + ε [default: 1e-8].
    #[arg(long)]
    pub eps: Option<f64>,
    /// Warmup steps before cosine decay to a tenth of the peak (0 and --constant-lr for a constant
    /// rate) [default: 100].
    #[arg(long)]
    pub warmup: Option<u64>,
    /// Keep the learning rate constant.
    #[arg(long)]
    pub constant_lr: bool,
    /// Clip the global gradient norm to this (0 = off) [default: 1].
    #[arg(long, allow_negative_numbers = true)]
    pub clip: Option<f64>,
    /// Evaluate, log and checkpoint every this many steps [default: 100].
    #[arg(long)]
    pub eval_interval: Option<u64>,
    /// Early stopping: evaluations without a better validation loss before stopping [default: off].
    #[arg(long)]
    pub patience: Option<u64>,
    /// Seed of the initial weights, the batches and dropout [default: 1337].
    #[arg(long)]
    pub seed: Option<u64>,
    /// Checkpoints to keep in the run folder, newest first [default: 2].
    #[arg(long)]
    pub keep_checkpoints: Option<usize>,
    /// Stop after this step (a checkpoint is written; --resume continues).
    #[arg(long)]
    pub until: Option<u64>,
    #[command(flatten)]
    pub device: super::DeviceArgs,
    /// The fused attention kernel or the composed reference path (same formulas).
    #[arg(long, value_enum, default_value = "fused")]
    pub attention: super::AttentionPath,
    /// Make this again in the backward instead of keeping it from the forward: gelu (the MLP's
    /// hidden layer; less activation memory, the same results) [default: keep everything].
    #[arg(long, value_enum)]
    pub recompute: Option<super::Recompute>,
}

/// The config these flags describe.
pub fn resolve(args: &TrainArgs) -> Result<TrainConfig> {
    let mut cfg = match &args.config {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| TrainError::io(path, e))?;
            serde_json::from_str(&text).map_err(|e| {
                TrainError::format(
                    path,
                    format!("not a training config: {}", crate::trainer::unknown_key_hint(&e.to_string())),
                )
            })?
        }
        None => TrainConfig::default(),
    };
    if let Some(preset) = args.preset {
        cfg = preset.apply(cfg);
    }
    if let Some(path) = &args.data {
        // Absolute paths in the run's config: sample, eval and --resume work from any directory.
        let path = absolute(path)?;
        let vocab = args.vocab.as_deref().map(absolute).transpose()?;
        cfg.data = if crate::data::shards::names_shards(&path) {
            let vocab = vocab.ok_or_else(|| {
                TrainError::Invalid(format!(
                    "--data {}: shards hold GPT-2 token ids; give --vocab DIR (vocab.json + merges.txt)",
                    path.display()
                ))
            })?;
            DataConfig::Shards { path, vocab }
        } else {
            DataConfig::Text { path, tokenizer: args.tokenizer, vocab, val_fraction: crate::data::VAL_FRACTION }
        };
    }
    if let Some(name) = &args.task {
        let (op, digits) = parse_task(name)?;
        cfg.data = DataConfig::Arithmetic { op, digits, held_out: 500 };
    }
    if let (Some(d), DataConfig::Arithmetic { digits, .. }) = (args.digits, &mut cfg.data) {
        *digits = d;
    }
    macro_rules! set {
        ($($field:ident).+ = $flag:expr) => {
            if let Some(v) = $flag {
                cfg.$($field).+ = v;
            }
        };
    }
    if let Some(hidden) = args.lstm {
        cfg.arch = Architecture::Lstm { hidden };
    }
    set!(n_layer = args.n_layer);
    set!(n_head = args.n_head);
    set!(n_embd = args.n_embd);
    set!(block_size = args.block_size);
    set!(dropout = args.dropout);
    set!(steps = args.steps);
    set!(batch_size = args.batch_size);
    set!(grad_accum = args.grad_accum);
    set!(zero_stage = args.zero);
    set!(optimizer.kind = args.optimizer);
    set!(optimizer.lr = args.lr);
    set!(optimizer.weight_decay = args.weight_decay);
    set!(optimizer.beta1 = args.beta1);
    set!(optimizer.beta2 = args.beta2);
    set!(optimizer.eps = args.eps);
    set!(eval_interval = args.eval_interval);
    set!(seed = args.seed);
    set!(keep_checkpoints = args.keep_checkpoints);
    if args.patience.is_some() {
        cfg.patience = args.patience;
    }
    if let Some(c) = args.clip {
        cfg.clip = (c != 0.0).then_some(c); // a negative or NaN norm is refused when the run starts
    }
    cfg.schedule = match (args.constant_lr, cfg.schedule) {
        (true, _) => Schedule::Constant,
        (false, Schedule::WarmupCosine { warmup, min_ratio, .. }) => {
            Schedule::WarmupCosine { warmup: args.warmup.unwrap_or(warmup), total: cfg.steps, min_ratio }
        }
        (false, Schedule::Constant) => Schedule::Constant,
    };
    Ok(cfg)
}

/// Trains, alone or as one rank of the processes `mpirun`/`srun` started (see
/// [`crate::distributed`]): then only rank 0 prints, and a rank that fails ends them all.
pub fn run(args: &TrainArgs, out: &mut dyn Write) -> Result<()> {
    let world = crate::distributed::world(args.device.device)?;
    if world.world_size() == 1 {
        return run_in(world, args, out);
    }
    let (rank, ranks) = (world.rank(), world.world_size());
    let mut sink = std::io::sink();
    let result = run_in(world.clone(), args, if rank == 0 { out } else { &mut sink });
    if let Err(e) = &result {
        eprintln!("error on rank {rank} of {ranks}: {e}");
        world.abort(1);
    }
    result
}

fn run_in(world: Rc<dyn Collective>, args: &TrainArgs, out: &mut dyn Write) -> Result<()> {
    let io = |e| TrainError::io(std::path::Path::new("<stdout>"), e);
    // One GPU per process: a rank takes the GPU of its index on its machine.
    let device = match args.device.device {
        tensor::Device::Cuda(_) if world.world_size() > 1 => tensor::Device::Cuda(crate::distributed::local_rank()),
        other => other,
    };
    let (device, _context) = super::DeviceArgs { device, ..args.device }.open(args.attention)?;
    let _recompute = super::Recompute::enter(args.recompute);
    let mut trainer = match &args.resume {
        Some(dir) => {
            let ignored = ignored_on_resume(args);
            if !ignored.is_empty() {
                writeln!(
                    out,
                    "warning: --resume continues with the run's own settings; ignoring {}",
                    ignored.join(", ")
                )
                .map_err(io)?;
            }
            let t = Trainer::resume_in(world, dir, args.steps, args.data.as_deref())?;
            writeln!(out, "resuming {} at step {}", dir.display(), t.step()).map_err(io)?;
            t
        }
        None => {
            let cfg = resolve(args)?;
            let dir = args.out.clone().unwrap_or_else(|| default_run_dir(&cfg));
            Trainer::new_in(world, cfg, &dir, args.init.as_deref())?
        }
    };
    trainer.to_device(device)?;
    trainer.interactive = true;
    writeln!(
        out,
        "run folder {}: {} parameters, {} steps",
        trainer.run_dir.display(),
        trainer.model.params().numel(),
        trainer.cfg.steps
    )
    .map_err(io)?;
    if let Some(shards) = trainer.zero_shards() {
        let sizes: Vec<String> = shards.shard_sizes().iter().map(|n| n.to_string()).collect();
        writeln!(out, "optimizer state sharded across the ranks (ZeRO-1): {} parameters", sizes.join(" + "))
            .map_err(io)?;
    }
    let summary = trainer.run(args.until)?;
    writeln!(
        out,
        "\nstopped at step {}{} after {:.1} s",
        summary.step,
        if summary.stopped_early { " (early stopping)" } else { "" },
        summary.elapsed_s
    )
    .map_err(io)?;
    if let Some(v) = summary.val_loss {
        writeln!(out, "validation loss {v:.4} (perplexity {:.3})", v.exp()).map_err(io)?;
    }
    if let Some(em) = summary.exact_match {
        writeln!(out, "exact match on held-out problems: {:.1}%", 100.0 * em).map_err(io)?;
        writeln!(out, "some held-out problems and the model's answers:").map_err(io)?;
    }
    for line in &summary.showcase {
        writeln!(out, "  {line}").map_err(io)?;
    }
    writeln!(out, "metrics: {}/metrics.jsonl, plot: {}/loss.png", trainer.run_dir.display(), trainer.run_dir.display())
        .map_err(io)
}

/// The flags given that a resumed run does not take (it keeps the settings in its config.json).
fn ignored_on_resume(args: &TrainArgs) -> Vec<&'static str> {
    let given = [
        ("--out", args.out.is_some()),
        ("--preset", args.preset.is_some()),
        ("--task", args.task.is_some()),
        ("--digits", args.digits.is_some()),
        ("--vocab", args.vocab.is_some()),
        ("--lstm", args.lstm.is_some()),
        ("--n-layer", args.n_layer.is_some()),
        ("--n-head", args.n_head.is_some()),
        ("--n-embd", args.n_embd.is_some()),
        ("--block-size", args.block_size.is_some()),
        ("--dropout", args.dropout.is_some()),
        ("--batch-size", args.batch_size.is_some()),
        ("--grad-accum", args.grad_accum.is_some()),
        ("--zero", args.zero.is_some()),
        ("--optimizer", args.optimizer.is_some()),
        ("--lr", args.lr.is_some()),
        ("--weight-decay", args.weight_decay.is_some()),
        ("--beta1", args.beta1.is_some()),
        ("--beta2", args.beta2.is_some()),
        ("--eps", args.eps.is_some()),
        ("--warmup", args.warmup.is_some()),
        ("--constant-lr", args.constant_lr),
        ("--clip", args.clip.is_some()),
        ("--eval-interval", args.eval_interval.is_some()),
        ("--patience", args.patience.is_some()),
        ("--seed", args.seed.is_some()),
        ("--keep-checkpoints", args.keep_checkpoints.is_some()),
    ];
    given.into_iter().filter(|(_, given)| *given).map(|(flag, _)| flag).collect()
}

/// `runs/<data>[-lstmH]-seed<seed>`.
pub fn default_run_dir(cfg: &TrainConfig) -> PathBuf {
    let what = match &cfg.data {
        DataConfig::Arithmetic { op, digits, .. } => task_name(*op, *digits),
        DataConfig::Modular { modulus, .. } => format!("grokking-mod{modulus}"),
        DataConfig::Text { path, .. } | DataConfig::Shards { path, .. } => {
            path.file_stem().unwrap_or_default().to_string_lossy().to_string()
        }
    };
    let arch = match cfg.arch {
        Architecture::Gpt => String::new(),
        Architecture::Lstm { hidden } => format!("-lstm{hidden}"),
    };
    PathBuf::from("runs").join(format!("{what}{arch}-seed{}", cfg.seed))
}
