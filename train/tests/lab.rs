//! The emergence lab on reduced configurations: the sweep's outputs, reuse and resumption of its
//! runs, and the grokking run folder.

use std::path::Path;
use train::lab::scaling::run_sweep;
use train::lab::sweep::{CSV_FILE, MIRAGE_PLOT, REPORT_FILE, SCALING_PLOT};
use train::lab::{run_grokking, run_lab, GrokkingConfig, SweepConfig};
use train::trainer::{read_metrics, Trainer, METRICS_FILE};

/// Two tasks, two sizes, two seeds, 24 steps evaluated 3 times.
fn small_sweep() -> SweepConfig {
    SweepConfig {
        tasks: vec!["add1".into(), "mod7".into()],
        sizes: vec!["1x8".parse().unwrap(), "1x16h2".parse().unwrap()],
        seeds: 2,
        steps: 24,
        evals: 3,
        batch_size: 16,
        warmup: 4,
        held_out: 20,
        jobs: 2,
        ..SweepConfig::default()
    }
}

fn csv_rows(dir: &Path) -> Vec<String> {
    std::fs::read_to_string(dir.join(CSV_FILE)).unwrap().lines().map(String::from).collect()
}

#[test]
fn sweep_writes_csv_plots_and_report() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = small_sweep();
    let report = run_lab(&cfg, dir.path(), false).unwrap();
    let rows = csv_rows(dir.path());
    // Header + tasks × sizes × seeds × evaluations.
    assert_eq!(rows.len(), 1 + 2 * 2 * 2 * 3);
    assert!(rows[0].starts_with("task,size,n_layer"));
    let steps: Vec<u64> = rows[1..].iter().map(|r| r.split(',').nth(7).unwrap().parse().unwrap()).collect();
    assert!(steps.iter().all(|s| [8, 16, 24].contains(s)));
    for row in &rows[1..] {
        let fields: Vec<&str> = row.split(',').collect();
        let (params, tokens, flops): (f64, f64, f64) =
            (fields[5].parse().unwrap(), fields[8].parse().unwrap(), fields[9].parse().unwrap());
        assert!((flops - 6.0 * params * tokens).abs() <= 1e-6 * flops, "C = 6ND in {row}");
        let accuracy: f64 = fields[11].parse().unwrap();
        assert!((0.0..=1.0).contains(&accuracy));
    }
    let text = std::fs::read_to_string(report).unwrap();
    assert!(text.contains("## add1") && text.contains("## mod7") && text.contains("1x16h2"));
    for png in [MIRAGE_PLOT, SCALING_PLOT] {
        assert_eq!(&std::fs::read(dir.path().join(png)).unwrap()[1..4], b"PNG");
    }
    assert!(dir.path().join(REPORT_FILE).exists());
}

#[test]
fn an_interrupted_sweep_resumes_to_the_same_numbers_and_reuses_finished_runs() {
    let cfg = small_sweep();
    let straight = tempfile::tempdir().unwrap();
    let reference = run_sweep(&cfg, straight.path(), false).unwrap();

    // Interrupt one run halfway (as a kill after its first checkpoint would leave it).
    let interrupted = tempfile::tempdir().unwrap();
    let run = &cfg.runs()[0];
    let run_dir = interrupted.path().join("runs").join(run.folder());
    Trainer::new(cfg.train_config(run).unwrap(), &run_dir, None).unwrap().run(Some(8)).unwrap();
    let resumed = run_sweep(&cfg, interrupted.path(), false).unwrap();
    assert_eq!(resumed, reference, "resumed runs are bit-identical to uninterrupted ones");

    // Run again: nothing is retrained (the logs are untouched).
    let log = run_dir.join(METRICS_FILE);
    let before = std::fs::read_to_string(&log).unwrap();
    let modified = std::fs::metadata(&log).unwrap().modified().unwrap();
    assert_eq!(run_sweep(&cfg, interrupted.path(), false).unwrap(), reference);
    assert!(std::fs::read_to_string(&log).unwrap() == before, "the log of a finished run was rewritten");
    assert_eq!(std::fs::metadata(&log).unwrap().modified().unwrap(), modified);

    // A folder made with other settings is refused, not silently mixed in.
    let other = SweepConfig { lr: 1e-2, ..small_sweep() };
    let err = run_sweep(&other, interrupted.path(), false).unwrap_err().to_string();
    assert!(err.contains("other settings"), "{err}");
}

#[test]
fn grokking_run_folder_has_the_metrics_and_the_plot() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = GrokkingConfig {
        modulus: 11,
        train_fraction: 0.5,
        n_embd: 32,
        steps: 150,
        eval_interval: 10,
        ..GrokkingConfig::default()
    };
    let (summary, plot) = run_grokking(&cfg, dir.path(), false).unwrap();
    assert_eq!(&std::fs::read(plot).unwrap()[1..4], b"PNG");
    let records = read_metrics(&dir.path().join(METRICS_FILE)).unwrap();
    let evals: Vec<_> = records.iter().filter(|r| r.val_acc.is_some()).collect();
    assert_eq!(evals.len(), 15);
    for r in &evals {
        assert!(r.train_acc.is_some() && r.val_loss.is_some() && r.train_loss.is_finite());
    }
    let line = std::fs::read_to_string(dir.path().join(METRICS_FILE)).unwrap();
    let last: serde_json::Value = serde_json::from_str(line.lines().last().unwrap()).unwrap();
    for key in ["step", "train_acc", "val_acc", "train_loss", "val_loss", "weight_norm"] {
        assert!(last.get(key).is_some(), "metrics.jsonl lacks {key}");
    }
    // Full-batch AdamW memorises the 60 training pairs of p = 11 within 150 steps.
    assert!(summary.train_step.is_some_and(|s| s <= 150), "{}", summary.describe());
    assert!(summary.final_train_acc >= 0.9, "{}", summary.describe());
    assert!(std::fs::read_to_string(dir.path().join("summary.txt")).unwrap().contains("training accuracy"));
}
