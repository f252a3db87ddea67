//! The trainer: exact resume, atomic checkpoints, NaN handling, early stopping, and the run folder.

use std::path::Path;
use train::data::Operation;
use train::optim::Schedule;
use train::trainer::{latest, Architecture, DataConfig, OptimizerKind, TrainConfig, Trainer};

/// A small, fast run: 2-digit addition, a 1-layer 32-wide GPT, dropout on (so resume must restore
/// the dropout masks too).
fn tiny_config(steps: u64) -> TrainConfig {
    let mut cfg = TrainConfig {
        data: DataConfig::Arithmetic { op: Operation::Add, digits: 2, held_out: 50 },
        n_layer: 1,
        n_head: 2,
        n_embd: 32,
        dropout: 0.1,
        steps,
        batch_size: 8,
        eval_interval: 5,
        ..TrainConfig::default()
    };
    cfg.schedule = Schedule::WarmupCosine { warmup: 3, total: steps, min_ratio: 0.1 };
    cfg
}

fn weights(t: &Trainer) -> Vec<(String, Vec<u32>)> {
    t.model
        .params()
        .iter()
        .map(|(n, p)| (n.to_string(), p.value().to_vec::<f32>().unwrap().iter().map(|x| x.to_bits()).collect()))
        .collect()
}

#[test]
fn n_steps_then_resume_equals_2n_steps_bit_for_bit() {
    resume_is_exact(tiny_config(20));
}

#[test]
fn an_lstm_run_resumes_exactly_too() {
    resume_is_exact(TrainConfig { arch: Architecture::Lstm { hidden: 24 }, ..tiny_config(20) });
}

fn resume_is_exact(cfg: TrainConfig) {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut straight = Trainer::new(cfg.clone(), a.path(), None).unwrap();
    straight.run(None).unwrap();

    let mut first = Trainer::new(cfg, b.path(), None).unwrap();
    first.run(Some(10)).unwrap();
    drop(first);
    let mut resumed = Trainer::resume(b.path(), None, None).unwrap();
    assert_eq!(resumed.step(), 10);
    resumed.run(None).unwrap();
    assert_eq!(weights(&straight), weights(&resumed));
    // The log of the resumed run is the log of the straight one (timings aside).
    let steps = |d: &Path| {
        std::fs::read_to_string(d.join("metrics.jsonl"))
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["train_loss"].as_f64().unwrap())
            .collect::<Vec<_>>()
    };
    assert_eq!(steps(a.path()), steps(b.path()));
}

#[test]
fn run_folder_has_config_metrics_plot_and_one_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let mut t = Trainer::new(tiny_config(10), dir.path(), None).unwrap();
    let summary = t.run(None).unwrap();
    assert_eq!(summary.step, 10);
    assert!(summary.exact_match.is_some() && summary.val_loss.unwrap().is_finite());
    assert_eq!(summary.showcase.len(), 6);
    for f in ["config.json", "metrics.jsonl", "loss.png", "emergent_tokenizer.json"] {
        assert!(dir.path().join(f).exists(), "{f}");
    }
    let metrics = std::fs::read_to_string(dir.path().join("metrics.jsonl")).unwrap();
    let last: serde_json::Value = serde_json::from_str(metrics.lines().last().unwrap()).unwrap();
    for key in ["step", "train_loss", "val_loss", "exact_match", "lr"] {
        assert!(last.get(key).is_some(), "{key} missing from {last}");
    }
    let ckpt = latest(dir.path()).unwrap().unwrap();
    assert!(ckpt.ends_with("step-0000010"));
    for f in ["config.json", "model.safetensors", "optimizer.safetensors", "trainer.json", "emergent_tokenizer.json"] {
        assert!(ckpt.join(f).exists(), "{f}");
    }
    let mut names: Vec<_> = std::fs::read_dir(dir.path().join("checkpoints"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    names.sort();
    assert_eq!(names, ["latest", "step-0000005", "step-0000010"], "the newest two checkpoints and the pointer");
    // A new run into a folder with checkpoints is refused (it would mix two runs), and while a
    // trainer holds the folder, it is named.
    let e = Trainer::new(tiny_config(10), dir.path(), None).err().unwrap().to_string();
    assert!(e.contains(&format!("in use by process {}", std::process::id())), "{e}");
    drop(t);
    assert!(Trainer::new(tiny_config(10), dir.path(), None).err().unwrap().to_string().contains("--resume"));
}

#[test]
fn an_interrupted_checkpoint_write_leaves_the_last_good_one() {
    let dir = tempfile::tempdir().unwrap();
    let mut t = Trainer::new(tiny_config(20), dir.path(), None).unwrap();
    t.run(Some(5)).unwrap();
    drop(t);
    // A kill during the next save: a half-written temp folder, latest still naming step 5.
    let half = dir.path().join("checkpoints/step-0000010.tmp");
    std::fs::create_dir_all(&half).unwrap();
    std::fs::write(half.join("model.safetensors"), b"half a file").unwrap();
    let resumed = Trainer::resume(dir.path(), None, None).unwrap();
    assert_eq!(resumed.step(), 5);
    drop(resumed);
    // A pointer to a folder that is not a complete checkpoint: the complete one is used.
    std::fs::write(dir.path().join("checkpoints/latest"), "step-0000010.tmp").unwrap();
    assert_eq!(Trainer::resume(dir.path(), None, None).unwrap().step(), 5);
    // With none complete, a clear error.
    std::fs::remove_dir_all(dir.path().join("checkpoints/step-0000005")).unwrap();
    let e = Trainer::resume(dir.path(), None, None).err().unwrap().to_string();
    assert!(e.contains("no checkpoint to resume from"), "{e}");
}

#[test]
fn only_the_newest_keep_checkpoints_stay() {
    let dir = tempfile::tempdir().unwrap();
    let mut t = Trainer::new(TrainConfig { keep_checkpoints: 3, ..tiny_config(30) }, dir.path(), None).unwrap();
    t.run(None).unwrap();
    let mut names: Vec<_> = std::fs::read_dir(dir.path().join("checkpoints"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    names.sort();
    assert_eq!(names, ["latest", "step-0000020", "step-0000025", "step-0000030"]);
}

#[test]
fn a_corrupt_newest_checkpoint_falls_back_to_the_one_before_and_resumes_exactly() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut straight = Trainer::new(tiny_config(20), a.path(), None).unwrap();
    straight.run(None).unwrap();
    let mut first = Trainer::new(tiny_config(20), b.path(), None).unwrap();
    first.run(Some(15)).unwrap();
    drop(first);
    // The newest checkpoint's weights cut in half (a disk error, a copy gone wrong).
    let weights_file = b.path().join("checkpoints/step-0000015/model.safetensors");
    let bytes = std::fs::read(&weights_file).unwrap();
    std::fs::write(&weights_file, &bytes[..bytes.len() / 2]).unwrap();
    let mut resumed = Trainer::resume(b.path(), None, None).unwrap();
    assert_eq!(resumed.step(), 10, "step 15 cannot load: step 10 is next");
    resumed.run(None).unwrap();
    assert_eq!(weights(&straight), weights(&resumed));
}

#[test]
fn a_diverging_loss_stops_with_a_clear_message_and_keeps_the_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = tiny_config(40);
    cfg.schedule = Schedule::Constant;
    cfg.clip = None;
    cfg.optimizer.kind = OptimizerKind::Sgd;
    cfg.optimizer.momentum = 0.0;
    let mut t = Trainer::new(cfg, dir.path(), None).unwrap();
    t.run(Some(5)).unwrap();
    drop(t);
    let config = dir.path().join("config.json");
    let text = std::fs::read_to_string(&config).unwrap().replace("\"lr\": 0.001", "\"lr\": 1e30");
    std::fs::write(&config, text).unwrap();
    let mut t = Trainer::resume(dir.path(), None, None).unwrap();
    let e = t.run(None).expect_err("the loss must blow up").to_string();
    assert!(e.contains("the loss became") && e.contains("step-0000005"), "{e}");
    drop(t);
    assert_eq!(Trainer::resume(dir.path(), None, None).unwrap().step(), 5, "the last good checkpoint still loads");
}

#[test]
fn early_stopping_after_patience_evaluations_without_improvement() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = tiny_config(100);
    // A learning rate so small the weights never change: validation loss never improves.
    cfg.optimizer.kind = OptimizerKind::Sgd;
    cfg.optimizer.lr = 1e-30;
    cfg.schedule = Schedule::Constant;
    cfg.dropout = 0.0;
    cfg.patience = Some(2);
    let summary = Trainer::new(cfg, dir.path(), None).unwrap().run(None).unwrap();
    assert!(summary.stopped_early);
    assert_eq!(summary.step, 15, "first eval sets the best, two more without improvement");
}

#[test]
fn init_from_an_hf_checkpoint() {
    // A checkpoint of the task's own vocabulary (12) and context (14 positions of 4-digit problems).
    let mut cfg = tiny_config(2);
    cfg.data = DataConfig::Arithmetic { op: Operation::Add, digits: 4, held_out: 20 };
    let source = tempfile::tempdir().unwrap();
    Trainer::new(cfg.clone(), source.path(), None).unwrap().run(None).unwrap();
    let checkpoint = latest(source.path()).unwrap().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let t = Trainer::new(cfg.clone(), dir.path(), Some(&checkpoint)).unwrap();
    let reference = model::gpt2::Gpt2::load(&checkpoint, tensor::DType::F32).unwrap();
    for ((n1, a), (n2, b)) in t.model.params().iter().zip(reference.params.iter()) {
        assert_eq!(n1, n2);
        assert_eq!(a.value().to_vec::<f32>().unwrap(), b.value().to_vec::<f32>().unwrap());
    }
    // 9-digit problems need 29 positions: more than the checkpoint has.
    cfg.data = DataConfig::Arithmetic { op: Operation::Add, digits: 9, held_out: 20 };
    let e =
        Trainer::new(cfg.clone(), tempfile::tempdir().unwrap().path(), Some(&checkpoint)).err().unwrap().to_string();
    assert!(e.contains("context of at least 29"), "{e}");
    // A vocabulary of 50 for a task of 12: it trained, then generated id 54 at the first evaluation
    // ("outside the vocabulary of 12"). Refused before anything is written.
    cfg.data = DataConfig::Arithmetic { op: Operation::Add, digits: 4, held_out: 20 };
    let fixture = Path::new("../model/tests/fixtures/gpt2_tiny");
    let parent = tempfile::tempdir().unwrap();
    let out = parent.path().join("run");
    let e = Trainer::new(cfg, &out, Some(fixture)).err().unwrap().to_string();
    assert!(e.contains("vocabulary 50") && e.contains("exactly 12"), "{e}");
    assert!(!out.exists(), "no run folder is left behind");
}

#[test]
fn the_grokking_task_refuses_gradient_accumulation_and_its_tokenizer_reloads() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = tiny_config(2);
    cfg.data = DataConfig::Modular { modulus: 7, train_fraction: 0.5 };
    cfg.dropout = 0.0;
    cfg.grad_accum = 2;
    let e = Trainer::new(cfg.clone(), dir.path(), None).err().unwrap().to_string();
    assert!(e.contains("grad accumulation must be 1, got 2"), "{e}");
    cfg.grad_accum = 1;
    Trainer::new(cfg, dir.path(), None).unwrap().run(None).unwrap();
    // The run folder's tokenizer description names the number tokens: 0..7 and `=`.
    let tok = train::trainer::load_tokenizer(dir.path(), None).unwrap();
    assert_eq!(tok.vocab_size(), 8);
    assert_eq!(tok.decode(&[3, 5, 7]).unwrap(), "3 5 =");
}

#[test]
fn bf16_products_on_the_cpu_train_as_f32_does_within_their_rounding() {
    // The tiny run with its matrix products in bf16 (operands rounded to bf16, f32 sums, f32 master
    // weights) against f32: every logged loss within 0.5% of f32's (they differ by about 1e-4 here),
    // and not all equal to them (the products did run in bf16).
    let cfg = tiny_config(30);
    let losses = |precision| {
        let dir = tempfile::tempdir().unwrap();
        tensor::ExecutionContext::default().with_precision(precision).run(|| {
            Trainer::new(cfg.clone(), dir.path(), None).unwrap().run(None).unwrap();
        });
        let log = std::fs::read_to_string(dir.path().join("metrics.jsonl")).unwrap();
        let record = |l: &str| serde_json::from_str::<serde_json::Value>(l).unwrap();
        log.lines()
            .flat_map(|l| ["train_loss", "val_loss"].map(|k| record(l)[k].as_f64()))
            .flatten()
            .collect::<Vec<_>>()
    };
    let (f32_losses, bf16_losses) = (losses(tensor::MatmulPrecision::F32), losses(tensor::MatmulPrecision::Bf16));
    assert_eq!(f32_losses.len(), bf16_losses.len());
    for (a, b) in f32_losses.iter().zip(&bf16_losses) {
        assert!((a - b).abs() <= 0.005 * a.abs(), "f32 {a} vs bf16 {b}");
    }
    assert_ne!(f32_losses, bf16_losses);
}
