//! The LSTM language model through the ordinary commands: `train --lstm`, then `sample` and
//! `eval` read its checkpoint (architecture from config.json).

mod common;

use common::{emergent, emergent_line};

#[test]
fn train_sample_and_eval_an_lstm() {
    let dir = tempfile::tempdir().unwrap();
    let p = |n: &str| dir.path().join(n).to_str().unwrap().to_string();
    std::fs::write(p("text.txt"), "abcabcabd".repeat(200)).unwrap();
    let train = format!(
        "train --data {} --lstm 32 --n-embd 16 --block-size 16 --steps 60 --batch-size 8 --lr 1e-2 \
         --eval-interval 30 --out {}",
        p("text.txt"),
        p("run")
    );
    let printed = emergent_line(&train).unwrap();
    assert!(printed.contains("parameters"), "{printed}");
    let config = std::fs::read_to_string(dir.path().join("run/config.json")).unwrap();
    assert!(config.contains("\"lstm\""), "{config}");
    let sample =
        emergent(&["sample", "--checkpoint", &p("run"), "--prompt", "ab", "--tokens", "7", "--greedy"]).unwrap();
    // The text is a loop of "abc" with a rare "d": the learned continuation is the loop.
    assert!(sample.starts_with("abcab"), "{sample:?}");
    let eval = emergent(&["eval", "--checkpoint", &p("run"), "--data", &p("text.txt"), "--window", "32"]).unwrap();
    let loss: f64 = eval.split("loss=").nth(1).unwrap().split_whitespace().next().unwrap().parse().unwrap();
    // Four characters: ln 4 ≈ 1.39 for a uniform guess; the loop makes most of them certain.
    assert!(loss < 0.8, "eval loss {loss}");
    let err = emergent(&["train", "--data", &p("text.txt"), "--lstm", "0", "--out", &p("bad")]).unwrap_err();
    assert!(err.contains("hidden unit"), "{err}");
}
