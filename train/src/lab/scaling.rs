//! `emergent lab scaling`: a sweep over model size, training budget and seed on the built-in
//! arithmetic tasks, measuring for every model validation loss, per-token accuracy, token edit
//! distance and exact match (F15, F17).
//!
//! Each run is an ordinary training run in its own folder under `<out>/runs/`, so a sweep that is
//! interrupted resumes each unfinished run from its last checkpoint and reuses the finished ones.
//! Training budgets are the run's evaluations: the learning rate is constant after warm-up, so the
//! model at step `s` is the model a budget of `s` steps would have produced.

use super::plots;
use super::report;
use super::sweep::{RunSpec, SweepConfig, SweepPoint, CSV_FILE, MIRAGE_PLOT, REPORT_FILE, SCALING_PLOT};
use crate::data::{parse_task, task_name};
use crate::error::{Result, TrainError};
use crate::tokenizer::Tokenizer;
use crate::trainer::{read_metrics, train_to_end, METRICS_FILE};
use indicatif::{ProgressBar, ProgressStyle};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use tensor::Device;

/// Runs (or reuses) every run of the sweep on `jobs` worker threads, then reads the points.
pub fn run_sweep(cfg: &SweepConfig, out: &Path, show_progress: bool) -> Result<Vec<SweepPoint>> {
    cfg.validate()?;
    let runs = cfg.runs();
    let bar = if show_progress { ProgressBar::new(runs.len() as u64) } else { ProgressBar::hidden() };
    bar.set_style(
        ProgressStyle::with_template("{bar:30} {pos}/{len} runs [{elapsed_precise} < {eta_precise}] {msg}")
            .expect("valid template"),
    );
    let next = AtomicUsize::new(0);
    let first_error: Mutex<Option<TrainError>> = Mutex::new(None);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let context = tensor::ExecutionContext::current();
    let threads_per_job = (cores / cfg.jobs).max(1);
    std::thread::scope(|scope| {
        for _ in 0..cfg.jobs.min(runs.len()) {
            scope.spawn(|| {
                let pool = rayon::ThreadPoolBuilder::new().num_threads(threads_per_job).build();
                let pool = match pool {
                    Ok(p) => p,
                    Err(e) => return *first_error.lock().expect("lock") = Some(TrainError::Invalid(e.to_string())),
                };
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    if i >= runs.len() || first_error.lock().expect("lock").is_some() {
                        return;
                    }
                    let run = &runs[i];
                    bar.set_message(run.folder());
                    // The worker runs in the caller's execution context.
                    let result = cfg.train_config(run).and_then(|c| {
                        let train = || train_to_end(c, &run_dir(out, run), Device::Cpu, false).map(drop);
                        pool.install(|| context.run(train))
                    });
                    if let Err(e) = result {
                        *first_error.lock().expect("lock") = Some(e);
                        return;
                    }
                    bar.inc(1);
                }
            });
        }
    });
    bar.finish_and_clear();
    if let Some(e) = first_error.into_inner().expect("lock") {
        return Err(e);
    }
    let mut points = Vec::new();
    for run in &runs {
        points.extend(read_points(cfg, run, &run_dir(out, run))?);
    }
    Ok(points)
}

fn run_dir(out: &Path, run: &RunSpec) -> PathBuf {
    out.join("runs").join(run.folder())
}

/// The evaluations a finished run logged.
fn read_points(cfg: &SweepConfig, run: &RunSpec, dir: &Path) -> Result<Vec<SweepPoint>> {
    let (op, digits) = parse_task(&run.task)?;
    let train_cfg = cfg.train_config(run)?;
    let task = crate::data::ArithmeticTask::new(op, digits, 0, 0)?;
    let vocab = crate::data::ArithmeticTask::tokenizer(op).vocab_size();
    let model_cfg =
        model::gpt2::Gpt2Config::new(vocab, task.len() - 1, run.size.n_embd, run.size.n_layer, run.size.n_head);
    let params = model_cfg.parameter_count();
    let tokens_per_step = (train_cfg.batch_size * (task.len() - 1)) as u64;
    let records = read_metrics(&dir.join(METRICS_FILE))?;
    let points: Vec<SweepPoint> = records
        .iter()
        .filter_map(|r| {
            Some(SweepPoint {
                task: task_name(op, digits),
                size: run.size,
                seed: run.seed,
                params,
                step: r.step,
                tokens: r.step * tokens_per_step,
                flops: 6.0 * params as f64 * (r.step * tokens_per_step) as f64,
                val_loss: r.val_loss?,
                token_accuracy: r.token_accuracy?,
                edit_distance: r.edit_distance?,
                exact_match: r.exact_match?,
                answer_len: task.answer_width(),
            })
        })
        .collect();
    if points.last().is_none_or(|p| p.step < cfg.steps) {
        return Err(TrainError::format(&dir.join(METRICS_FILE), "the run's log does not reach its last step"));
    }
    Ok(points)
}

/// The sweep, its CSV, plots and report, written to `out`. Returns the report's path.
pub fn run_lab(cfg: &SweepConfig, out: &Path, show_progress: bool) -> Result<PathBuf> {
    std::fs::create_dir_all(out).map_err(|e| TrainError::io(out, e))?;
    let points = run_sweep(cfg, out, show_progress)?;
    report::write_csv(&out.join(CSV_FILE), &points)?;
    plots::write_mirage_plot(&out.join(MIRAGE_PLOT), &points, cfg.steps)?;
    plots::write_scaling_plot(&out.join(SCALING_PLOT), &points, cfg.steps)?;
    let path = out.join(REPORT_FILE);
    report::write_report(&path, cfg, &points)?;
    Ok(path)
}
