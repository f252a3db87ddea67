//! What a scaling sweep is and what it measures: its settings, its runs, the points it records,
//! and the names of the files it writes. (Running it: [`super::scaling`].)

use crate::data::parse_task;
use crate::error::{Result, TrainError};
use crate::optim::Schedule;
use crate::trainer::{DataConfig, TrainConfig};
use std::str::FromStr;

/// A model shape, written `LxD` (layers × width) or `LxDhH` (with `H` heads; by default
/// `H = D/16`, between 1 and 4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ModelSize {
    pub n_layer: usize,
    pub n_embd: usize,
    pub n_head: usize,
}

impl FromStr for ModelSize {
    type Err = TrainError;

    fn from_str(s: &str) -> Result<Self> {
        let bad = || TrainError::Invalid(format!("model size {s:?}: expected LxD or LxDhH, e.g. 2x64 or 2x64h4"));
        let (layers, rest) = s.split_once('x').ok_or_else(bad)?;
        let (width, heads) = match rest.split_once('h') {
            Some((w, h)) => (w, Some(h.parse::<usize>().map_err(|_| bad())?)),
            None => (rest, None),
        };
        let (n_layer, n_embd) =
            (layers.parse::<usize>().map_err(|_| bad())?, width.parse::<usize>().map_err(|_| bad())?);
        let n_head = heads.unwrap_or((n_embd / 16).clamp(1, 4));
        if n_layer == 0 || n_head == 0 || n_embd == 0 || !n_embd.is_multiple_of(n_head) {
            return Err(TrainError::Invalid(format!(
                "model size {s:?}: {n_head} heads must divide the width {n_embd}"
            )));
        }
        Ok(Self { n_layer, n_embd, n_head })
    }
}

impl std::fmt::Display for ModelSize {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}x{}h{}", self.n_layer, self.n_embd, self.n_head)
    }
}

/// What a sweep runs: every task × size × seed, each for `steps` steps, evaluated `evals` times.
#[derive(Debug, Clone)]
pub struct SweepConfig {
    pub tasks: Vec<String>,
    pub sizes: Vec<ModelSize>,
    pub seeds: u64,
    pub steps: u64,
    pub evals: u64,
    pub batch_size: usize,
    pub lr: f64,
    pub warmup: u64,
    pub held_out: usize,
    /// Runs trained at once, each on `cores / jobs` threads.
    pub jobs: usize,
}

impl Default for SweepConfig {
    /// The default sweep: 4 tasks × 7 sizes (3.5k to 0.4M parameters, 114×) × 3 seeds.
    fn default() -> Self {
        Self {
            tasks: ["add2", "add3", "mul2", "mod97"].map(String::from).to_vec(),
            sizes: ["1x16", "1x24", "1x32", "2x48", "2x64", "2x96", "2x128"]
                .iter()
                .map(|s| s.parse().expect("valid sizes"))
                .collect(),
            seeds: 3,
            steps: 2000,
            evals: 8,
            batch_size: 64,
            lr: 3e-3,
            warmup: 50,
            held_out: 400,
            jobs: std::thread::available_parallelism().map_or(1, |n| n.get()),
        }
    }
}

/// One run of the sweep.
#[derive(Debug, Clone)]
pub struct RunSpec {
    pub task: String,
    pub size: ModelSize,
    pub seed: u64,
}

impl RunSpec {
    pub fn folder(&self) -> String {
        format!("{}-{}-seed{}", self.task, self.size, self.seed)
    }
}

/// One evaluation of one run: a point of the sweep (a model size at a training budget).
#[derive(Debug, Clone, PartialEq)]
pub struct SweepPoint {
    pub task: String,
    pub size: ModelSize,
    pub seed: u64,
    pub params: usize,
    pub step: u64,
    pub tokens: u64,
    /// Training compute `C ≈ 6·N·D` in FLOPs (N parameters, D tokens).
    pub flops: f64,
    pub val_loss: f64,
    pub token_accuracy: f64,
    pub edit_distance: f64,
    pub exact_match: f64,
    /// Characters in the answer (exact match needs all of them right).
    pub answer_len: usize,
}

impl SweepConfig {
    pub fn validate(&self) -> Result<()> {
        for t in &self.tasks {
            parse_task(t)?;
        }
        if self.tasks.is_empty() || self.sizes.is_empty() || self.seeds == 0 {
            return Err(TrainError::Invalid("a sweep needs at least one task, size and seed".into()));
        }
        if self.steps == 0 || self.evals == 0 || self.evals > self.steps || self.jobs == 0 {
            return Err(TrainError::Invalid(format!(
                "steps ({}) and evaluations ({}) must be positive, with no more evaluations than steps, and jobs ≥ 1",
                self.steps, self.evals
            )));
        }
        Ok(())
    }

    /// Every run, largest models first (so the parallel workers finish together).
    pub fn runs(&self) -> Vec<RunSpec> {
        let mut runs: Vec<RunSpec> = self
            .tasks
            .iter()
            .flat_map(|task| {
                self.sizes
                    .iter()
                    .flat_map(move |&size| (0..self.seeds).map(move |seed| RunSpec { task: task.clone(), size, seed }))
            })
            .collect();
        runs.sort_by_key(|r| std::cmp::Reverse(r.size.n_layer * r.size.n_embd * r.size.n_embd));
        runs
    }

    /// The training config of one run: AdamW, constant learning rate after warm-up, no dropout.
    pub fn train_config(&self, run: &RunSpec) -> Result<TrainConfig> {
        let (op, digits) = parse_task(&run.task)?;
        let mut cfg = TrainConfig {
            data: DataConfig::Arithmetic { op, digits, held_out: self.held_out },
            n_layer: run.size.n_layer,
            n_head: run.size.n_head,
            n_embd: run.size.n_embd,
            steps: self.steps,
            batch_size: self.batch_size,
            eval_interval: self.steps.div_ceil(self.evals),
            schedule: Schedule::WarmupCosine { warmup: self.warmup, total: self.steps, min_ratio: 1.0 },
            seed: run.seed,
            ..TrainConfig::default()
        };
        cfg.optimizer.lr = self.lr;
        Ok(cfg)
    }
}

pub const CSV_FILE: &str = "sweep.csv";
pub const MIRAGE_PLOT: &str = "mirage.png";
pub const SCALING_PLOT: &str = "scaling.png";
pub const REPORT_FILE: &str = "report.md";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_sizes_parse_with_default_heads() {
        assert_eq!("2x64".parse::<ModelSize>().unwrap(), ModelSize { n_layer: 2, n_embd: 64, n_head: 4 });
        assert_eq!("1x16".parse::<ModelSize>().unwrap().n_head, 1);
        assert_eq!("3x48h6".parse::<ModelSize>().unwrap(), ModelSize { n_layer: 3, n_embd: 48, n_head: 6 });
        assert_eq!("3x48h6".parse::<ModelSize>().unwrap().to_string(), "3x48h6");
        for bad in ["64", "0x64", "2x", "2x64h5", "2x64h0", "axb"] {
            assert!(bad.parse::<ModelSize>().is_err(), "{bad}");
        }
    }

    #[test]
    fn the_default_sweep_spans_thirty_fold_in_parameters() {
        let cfg = SweepConfig::default();
        cfg.validate().unwrap();
        let params: Vec<usize> = cfg
            .sizes
            .iter()
            .map(|s| model::gpt2::Gpt2Config::new(12, 10, s.n_embd, s.n_layer, s.n_head).parameter_count())
            .collect();
        assert!(cfg.sizes.len() >= 6 && cfg.seeds >= 2);
        assert!(*params.iter().max().unwrap() as f64 >= 30.0 * *params.iter().min().unwrap() as f64);
        assert_eq!(cfg.runs().len(), cfg.tasks.len() * cfg.sizes.len() * cfg.seeds as usize);
    }
}
