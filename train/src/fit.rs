//! The one training loop. A [`Task`] says how to take a step, how to evaluate, what to keep and
//! what to draw; [`fit`] owns the rest: when to log and evaluate, `metrics.jsonl`, the plot, the
//! progress bar (or, where none is drawn, a line per log with the time so far and to go), early
//! stopping, and where a resumed run takes up its standing. Every command that trains runs here:
//! the language models of `train` and `distill` and the grokking lab ([`crate::trainer`]),
//! `bert-pretrain`, `classify` and `translate-train`.

use crate::error::{Result, TrainError};
use crate::optim::{AdamW, Optimizer, Schedule};
use crate::progress::{progress_bar, say};
use crate::trainer::RunLock;
use autograd::{Params, Var};
use serde::Serialize;
use std::path::Path;
use std::time::Instant;

/// A task trained by [`fit`].
pub trait Task {
    /// One line of `metrics.jsonl`.
    type Record: Serialize;

    /// Takes optimisation step `step` (counted from 0): its mean training loss and learning rate.
    fn train_step(&mut self, step: u64) -> Result<StepResult>;

    /// Evaluates the model at `progress` (every rank of a data-parallel run calls it).
    fn evaluate(&mut self, progress: &Progress) -> Result<Evaluation<Self::Record>>;

    /// The record of a log line between evaluations, with its text for the progress bar; tasks
    /// that log at evaluations only have none.
    fn train_record(&self, _progress: &Progress) -> Option<(Self::Record, String)> {
        None
    }

    /// Keeps the model after an evaluation, `standing` being the run's after it (every rank calls
    /// it: a sharded optimizer state is gathered here; only a writing rank writes).
    fn keep(&mut self, run_dir: &Path, standing: &Standing, improved: bool) -> Result<()>;

    /// Draws the run into its folder; `log` holds this process's records so far (a resumed run's
    /// earlier ones are in `metrics.jsonl`).
    fn plot(&self, run_dir: &Path, log: &[Self::Record]) -> Result<()>;

    /// Lines to show above the progress bar after an evaluation (interactive runs).
    fn report(&self, _record: &Self::Record) -> Result<Vec<String>> {
        Ok(Vec::new())
    }
}

/// What a training step returns.
#[derive(Debug, Clone, Copy)]
pub struct StepResult {
    pub loss: f64,
    pub lr: f64,
}

/// Where the loop stands at a log line.
#[derive(Debug, Clone, Copy)]
pub struct Progress {
    /// Steps taken.
    pub step: u64,
    /// Mean training loss of the steps since the last log line.
    pub train_loss: f64,
    /// The learning rate of the last step.
    pub lr: f64,
    /// Steps since the last log line, and the seconds they took.
    pub window: (u64, f64),
    pub elapsed_s: f64,
}

/// An evaluation: the record to log, the validation loss that early stopping follows, and a short
/// text for the progress bar.
pub struct Evaluation<R> {
    pub record: R,
    pub val_loss: f64,
    pub message: String,
}

/// The run's standing for early stopping: carried in checkpoints, so a resumed run goes on with it.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Standing {
    /// Steps taken.
    pub step: u64,
    /// The lowest validation loss so far, and the step it was reached at (0 when resumed from a
    /// checkpoint that does not record it).
    pub best: Option<(f64, u64)>,
    pub evals_since_best: u64,
}

/// How long to train and when to log and evaluate.
pub struct Plan {
    /// Train until this many steps are taken.
    pub steps: u64,
    /// Where the run stands: from step 0, or a resumed run's checkpoint.
    pub start: Standing,
    /// Evaluate after every multiple of each of these step counts, and after the last step.
    pub evaluate_every: Vec<u64>,
    /// Log a training record every this many steps between evaluations.
    pub log_every: Option<u64>,
    /// Stop after this many evaluations without a lower validation loss.
    pub patience: Option<u64>,
    /// This process writes the run folder (metrics, plots); the other ranks of a data-parallel
    /// run only train and evaluate.
    pub writes: bool,
    /// Draw a progress bar (or print a line per log where the output is not a terminal).
    pub interactive: bool,
}

impl Plan {
    /// `steps` from step 0, evaluated every `eval_interval` steps, no early stopping.
    pub fn evaluating_every(steps: u64, eval_interval: u64, interactive: bool) -> Self {
        Self {
            steps,
            start: Standing::default(),
            evaluate_every: vec![eval_interval],
            log_every: None,
            patience: None,
            writes: true,
            interactive,
        }
    }

    fn evaluates_after(&self, step: u64) -> bool {
        step == self.steps || self.evaluate_every.iter().any(|&every| step.is_multiple_of(every))
    }

    fn logs_after(&self, step: u64) -> bool {
        self.log_every.is_some_and(|every| step.is_multiple_of(every)) || self.evaluates_after(step)
    }
}

/// What [`fit`] ended with.
pub struct Fitted<R> {
    /// The records of this run's log lines, in order.
    pub log: Vec<R>,
    pub standing: Standing,
    pub stopped_early: bool,
    pub elapsed_s: f64,
}

/// The metrics file of a run folder.
pub const METRICS_FILE: &str = "metrics.jsonl";

/// Claims `run_dir` for a new run (created if missing; a run in progress there is refused), writes
/// `config` to its `config.json` and starts an empty `metrics.jsonl`. The returned lock is held
/// until it is dropped.
pub fn start_run(run_dir: &Path, config: &impl Serialize) -> Result<RunLock> {
    let lock = RunLock::acquire(run_dir)?;
    let json = serde_json::to_string_pretty(config).expect("config serialises");
    model::checkpoint::write_atomically(&run_dir.join("config.json"), json.as_bytes())?;
    model::checkpoint::write_atomically(&run_dir.join(METRICS_FILE), b"")?;
    Ok(lock)
}

/// Trains `task` by `plan`, logging to `run_dir` (see the module docs).
pub fn fit<T: Task>(task: &mut T, plan: &Plan, run_dir: &Path) -> Result<Fitted<T::Record>> {
    let shows = plan.interactive && plan.writes;
    let bar = progress_bar(plan.steps, plan.start.step, shows);
    let (started, first_step) = (Instant::now(), plan.start.step);
    let metrics = run_dir.join(METRICS_FILE);
    let (mut standing, mut stopped_early) = (plan.start, false);
    let (mut log, mut losses, mut window_start) = (Vec::new(), Vec::new(), Instant::now());
    while standing.step < plan.steps && !stopped_early {
        let StepResult { loss, lr } = task.train_step(standing.step)?;
        losses.push(loss);
        standing.step += 1;
        let step = standing.step;
        bar.set_position(step);
        if !plan.logs_after(step) {
            continue;
        }
        let progress = Progress {
            step,
            train_loss: losses.iter().sum::<f64>() / losses.len() as f64,
            lr,
            window: (losses.len() as u64, window_start.elapsed().as_secs_f64()),
            elapsed_s: started.elapsed().as_secs_f64(),
        };
        losses.clear();
        let evaluation = match plan.evaluates_after(step) {
            true => Some(task.evaluate(&progress)?),
            false => None,
        };
        let improved = evaluation.as_ref().is_some_and(|e| standing.best.is_none_or(|(best, _)| e.val_loss < best));
        if let Some(e) = &evaluation {
            if improved {
                (standing.best, standing.evals_since_best) = (Some((e.val_loss, step)), 0);
            } else {
                standing.evals_since_best += 1;
                stopped_early = plan.patience.is_some_and(|p| standing.evals_since_best >= p);
            }
        }
        let evaluated = evaluation.is_some();
        let (record, message) = match evaluation {
            Some(e) => (e.record, e.message),
            None => task.train_record(&progress).expect("a task that logs between evaluations has records"),
        };
        if plan.writes {
            crate::metrics::append(&metrics, &record)?;
        }
        if shows && bar.is_hidden() {
            // No bar to watch: a line per log, with the time so far and to go.
            let elapsed = started.elapsed().as_secs_f64();
            let eta = elapsed / (step - first_step) as f64 * (plan.steps - step) as f64;
            println!("step {step}/{} {message} elapsed {} eta {}", plan.steps, clock(elapsed), clock(eta));
        }
        bar.set_message(message);
        log.push(record);
        if evaluated {
            task.keep(run_dir, &standing, improved)?;
            if plan.writes {
                task.plot(run_dir, &log)?;
            }
            if shows {
                task.report(log.last().expect("just pushed"))?.iter().for_each(|line| say(&bar, line));
            }
        }
        window_start = Instant::now();
    }
    bar.finish();
    Ok(Fitted { log, standing, stopped_early, elapsed_s: started.elapsed().as_secs_f64() })
}

/// Gradient descent as the single-model tasks take it: AdamW on a learning-rate schedule, the
/// global gradient norm clipped to 1.
pub struct Descent {
    pub optimizer: AdamW,
    /// Peak learning rate, shaped by `schedule`.
    pub lr: f64,
    pub schedule: Schedule,
}

impl Descent {
    /// Step `step`: zeroes the gradients of `params`, back-propagates the loss that `loss` builds,
    /// clips the global gradient norm to 1 and updates `params`. A NaN or infinite loss stops
    /// with an error naming the step (the parameters are left untouched).
    pub fn step(&mut self, params: &Params, step: u64, loss: impl FnOnce() -> Result<Var>) -> Result<StepResult> {
        let lr = self.schedule.lr(self.lr, step);
        params.zero_grad();
        let loss = loss()?;
        let value = loss.value().to_scalar()?;
        if !value.is_finite() {
            return Err(TrainError::Invalid(format!("the loss became {value} at step {step}; stopping")));
        }
        loss.backward()?;
        self.optimizer.step_clipped(params, lr, 1.0)?;
        Ok(StepResult { loss: value, lr })
    }
}

/// `01:02:03` for 3723 seconds.
fn clock(seconds: f64) -> String {
    let s = seconds.max(0.0).round() as u64;
    format!("{:02}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the loop handed [`Task::keep`]: the step, whether the loss improved, the best so far.
    type Kept = (u64, bool, Option<(f64, u64)>);

    /// A task whose losses are scripted: step `s` has training loss `s`, and the evaluations
    /// return `val_losses` in turn. It records what the loop asked of it.
    struct Scripted {
        val_losses: Vec<f64>,
        evaluated_at: Vec<u64>,
        kept: Vec<Kept>,
    }

    impl Scripted {
        fn new(val_losses: &[f64]) -> Self {
            Self { val_losses: val_losses.to_vec(), evaluated_at: Vec::new(), kept: Vec::new() }
        }
    }

    impl Task for Scripted {
        type Record = (u64, f64, Option<f64>);

        fn train_step(&mut self, step: u64) -> Result<StepResult> {
            Ok(StepResult { loss: step as f64, lr: 0.1 })
        }

        fn evaluate(&mut self, progress: &Progress) -> Result<Evaluation<Self::Record>> {
            let val_loss = self.val_losses[self.evaluated_at.len()];
            self.evaluated_at.push(progress.step);
            Ok(Evaluation {
                record: (progress.step, progress.train_loss, Some(val_loss)),
                val_loss,
                message: String::new(),
            })
        }

        fn train_record(&self, progress: &Progress) -> Option<(Self::Record, String)> {
            Some(((progress.step, progress.train_loss, None), String::new()))
        }

        fn keep(&mut self, _: &Path, standing: &Standing, improved: bool) -> Result<()> {
            self.kept.push((standing.step, improved, standing.best));
            Ok(())
        }

        fn plot(&self, _: &Path, _: &[Self::Record]) -> Result<()> {
            Ok(())
        }
    }

    fn plan(steps: u64, evaluate_every: Vec<u64>) -> Plan {
        Plan { evaluate_every, ..Plan::evaluating_every(steps, 1, false) }
    }

    #[test]
    fn evaluations_fall_on_every_multiple_and_the_last_step_with_the_window_mean() {
        let dir = tempfile::tempdir().unwrap();
        let mut task = Scripted::new(&[5.0, 4.0, 3.0, 2.0, 1.0]);
        let fitted = fit(&mut task, &plan(10, vec![4, 6]), dir.path()).unwrap();
        assert_eq!(task.evaluated_at, [4, 6, 8, 10]);
        // Step s has loss s (counted from 0): steps 0–3, 4–5, 6–7, 8–9.
        let means: Vec<f64> = fitted.log.iter().map(|r| r.1).collect();
        assert_eq!(means, [1.5, 4.5, 6.5, 8.5]);
        assert_eq!(fitted.standing, Standing { step: 10, best: Some((2.0, 10)), evals_since_best: 0 });
        let lines = std::fs::read_to_string(dir.path().join(METRICS_FILE)).unwrap();
        assert_eq!(lines.lines().count(), 4, "one line an evaluation: {lines}");
    }

    #[test]
    fn patience_stops_the_run_and_only_lower_losses_count_as_improvements() {
        let dir = tempfile::tempdir().unwrap();
        let mut task = Scripted::new(&[3.0, 2.0, 2.0, 2.5, 1.0]);
        let fitted = fit(&mut task, &Plan { patience: Some(2), ..plan(100, vec![10]) }, dir.path()).unwrap();
        assert!(fitted.stopped_early);
        assert_eq!(task.evaluated_at, [10, 20, 30, 40], "stopped at the second evaluation without a lower loss");
        let improved: Vec<bool> = task.kept.iter().map(|k| k.1).collect();
        assert_eq!(improved, [true, true, false, false]);
        assert_eq!(fitted.standing, Standing { step: 40, best: Some((2.0, 20)), evals_since_best: 2 });
    }

    #[test]
    fn a_resumed_run_goes_on_from_its_standing_with_training_lines_between_evaluations() {
        let dir = tempfile::tempdir().unwrap();
        let mut task = Scripted::new(&[1.5, 0.5]);
        let start = Standing { step: 12, best: Some((1.0, 0)), evals_since_best: 1 };
        let resumed = Plan { start, log_every: Some(2), patience: Some(3), ..plan(20, vec![4]) };
        let fitted = fit(&mut task, &resumed, dir.path()).unwrap();
        assert_eq!(task.evaluated_at, [16, 20]);
        // The loss 1.5 is the second evaluation since the best (1.0), 0.5 a new best.
        assert_eq!(task.kept, [(16, false, Some((1.0, 0))), (20, true, Some((0.5, 20)))]);
        let steps: Vec<(u64, bool)> = fitted.log.iter().map(|r| (r.0, r.2.is_some())).collect();
        assert_eq!(steps, [(14, false), (16, true), (18, false), (20, true)]);
        assert_eq!(fitted.log[0].1, 12.5, "steps 12 and 13");
    }
}
