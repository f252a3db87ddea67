//! The training loop of the single-model tasks (`bert-pretrain`, `classify`, `translate-train`): a
//! [`Task`] says what a step's loss is, how to evaluate, what to save and what to draw; [`fit`]
//! owns the rest — the learning-rate schedule, the descent step (gradients, a stop on a
//! non-finite loss, clipping, the update), when to evaluate, `metrics.jsonl`, the plot, the
//! progress bar, early stopping and keeping the latest or the best model (written atomically).

use crate::error::{Result, TrainError};
use crate::optim::{clip_grad_norm, Optimizer, Schedule};
use crate::progress::progress_bar;
use crate::trainer::{write_folder_atomically, RunLock};
use autograd::{Params, Var};
use serde::Serialize;
use std::path::Path;
use std::time::Instant;

/// A task trained by [`fit`].
pub trait Task {
    /// One line of `metrics.jsonl`, written at each evaluation.
    type Record: Serialize;

    /// The parameters the optimizer updates.
    fn params(&self) -> &Params;

    /// The training loss of optimisation step `step` (counted from 0).
    fn loss(&mut self, step: u64) -> Result<Var>;

    /// Evaluates the model after `progress.step` steps.
    fn evaluate(&mut self, progress: &Progress) -> Result<Evaluation<Self::Record>>;

    /// Writes the model (and what reads it back: vocabulary, labels) into the empty folder `dir`.
    fn save(&self, dir: &Path) -> Result<()>;

    /// Draws the records so far into the run folder.
    fn plot(&self, run_dir: &Path, log: &[Self::Record]) -> Result<()>;
}

/// Where the loop stands at an evaluation.
#[derive(Debug, Clone, Copy)]
pub struct Progress {
    /// Steps taken.
    pub step: u64,
    /// Mean training loss of the steps since the last evaluation.
    pub train_loss: f64,
    /// The learning rate of the last step.
    pub lr: f64,
    pub elapsed_s: f64,
}

/// An evaluation: the record to log, the validation loss that early stopping and the best model
/// follow, and a short text for the progress bar.
pub struct Evaluation<R> {
    pub record: R,
    pub val_loss: f64,
    pub message: String,
}

/// Which model the run folder keeps in [`Plan::model_dir`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keep {
    /// The model of every evaluation, replacing the one before.
    Latest,
    /// The model with the lowest validation loss so far.
    Best,
}

/// How long to train and when to evaluate.
pub struct Plan {
    pub steps: u64,
    /// Peak learning rate, shaped by `schedule`.
    pub lr: f64,
    pub schedule: Schedule,
    /// The global gradient norm is clipped to this before each update.
    pub max_grad_norm: f64,
    /// Evaluate after every multiple of each of these step counts, and after the last step.
    pub evaluate_every: Vec<u64>,
    /// Stop after this many evaluations without a lower validation loss.
    pub patience: Option<u64>,
    pub keep: Keep,
    /// The model's folder inside the run folder.
    pub model_dir: &'static str,
    /// Draw a progress bar.
    pub interactive: bool,
}

impl Plan {
    /// `steps` steps evaluated every `eval_interval`, keeping the latest model in `model_dir`, the
    /// gradient norm clipped to 1, no early stopping.
    pub fn keeping_latest(
        steps: u64,
        (lr, schedule): (f64, Schedule),
        eval_interval: u64,
        model_dir: &'static str,
        interactive: bool,
    ) -> Self {
        let evaluate_every = vec![eval_interval];
        Self {
            steps,
            lr,
            schedule,
            max_grad_norm: 1.0,
            evaluate_every,
            patience: None,
            keep: Keep::Latest,
            model_dir,
            interactive,
        }
    }

    fn evaluates_after(&self, step: u64) -> bool {
        step == self.steps || self.evaluate_every.iter().any(|&every| step.is_multiple_of(every))
    }
}

/// What [`fit`] ended with.
pub struct Fitted<R> {
    /// Every evaluation's record, in order.
    pub log: Vec<R>,
    /// Steps taken.
    pub steps: u64,
    /// The lowest validation loss and the step it was reached at.
    pub best: (f64, u64),
    pub stopped_early: bool,
}

/// The metrics file of a run folder.
pub const METRICS_FILE: &str = "metrics.jsonl";

/// Claims `run_dir` for a new run (created if missing; a run in progress there is refused) and
/// writes `config` to its `config.json`. The returned lock is held until it is dropped.
pub fn start_run(run_dir: &Path, config: &impl Serialize) -> Result<RunLock> {
    let lock = RunLock::acquire(run_dir)?;
    let json = serde_json::to_string_pretty(config).expect("config serialises");
    model::checkpoint::write_atomically(&run_dir.join("config.json"), json.as_bytes())?;
    Ok(lock)
}

/// Trains `task` by `plan` with `optimizer`, logging to `run_dir` (see the module docs).
pub fn fit<T: Task>(
    task: &mut T,
    optimizer: &mut dyn Optimizer,
    plan: &Plan,
    run_dir: &Path,
) -> Result<Fitted<T::Record>> {
    let bar = progress_bar(plan.steps, 0, plan.interactive);
    let started = Instant::now();
    let metrics = run_dir.join(METRICS_FILE);
    let (mut log, mut window) = (Vec::new(), Vec::new());
    let (mut best, mut evals_since_best) = (None::<(f64, u64)>, 0);
    let mut stopped_early = false;
    let mut step = 0;
    while step < plan.steps && !stopped_early {
        let lr = plan.schedule.lr(plan.lr, step);
        window.push(descend(task, optimizer, lr, plan.max_grad_norm, step)?);
        step += 1;
        bar.set_position(step);
        if !plan.evaluates_after(step) {
            continue;
        }
        let progress = Progress {
            step,
            train_loss: window.iter().sum::<f64>() / window.len() as f64,
            lr,
            elapsed_s: started.elapsed().as_secs_f64(),
        };
        window.clear();
        let evaluation = task.evaluate(&progress)?;
        append_record(&metrics, &evaluation.record, log.is_empty())?;
        bar.set_message(evaluation.message);
        log.push(evaluation.record);
        let improved = best.is_none_or(|(loss, _)| evaluation.val_loss < loss);
        if improved {
            (best, evals_since_best) = (Some((evaluation.val_loss, step)), 0);
        } else {
            evals_since_best += 1;
            stopped_early = plan.patience.is_some_and(|p| evals_since_best >= p);
        }
        if improved || plan.keep == Keep::Latest {
            write_folder_atomically(&run_dir.join(plan.model_dir), |dir| task.save(dir))?;
        }
        task.plot(run_dir, &log)?;
    }
    bar.finish_and_clear();
    let best = best.ok_or_else(|| TrainError::Invalid("a run of no steps".into()))?;
    Ok(Fitted { log, steps: step, best, stopped_early })
}

/// One step of gradient descent on `task`: zeroes the gradients, back-propagates the loss of
/// `step`, clips the global gradient norm to `max_norm` and updates the parameters with learning
/// rate `lr`. Returns the loss; a NaN or infinite loss stops with an error naming the step (the
/// parameters are left untouched).
fn descend<T: Task>(task: &mut T, optimizer: &mut dyn Optimizer, lr: f64, max_norm: f64, step: u64) -> Result<f64> {
    task.params().zero_grad();
    let loss = task.loss(step)?;
    let value = loss.value().to_scalar()?;
    if !value.is_finite() {
        return Err(TrainError::Invalid(format!("the loss became {value} at step {step}; stopping")));
    }
    loss.backward()?;
    clip_grad_norm(task.params(), max_norm)?;
    optimizer.step(task.params(), lr)?;
    Ok(value)
}

/// Appends a record as one JSON line to `path` (starting the file afresh with the first).
pub fn append_record(path: &Path, record: &impl Serialize, first: bool) -> Result<()> {
    use std::io::Write;
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .append(!first)
        .truncate(first)
        .open(path)
        .map_err(|e| TrainError::io(path, e))?;
    writeln!(file, "{}", serde_json::to_string(record).expect("record serialises")).map_err(|e| TrainError::io(path, e))
}
