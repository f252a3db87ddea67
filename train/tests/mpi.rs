//! Data-parallel training under MPI (`cargo test -p train --features mpi --test mpi`; needs
//! `mpirun`, from Debian's openmpi-bin): two ranks, with the optimizer state whole or sharded
//! (`--zero 1`), give bit-for-bit what one process gives with twice the accumulation steps, resume
//! in the middle exactly, and refuse or end together on bad starts.
#![cfg(feature = "mpi")]

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

const EMERGENT: &str = env!("CARGO_BIN_EXE_emergent");

fn small(data: &Path) -> Vec<String> {
    small_for(data, 12)
}

/// A small run of `steps` steps on `data`.
fn small_for(data: &Path, steps: u64) -> Vec<String> {
    let flags = "--n-layer 1 --n-embd 32 --n-head 2 --block-size 32 --batch-size 4 --eval-interval 4 --dropout 0.1 \
                 --seed 3";
    let mut args = vec!["train".to_string(), "--data".to_string(), data.to_str().unwrap().to_string()];
    args.extend(flags.split_whitespace().map(String::from));
    args.extend(["--steps".to_string(), steps.to_string()]);
    args
}

/// `mpirun -np 2` over `ranks` (one argument list per rank: MPI's `A : B` form), with a deadline.
fn mpirun(ranks: &[Vec<String>]) -> Output {
    let mut cmd = Command::new("mpirun");
    cmd.args(["--allow-run-as-root", "--oversubscribe"]);
    for (i, args) in ranks.iter().enumerate() {
        if i > 0 {
            cmd.arg(":");
        }
        cmd.args(["-np", "1", EMERGENT]).args(args);
    }
    let child = cmd.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped()).spawn();
    let child = child.expect("mpirun (Debian: openmpi-bin) must be installed for these tests");
    let started = Instant::now();
    let id = child.id();
    let watchdog = std::thread::spawn(move || {
        while started.elapsed() < Duration::from_secs(120) {
            std::thread::sleep(Duration::from_millis(200));
            if !Path::new(&format!("/proc/{id}")).exists() {
                return false;
            }
        }
        let _ = Command::new("kill").arg("-9").arg(id.to_string()).status();
        true
    });
    let output = child.wait_with_output().unwrap();
    assert!(!watchdog.join().unwrap(), "mpirun did not finish within 120 s");
    output
}

fn both(args: Vec<String>) -> Vec<Vec<String>> {
    vec![args.clone(), args]
}

fn with(mut args: Vec<String>, more: &[&str]) -> Vec<String> {
    args.extend(more.iter().map(|s| s.to_string()));
    args
}

fn text(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("text.txt");
    let words = ["the", "cat", "sat", "on", "a", "mat", "and", "dog", "ran", "far", "away", "home"];
    let text: String = (0..6000).map(|i| words[(i * 7 + i / 13) % words.len()]).collect::<Vec<_>>().join(" ");
    std::fs::write(&path, text).unwrap();
    path
}

/// The logged figures of a run, without its timings. (A run stopped by `--until` also evaluates
/// where it stops; that extra validation loss is left out by keeping only the evaluations every
/// 4 steps.)
fn figures(run: &Path) -> Vec<String> {
    std::fs::read_to_string(run.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            let val = if v["step"].as_u64().unwrap().is_multiple_of(4) {
                v["val_loss"].clone()
            } else {
                serde_json::Value::Null
            };
            format!("{} {} {} {val}", v["step"], v["train_loss"], v["lr"])
        })
        .collect()
}

fn assert_same_run(a: &Path, b: &Path) {
    assert_eq!(figures(a), figures(b));
    let step = std::fs::read_dir(a.join("checkpoints")).unwrap().map(|e| e.unwrap().path()).max().unwrap();
    let name = step.file_name().unwrap();
    for file in ["model.safetensors", "optimizer.safetensors", "trainer.json"] {
        let (x, y) = (step.join(file), b.join("checkpoints").join(name).join(file));
        assert!(std::fs::read(&x).unwrap() == std::fs::read(&y).unwrap(), "{} and {} differ", x.display(), y.display());
    }
}

fn run_ok(output: &Output) {
    assert!(
        output.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The run two ranks should equal: one process, `--grad-accum 2`, into `out`.
fn one_process_with_twice_the_accumulation(data: &Path, out: &Path) {
    let args = with(small(data), &["--grad-accum", "2", "--out", out.to_str().unwrap()]);
    run_ok(&Command::new(EMERGENT).args(args).output().unwrap());
}

/// Two ranks given `flags` train as one process with twice the accumulation steps (weights, the
/// optimizer state written, losses), and a two-rank run stopped at step 6 and resumed equals the
/// whole one. Returns what the first two-rank run printed.
fn two_ranks_equal_one_process_and_resume_exactly(flags: &[&str]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let data = text(dir.path());
    let (two, one, resumed) = (dir.path().join("two"), dir.path().join("one"), dir.path().join("resumed"));
    let ranks =
        |out: &Path, more: &[&str]| with(with(with(small(&data), flags), &["--out", out.to_str().unwrap()]), more);
    let output = mpirun(&both(ranks(&two, &[])));
    run_ok(&output);
    one_process_with_twice_the_accumulation(&data, &one);
    assert_same_run(&one, &two);
    run_ok(&mpirun(&both(ranks(&resumed, &["--until", "6"]))));
    run_ok(&mpirun(&both(vec!["train".into(), "--resume".into(), resumed.to_str().unwrap().into()])));
    assert_same_run(&two, &resumed);
    String::from_utf8_lossy(&output.stdout).to_string()
}

#[test]
fn two_ranks_equal_one_process_with_twice_the_accumulation_and_resume_exactly() {
    let printed = two_ranks_equal_one_process_and_resume_exactly(&[]);
    // Only rank 0 printed (and wrote).
    assert_eq!(printed.matches("run folder").count(), 1, "{printed}");
}

#[test]
fn two_sharded_ranks_equal_one_process_and_resume_exactly() {
    // The optimizer state is gathered into one process's file.
    let printed = two_ranks_equal_one_process_and_resume_exactly(&["--zero", "1"]);
    assert!(printed.contains("optimizer state sharded across the ranks (ZeRO-1): "), "{printed}");
}

#[test]
fn ranks_started_with_other_settings_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let data = text(dir.path());
    let out = dir.path().join("run");
    let base = with(small(&data), &["--out", out.to_str().unwrap()]);
    let output = mpirun(&[with(base.clone(), &["--lr", "1e-3"]), with(base, &["--lr", "2e-3"])]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success() && stderr.contains("was started with other settings or data"), "{stderr}");
}

#[test]
fn a_rank_that_fails_ends_the_others() {
    let dir = tempfile::tempdir().unwrap();
    let data = text(dir.path());
    let out = dir.path().join("run");
    let good = with(small(&data), &["--out", out.to_str().unwrap()]);
    let bad = with(small(&dir.path().join("missing.txt")), &["--out", out.to_str().unwrap()]);
    let started = Instant::now();
    let output = mpirun(&[good, bad]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success() && stderr.contains("error on rank 1 of 2"), "{stderr}");
    assert!(started.elapsed() < Duration::from_secs(60), "rank 0 waited {:?}", started.elapsed());
}

/// The processes whose parent is `parent` (from /proc).
fn children(parent: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else { return Vec::new() };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            // `pid (comm) state ppid …`: the fields after the last ')'.
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
            after.split_whitespace().nth(1).and_then(|p| p.parse::<u32>().ok()) == Some(parent)
        })
        .collect()
}

#[test]
fn a_killed_rank_ends_the_others() {
    let dir = tempfile::tempdir().unwrap();
    let data = text(dir.path());
    let out = dir.path().join("run");
    let long = with(small_for(&data, 1_000_000), &["--out", out.to_str().unwrap()]);
    let mut cmd = Command::new("mpirun");
    cmd.args(["--allow-run-as-root", "--oversubscribe", "-np", "2", EMERGENT]).args(&long);
    let mut mpirun = cmd.stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null()).spawn().unwrap();
    // Both ranks training (rank 0 has written the run's config), then one killed outright.
    let started = Instant::now();
    let ranks = loop {
        let ranks = children(mpirun.id());
        if ranks.len() == 2 && out.join("config.json").exists() {
            break ranks;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "the ranks did not start: {ranks:?}");
        std::thread::sleep(Duration::from_millis(100));
    };
    std::thread::sleep(Duration::from_millis(500));
    Command::new("kill").arg("-9").arg(ranks[1].to_string()).status().unwrap();
    let killed = Instant::now();
    let status = loop {
        if let Some(status) = mpirun.try_wait().unwrap() {
            break status;
        }
        if killed.elapsed() > Duration::from_secs(60) {
            let _ = mpirun.kill();
            for pid in children(mpirun.id()) {
                let _ = Command::new("kill").arg("-9").arg(pid.to_string()).status();
            }
            panic!("the surviving rank still ran 60 s after the other was killed");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(!status.success(), "mpirun reported success after a rank was killed");
    assert!(children(mpirun.id()).is_empty(), "a rank outlived mpirun");
}
