//! `emergent lab scaling` and `emergent lab grokking`: the emergence experiments.

use crate::error::{Result, TrainError};
use crate::lab::{run_grokking, run_lab, GrokkingConfig, ModelSize, SweepConfig};
use clap::{Args, Subcommand};
use std::io::Write;
use std::path::PathBuf;

#[derive(Debug, Args)]
pub struct LabArgs {
    #[command(subcommand)]
    pub experiment: Experiment,
}

#[derive(Debug, Subcommand)]
pub enum Experiment {
    /// Sweep model size × training budget × seed on arithmetic tasks: exact match against per-token
    /// metrics, and power laws of loss against parameters and compute.
    Scaling(ScalingArgs),
    /// Delayed generalisation on modular addition: train accuracy first, validation much later.
    Grokking(GrokkingArgs),
}

#[derive(Debug, Args)]
pub struct ScalingArgs {
    /// Folder for the runs, sweep.csv, the plots and report.md; finished runs in it are reused.
    #[arg(long, default_value = "runs/lab-scaling")]
    pub out: PathBuf,
    /// Comma-separated tasks: addN, mulN, modP [default: add2,add3,mul2,mod97].
    #[arg(long, value_delimiter = ',')]
    pub tasks: Option<Vec<String>>,
    /// Comma-separated model sizes LxD or LxDhH [default: 1x16,1x24,1x32,2x48,2x64,2x96,2x128].
    #[arg(long, value_delimiter = ',')]
    pub sizes: Option<Vec<String>>,
    /// Seeds per task and size [default: 3].
    #[arg(long)]
    pub seeds: Option<u64>,
    /// Training steps of every run [default: 2000].
    #[arg(long)]
    pub steps: Option<u64>,
    /// Evaluations per run: the training budgets [default: 8].
    #[arg(long)]
    pub evals: Option<u64>,
    /// Problems per training step [default: 64].
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// AdamW learning rate, constant after 50 warm-up steps [default: 3e-3].
    #[arg(long)]
    pub lr: Option<f64>,
    /// Held-out problems per task [default: 400].
    #[arg(long)]
    pub held_out: Option<usize>,
    /// Runs trained at once [default: the number of cores].
    #[arg(long)]
    pub jobs: Option<usize>,
}

#[derive(Debug, Args)]
pub struct GrokkingArgs {
    /// Run folder (metrics.jsonl, grokking.png, checkpoints); an interrupted run in it is resumed.
    #[arg(long, default_value = "runs/lab-grokking")]
    pub out: PathBuf,
    /// Start from the setting of Nanda et al. 2023 (p = 113, 30% of pairs, width 128, 40k steps: hours).
    #[arg(long)]
    pub paper: bool,
    /// The prime modulus p [default: 59].
    #[arg(long)]
    pub modulus: Option<u64>,
    /// Fraction of all p² pairs used for training [default: 0.4].
    #[arg(long)]
    pub fraction: Option<f64>,
    /// AdamW weight decay: the strength of the pull towards small weights [default: 1.0].
    #[arg(long)]
    pub weight_decay: Option<f64>,
    /// Learning rate, constant [default: 1e-3].
    #[arg(long)]
    pub lr: Option<f64>,
    /// Transformer blocks [default: 1].
    #[arg(long)]
    pub n_layer: Option<usize>,
    /// Model width [default: 64].
    #[arg(long)]
    pub n_embd: Option<usize>,
    /// Attention heads [default: 4].
    #[arg(long)]
    pub n_head: Option<usize>,
    /// Full-batch steps [default: 5000].
    #[arg(long)]
    pub steps: Option<u64>,
    /// Steps between evaluations of train and validation accuracy [default: 20].
    #[arg(long)]
    pub eval_interval: Option<u64>,
    /// Seed of the initialisation and of the train/validation split [default: 0].
    #[arg(long)]
    pub seed: Option<u64>,
}

macro_rules! set {
    ($cfg:ident, $args:ident: $($field:ident),+) => {
        $(if let Some(v) = $args.$field.clone() {
            $cfg.$field = v;
        })+
    };
}

pub fn run(args: &LabArgs, out: &mut dyn Write) -> Result<()> {
    let io = |e| TrainError::io(std::path::Path::new("<stdout>"), e);
    match &args.experiment {
        Experiment::Scaling(a) => {
            let mut cfg = SweepConfig::default();
            set!(cfg, a: tasks, seeds, steps, evals, batch_size, lr, held_out, jobs);
            if let Some(sizes) = &a.sizes {
                cfg.sizes = sizes.iter().map(|s| s.parse::<ModelSize>()).collect::<Result<_>>()?;
            }
            cfg.validate()?;
            let runs = cfg.runs().len();
            writeln!(
                out,
                "scaling sweep: {runs} runs of {} steps, {} at a time, in {}",
                cfg.steps,
                cfg.jobs,
                a.out.display()
            )
            .map_err(io)?;
            let report = run_lab(&cfg, &a.out, true)?;
            writeln!(out, "report: {}", report.display()).map_err(io)
        }
        Experiment::Grokking(a) => {
            let mut cfg = if a.paper { GrokkingConfig::paper() } else { GrokkingConfig::default() };
            if let Some(f) = a.fraction {
                cfg.train_fraction = f;
            }
            set!(cfg, a: modulus, weight_decay, lr, n_layer, n_embd, n_head, steps, eval_interval, seed);
            writeln!(
                out,
                "grokking: a + b mod {}, {:.0}% of the pairs for training, {} full-batch steps, in {}",
                cfg.modulus,
                100.0 * cfg.train_fraction,
                cfg.steps,
                a.out.display()
            )
            .map_err(io)?;
            let (summary, plot) = run_grokking(&cfg, &a.out, true)?;
            writeln!(out, "{}\nplot: {}", summary.describe(), plot.display()).map_err(io)
        }
    }
}
