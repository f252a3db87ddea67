//! Bad inputs and faults a careful user runs into, each reproduced as first reported: every one
//! must end in a clear error (or a note) with nothing lost and no run folder left half-made.

mod common;

use common::emergent;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use train::trainer::Trainer;

fn p(path: &Path) -> String {
    path.to_str().unwrap().to_string()
}

#[test]
fn a_diverged_run_keeps_its_last_finite_checkpoint_and_resumes_from_it() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("r");
    // As reported: the weights turned NaN by step 15, whose checkpoint was published as "the last
    // good one", and step 10's was deleted.
    let e =
        emergent(&["train", "--out", &p(&run), "--steps", "600", "--lr", "1e3", "--eval-interval", "5"]).unwrap_err();
    assert!(e.contains("NaN or an infinity") && e.contains("step-0000010"), "{e}");
    for kept in std::fs::read_dir(run.join("checkpoints")).unwrap().flatten().filter(|e| e.path().is_dir()) {
        let tensors = model::checkpoint::read_safetensors(&kept.path().join("model.safetensors")).unwrap();
        let optimizer = model::checkpoint::read_safetensors(&kept.path().join("optimizer.safetensors")).unwrap();
        for (name, t) in tensors.iter().chain(&optimizer) {
            assert!(t.all_finite().unwrap(), "{name} in {}", kept.path().display());
        }
    }
    assert_eq!(Trainer::resume(&run, None, None).unwrap().step(), 10);
}

#[test]
fn two_processes_cannot_train_in_one_folder_and_a_killed_ones_folder_is_taken_over() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("r");
    let mut first = Command::new(env!("CARGO_BIN_EXE_emergent"))
        .args(["train", "--out", &p(&run), "--steps", "100000", "--eval-interval", "2"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Wait for its first checkpoint (the lock is taken before anything is written).
    let started = Instant::now();
    while train::trainer::latest(&run).ok().flatten().is_none() {
        assert!(started.elapsed() < Duration::from_secs(60), "the first run never checkpointed");
        std::thread::sleep(Duration::from_millis(20));
    }
    let owner = format!("in use by process {}", first.id());
    let e = emergent(&["train", "--out", &p(&run), "--steps", "10"]).unwrap_err();
    assert!(e.contains(&owner), "{e}");
    let e = emergent(&["train", "--resume", &p(&run)]).unwrap_err();
    assert!(e.contains(&owner), "{e}");
    first.kill().unwrap(); // SIGKILL: no chance to clean up
    first.wait().unwrap();
    let resumed = Trainer::resume(&run, None, None).unwrap();
    assert!(resumed.step() >= 2);
}

#[test]
fn two_runs_started_together_into_one_folder_cannot_both_train() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("r");
    let start = || {
        Command::new(env!("CARGO_BIN_EXE_emergent"))
            .args(["train", "--out", &p(&run), "--steps", "100000", "--eval-interval", "1000"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let mut runs = vec![start(), start()];
    // As reported, both trained and exited 0; now the one that comes second stops at once.
    let started = Instant::now();
    let loser = loop {
        if let Some(i) = (0..2).find(|&i| runs[i].try_wait().unwrap().is_some()) {
            break i;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "neither run was refused");
        std::thread::sleep(Duration::from_millis(20));
    };
    let winner = &mut runs[1 - loser];
    let owner = format!("in use by process {}", winner.id());
    winner.kill().unwrap();
    winner.wait().unwrap();
    let output = runs.swap_remove(loser).wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success() && stderr.contains(&owner), "{stderr}");
}

#[test]
fn text_too_short_or_empty_is_refused_before_a_run_folder_is_made() {
    let dir = tempfile::tempdir().unwrap();
    let (empty, short) = (dir.path().join("empty.txt"), dir.path().join("short.txt"));
    std::fs::write(&empty, "").unwrap();
    std::fs::write(&short, "abc").unwrap();
    let out = dir.path().join("run");
    let e = emergent(&["train", "--data", &p(&empty), "--out", &p(&out)]).unwrap_err();
    assert!(e.contains("empty.txt: the file is empty"), "{e}");
    let e = emergent(&["train", "--data", &p(&short), "--out", &p(&out)]).unwrap_err();
    assert!(e.contains("3 tokens") && e.contains("too few for windows of 65"), "{e}");
    assert!(!out.exists());
}

#[test]
fn impossible_settings_are_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let out = p(&dir.path().join("run"));
    for (flags, message) in [
        ("--clip -1", "clipping norm must be a positive number"),
        ("--clip NaN", "clipping norm must be a positive number"),
        ("--weight-decay -1", "weight decay must be finite and ≥ 0"),
        ("--keep-checkpoints 0", "keep_checkpoints must be at least 1"),
        ("--n-embd 1000000000 --n-head 1", "EiB"),
        ("--batch-size 1000000000", "TiB"),
        ("--n-layer 1000000000", "available"),
    ] {
        let mut args = vec!["train", "--out", &out, "--steps", "5"];
        args.extend(flags.split_whitespace());
        let started = Instant::now();
        let e = emergent(&args).unwrap_err();
        assert!(e.contains(message), "{flags}: {e}");
        assert!(started.elapsed() < Duration::from_secs(5), "{flags}: refused before anything is built");
    }
}

#[test]
fn resume_names_each_flag_it_ignores() {
    let dir = tempfile::tempdir().unwrap();
    let run = p(&dir.path().join("r"));
    emergent(&["train", "--task", "add2", "--n-layer", "1", "--n-embd", "16", "--out", &run, "--steps", "4"]).unwrap();
    let printed = emergent(&["train", "--resume", &run, "--lr", "5", "--n-layer", "3", "--steps", "6"]).unwrap();
    assert!(printed.contains("ignoring --n-layer, --lr"), "{printed}");
    assert!(printed.contains("resuming") && printed.contains("at step 4"), "{printed}");
}

#[test]
fn a_nan_weight_gives_nan_logits_and_loss_as_in_pytorch() {
    // As reported: a NaN (or an infinity) in c_attn.weight printed finite logits and loss=5.16.
    let fixture = Path::new("../model/tests/fixtures/gpt2_tiny");
    let dir = tempfile::tempdir().unwrap();
    for bad in [f32::NAN, f32::INFINITY] {
        let checkpoint = dir.path().join("gpt2");
        std::fs::create_dir_all(&checkpoint).unwrap();
        std::fs::copy(fixture.join("config.json"), checkpoint.join("config.json")).unwrap();
        let tensors = model::checkpoint::read_safetensors(&fixture.join("model.safetensors")).unwrap();
        let named: Vec<(String, tensor::Tensor)> = tensors
            .into_iter()
            .map(|(name, t)| {
                if !name.ends_with("h.0.attn.c_attn.weight") {
                    return (name, t);
                }
                let mut values = t.to_vec::<f32>().unwrap();
                values[7] = bad;
                (name, tensor::Tensor::from_vec(values, t.shape()).unwrap())
            })
            .collect();
        model::checkpoint::write_safetensors(&checkpoint.join("model.safetensors"), &named, None).unwrap();
        let ids = dir.path().join("ids.npy");
        let ids_file = npy_i64(&[1, 2, 3, 4, 5, 6], &[2, 3]);
        std::fs::write(&ids, ids_file).unwrap();
        let out = dir.path().join("logits.npy");
        let args = ["forward", "--checkpoint", &p(&checkpoint), "--ids", &p(&ids), "--targets", &p(&ids)];
        let printed = emergent(&[&args[..], &["--out", &p(&out)]].concat()).unwrap();
        assert!(printed.trim_end().ends_with("loss=NaN"), "{bad}: {printed}");
        let bytes = std::fs::read(&out).unwrap();
        let logits = npyz::NpyFile::new(&bytes[..]).unwrap().into_vec::<f32>().unwrap();
        assert!(logits.iter().all(|v| v.is_nan()), "{bad}: every logit reads the bad weight");
    }
}

/// A `.npy` file of i64 `values` of `shape`.
fn npy_i64(values: &[i64], shape: &[u64]) -> Vec<u8> {
    use npyz::WriterBuilder;
    let mut bytes = Vec::new();
    let mut w = npyz::WriteOptions::new().default_dtype().shape(shape).writer(&mut bytes).begin_nd().unwrap();
    w.extend(values.iter().copied()).unwrap();
    w.finish().unwrap();
    bytes
}

#[test]
fn adams_betas_and_epsilon_are_flags_and_checked() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("r");
    let flags = "--task add2 --n-layer 1 --n-embd 16 --steps 2 --beta1 0.8 --beta2 0.95 --eps 1e-6";
    let mut args = vec!["train", "--out", run.to_str().unwrap()];
    args.extend(flags.split_whitespace());
    emergent(&args).unwrap();
    let cfg: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("config.json")).unwrap()).unwrap();
    assert_eq!(
        (&cfg["optimizer"]["beta1"], &cfg["optimizer"]["beta2"], &cfg["optimizer"]["eps"]),
        (&serde_json::json!(0.8), &serde_json::json!(0.95), &serde_json::json!(1e-6))
    );
    let e = emergent(&["train", "--out", &p(&dir.path().join("q")), "--beta2", "1.0"]).unwrap_err();
    assert!(e.contains("β₁, β₂ in [0, 1)"), "{e}");
}

#[test]
fn a_run_folder_works_from_any_directory() {
    // As reported: relative data paths were stored, so sample and --resume failed elsewhere.
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("project");
    std::fs::create_dir_all(&home).unwrap();
    std::fs::write(home.join("text.txt"), "to be or not to be, that is the question.\n".repeat(40)).unwrap();
    let run = |cwd: &Path, args: &[&str]| {
        let output = Command::new(env!("CARGO_BIN_EXE_emergent")).args(args).current_dir(cwd).output().unwrap();
        assert!(output.status.success(), "{args:?}: {}", String::from_utf8_lossy(&output.stderr));
    };
    let small = ["--n-layer", "1", "--n-head", "2", "--n-embd", "16", "--block-size", "16", "--batch-size", "4"];
    let first = ["train", "--data", "text.txt", "--out", "run", "--steps", "6", "--eval-interval", "3", "--until", "3"];
    run(&home, &[&first[..], &small[..]].concat());
    let elsewhere = dir.path();
    let folder = p(&home.join("run"));
    run(elsewhere, &["train", "--resume", &folder]);
    run(elsewhere, &["sample", "--checkpoint", &folder, "--prompt", "to be", "--tokens", "5"]);
    run(elsewhere, &["eval", "--checkpoint", &folder, "--data", &p(&home.join("text.txt"))]);
}

#[test]
fn moved_data_is_named_found_through_data_and_must_be_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let (text, moved, run) = (dir.path().join("a.txt"), dir.path().join("b.txt"), dir.path().join("run"));
    std::fs::write(&text, "to be or not to be, that is the question.\n".repeat(40)).unwrap();
    let small = ["--n-layer", "1", "--n-head", "2", "--n-embd", "16", "--block-size", "16", "--batch-size", "4"];
    let first =
        ["train", "--data", &p(&text), "--out", &p(&run), "--steps", "6", "--eval-interval", "3", "--until", "3"];
    emergent(&[&first[..], &small[..]].concat()).unwrap();
    std::fs::rename(&text, &moved).unwrap();
    let e = emergent(&["train", "--resume", &p(&run)]).unwrap_err();
    assert!(e.contains("a.txt is not there") && e.contains("--data NEW_PLACE"), "{e}");
    std::fs::write(&moved, "other words entirely, and more of them.\n".repeat(40)).unwrap();
    let e = emergent(&["train", "--resume", &p(&run), "--data", &p(&moved)]).unwrap_err();
    assert!(e.contains("not the data this run began on"), "{e}");
    std::fs::write(&moved, "to be or not to be, that is the question.\n".repeat(40)).unwrap();
    emergent(&["train", "--resume", &p(&run), "--data", &p(&moved), "--until", "4"]).unwrap();
    // The new place is recorded: the next resume needs no --data.
    emergent(&["train", "--resume", &p(&run)]).unwrap();
    // --data means nothing to a run on a built-in task.
    let task = dir.path().join("task");
    emergent(&[&["train", "--out", &p(&task), "--steps", "2", "--eval-interval", "1"][..], &small[..2]].concat())
        .unwrap();
    let e = emergent(&["train", "--resume", &p(&task), "--data", &p(&moved)]).unwrap_err();
    assert!(e.contains("trains on a built-in task"), "{e}");
}

/// Started by `mpirun -np 2` without the `mpi` feature, each process would train alone: refused.
#[cfg(not(feature = "mpi"))]
#[test]
fn a_launcher_without_the_mpi_feature_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_emergent"))
        .args(["train", "--steps", "2", "--out", &p(&dir.path().join("run"))])
        .env("OMPI_COMM_WORLD_SIZE", "2")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !output.status.success() && stderr.contains("built without MPI") && stderr.contains("--features mpi"),
        "{stderr}"
    );
    assert!(!dir.path().join("run").exists(), "nothing written");
}

#[test]
fn fine_tuning_a_bert_whose_config_asks_for_dropout_says_it_runs_without() {
    // HF's BERT configs carry dropout (0.1 in bert-base); the classifier here has none, and says so.
    let dir = tempfile::tempdir().unwrap();
    let (pre, cls) = (dir.path().join("pre"), dir.path().join("cls"));
    let tiny = ["--n-embd", "16", "--n-head", "2", "--n-layer", "1"];
    emergent(
        &[
            &["bert-pretrain", "--documents", "40", "--steps", "1", "--eval-interval", "1"][..],
            &tiny,
            &["--out", &p(&pre)],
        ]
        .concat(),
    )
    .unwrap();
    let config_path = pre.join("model/config.json");
    let mut config: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&config_path).unwrap()).unwrap();
    config["hidden_dropout_prob"] = serde_json::json!(0.1);
    std::fs::write(&config_path, config.to_string()).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_emergent"))
        .args(["classify", "--init", &p(&pre.join("model")), "--examples", "40", "--epochs", "1", "--out", &p(&cls)])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(
        stderr.contains("asks for dropout (hidden 0.1, attention 0)") && stderr.contains("without dropout"),
        "{stderr}"
    );
}

#[test]
fn gpu_only_precisions_are_refused_on_the_cpu_by_name() {
    let dir = tempfile::tempdir().unwrap();
    for precision in ["tf32", "bf16-in-cublas"] {
        let out = p(&dir.path().join(precision));
        let err = emergent(&["train", "--steps", "1", "--precision", precision, "--out", &out]).unwrap_err();
        assert!(err.contains(&format!("--precision {precision} is a GPU precision")), "{err}");
        assert!(!Path::new(&out).exists(), "nothing is written");
    }
}
