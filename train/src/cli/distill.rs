//! `emergent distill`: knowledge distillation (F13). A student learns from a trained teacher's
//! softened predictions as well as from the labels; the same student is trained alone, from the
//! same initial weights on the same batches, and the two are compared.

use super::train::{default_run_dir, resolve, TrainArgs};
use crate::error::{Result, TrainError};
use crate::plot::{write_curves, Panel};
use crate::trainer::{read_metrics, train_to_end, DistillConfig, Evaluation, MetricsRecord, METRICS_FILE};
use clap::Args;
use std::fmt::Write as _;
use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(Debug, Args)]
pub struct DistillArgs {
    /// The teacher: a run folder or checkpoint folder trained on the same data and tokenizer.
    #[arg(long)]
    pub teacher: PathBuf,
    /// T: both distributions are softened as softmax(z / T).
    #[arg(long, default_value_t = 2.0)]
    pub temperature: f64,
    /// α: the weight of the teacher term (1 − α goes to the labels).
    #[arg(long, default_value_t = 0.5)]
    pub alpha: f64,
    /// The student and its data, as for `emergent train`; --out holds both runs and the report.
    #[command(flatten)]
    pub student: TrainArgs,
}

/// The last evaluation of a run: (step, validation loss, exact match).
fn last_eval(records: &[MetricsRecord]) -> Option<(u64, f64, Option<f64>)> {
    records.iter().rev().find_map(|r| r.val_loss.map(|v| (r.step, v, r.exact_match)))
}

fn curve(records: &[MetricsRecord], f: fn(&MetricsRecord) -> Option<f64>) -> Vec<(f64, f64)> {
    records.iter().filter_map(|r| f(r).map(|v| (r.step as f64, v))).collect()
}

pub fn run(args: &DistillArgs, out: &mut dyn Write) -> Result<()> {
    let s = &args.student;
    if s.resume.is_some() || s.init.is_some() || s.until.is_some() {
        return Err(TrainError::Invalid(
            "distill takes no --resume, --init or --until: run the same command again to continue it".into(),
        ));
    }
    let (device, _context) = s.device.open(s.attention)?;
    let alone = resolve(s)?;
    let distill = DistillConfig { teacher: args.teacher.clone(), temperature: args.temperature, alpha: args.alpha };
    let distilled = crate::trainer::TrainConfig { distill: Some(distill), ..alone.clone() };
    let dir = s.out.clone().unwrap_or_else(|| {
        let name = default_run_dir(&alone).file_name().unwrap_or_default().to_string_lossy().to_string();
        PathBuf::from("runs").join(format!("distill-{name}"))
    });
    let io = |e| TrainError::io(Path::new("<stdout>"), e);
    writeln!(out, "student with the teacher {} (T = {}, α = {})", args.teacher.display(), args.temperature, args.alpha)
        .map_err(io)?;
    let with_teacher = train_to_end(distilled, &dir.join("distilled"), device, true)?;
    let teacher: Evaluation = with_teacher.evaluate_teacher()?.expect("a distillation run has a teacher");
    let teacher_params = with_teacher.teacher.as_ref().map_or(0, |t| t.params().numel());
    let student_params = with_teacher.model.params().numel();
    drop(with_teacher);
    writeln!(out, "the same student alone").map_err(io)?;
    train_to_end(alone, &dir.join("alone"), device, true)?;

    let distilled_log = read_metrics(&dir.join("distilled").join(METRICS_FILE))?;
    let alone_log = read_metrics(&dir.join("alone").join(METRICS_FILE))?;
    let mut panels = vec![Panel::new("validation loss", "cross-entropy")
        .log_scale()
        .curve("distilled student", curve(&distilled_log, |r| r.val_loss))
        .curve("student alone", curve(&alone_log, |r| r.val_loss))
        .reference("teacher", teacher.val_loss)];
    if let Some(em) = teacher.exact_match {
        panels.push(
            Panel::new("exact match on held-out problems", "exact match")
                .curve("distilled student", curve(&distilled_log, |r| r.exact_match))
                .curve("student alone", curve(&alone_log, |r| r.exact_match))
                .reference("teacher", em),
        );
    }
    let title = format!("distillation: {student_params}-parameter student, {teacher_params}-parameter teacher");
    write_curves(&dir.join("distill.png"), &title, &panels)?;

    let mut report = format!(
        "# Knowledge distillation\n\nTeacher `{}` ({teacher_params} parameters); student {student_params} parameters; \
         T = {}, α = {}.\n\n| model | step | validation loss | perplexity | exact match |\n|---|---|---|---|---|\n",
        args.teacher.display(),
        args.temperature,
        args.alpha
    );
    let em = |e: Option<f64>| e.map_or("–".to_string(), |v| format!("{:.1}%", 100.0 * v));
    let _ = writeln!(
        report,
        "| teacher | – | {:.4} | {:.3} | {} |",
        teacher.val_loss,
        teacher.val_loss.exp(),
        em(teacher.exact_match)
    );
    for (name, log) in [("distilled student", &distilled_log), ("student alone", &alone_log)] {
        if let Some((step, loss, exact)) = last_eval(log) {
            let _ = writeln!(report, "| {name} | {step} | {loss:.4} | {:.3} | {} |", loss.exp(), em(exact));
        }
    }
    model::checkpoint::write_atomically(&dir.join("report.md"), report.as_bytes())?;
    writeln!(out, "\n{report}\nplot: {}", dir.join("distill.png").display()).map_err(io)
}
