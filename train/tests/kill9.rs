//! The fault test: `emergent train` killed with SIGKILL again and again — at random moments, and
//! while it writes a checkpoint — and resumed each time, must end with the weights and the
//! metrics (timings aside) of a run that was never interrupted. `EMERGENT_FAULT_KILLS` sets the
//! number of kills (20 by default; CI runs the default).

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const STEPS: &str = "120";

fn train(run: &Path, resume: bool) -> Child {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_emergent"));
    if resume {
        cmd.args(["train", "--resume", run.to_str().unwrap()]);
    } else {
        let flags = "--task add2 --n-layer 1 --n-head 2 --n-embd 32 --batch-size 16 --dropout 0.1 --eval-interval 4";
        cmd.args(["train", "--out", run.to_str().unwrap(), "--steps", STEPS]).args(flags.split_whitespace());
    }
    cmd.stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap()
}

/// Every tensor of the run's newest checkpoint, by name, as bits.
fn final_weights(run: &Path) -> Vec<(String, Vec<u32>)> {
    let dir = train::trainer::latest(run).unwrap().expect("a checkpoint");
    let tensors = model::checkpoint::read_safetensors(&dir.join("model.safetensors")).unwrap();
    tensors.into_iter().map(|(n, t)| (n, t.to_vec::<f32>().unwrap().iter().map(|x| x.to_bits()).collect())).collect()
}

/// The metrics file without its timings.
fn metrics(run: &Path) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(run.join("metrics.jsonl")).unwrap();
    text.lines()
        .map(|l| {
            let mut v: serde_json::Value = serde_json::from_str(l).expect("every line a whole record");
            let record = v.as_object_mut().unwrap();
            record.remove("tokens_per_s");
            record.remove("elapsed_s");
            v
        })
        .collect()
}

/// A small deterministic source of kill delays.
fn delays(seed: u64) -> impl FnMut(u64) -> u64 {
    let mut state = seed;
    move |below| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state % below
    }
}

#[test]
fn killed_again_and_again_then_resumed_ends_as_an_uninterrupted_run() {
    let kills: usize = std::env::var("EMERGENT_FAULT_KILLS").map_or(20, |v| v.parse().expect("a count"));
    let dir = tempfile::tempdir().unwrap();
    let (straight, faulty) = (dir.path().join("straight"), dir.path().join("faulty"));
    let started = Instant::now();
    assert!(train(&straight, false).wait().unwrap().success());
    let run_ms = started.elapsed().as_millis() as u64;
    let (want_weights, want_metrics) = (final_weights(&straight), metrics(&straight));

    // Rounds of one faulty run each, until enough kills have landed: every kill is followed by a
    // resume (or a fresh start when no checkpoint was written yet), every round must end where
    // the straight run did.
    let mut next = delays(0x5eed_cafe_f00d);
    let (mut killed, mut during_checkpoint, mut starts, mut rounds) = (0, 0, 0, 0);
    while killed < kills {
        let _ = std::fs::remove_dir_all(&faulty);
        rounds += 1;
        loop {
            let resume = train::trainer::latest(&faulty).ok().flatten().is_some();
            let mut child = train(&faulty, resume);
            starts += 1;
            assert!(starts < 100 * kills.max(1), "the runs never finished");
            // Odd kills land while a checkpoint is being written (its .tmp folder exists); even
            // ones at a random moment within the first half of a whole run's time.
            let aim_at_checkpoint = killed % 2 == 1;
            let started = Instant::now();
            let wait = Duration::from_millis(if aim_at_checkpoint { 10 * run_ms } else { next(run_ms / 2 + 1) });
            let mut landed_in_checkpoint = false;
            while killed < kills && started.elapsed() < wait && child.try_wait().unwrap().is_none() {
                if aim_at_checkpoint && checkpoint_being_written(&faulty) {
                    landed_in_checkpoint = true;
                    break;
                }
                std::thread::sleep(Duration::from_micros(100));
            }
            if killed < kills && child.try_wait().unwrap().is_none() {
                child.kill().unwrap(); // SIGKILL
                child.wait().unwrap();
                killed += 1;
                during_checkpoint += usize::from(landed_in_checkpoint);
                continue;
            }
            let output = child.wait_with_output().unwrap();
            assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
            break;
        }
        assert_eq!(final_weights(&faulty), want_weights, "round {rounds}: weights");
        assert_eq!(metrics(&faulty), want_metrics, "round {rounds}: metrics");
    }
    eprintln!("{killed} kills ({during_checkpoint} inside a checkpoint write) over {starts} starts in {rounds} rounds");
    assert!(kills < 2 || during_checkpoint >= 1, "no kill landed inside a checkpoint write");
}

fn checkpoint_being_written(run: &Path) -> bool {
    std::fs::read_dir(run.join("checkpoints"))
        .is_ok_and(|entries| entries.flatten().any(|e| e.file_name().to_string_lossy().ends_with(".tmp")))
}
