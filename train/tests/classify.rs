//! `emergent classify`: a small BERT learns the built-in reviews (negation, "but"); TSV files with
//! three labels; clear errors for bad data and settings.

mod common;

use common::{emergent, emergent_line};
use tensor::Device;
use train::bert::classify::{run_classify, ClassifyConfig};

/// The share of test examples right, read from the report's table.
fn test_accuracy(report: &str) -> f64 {
    let row = report.lines().find(|l| l.starts_with("| test |")).expect("a test row");
    row.split('|').nth(2).unwrap().trim().trim_end_matches('%').parse::<f64>().unwrap() / 100.0
}

#[test]
fn a_small_bert_learns_the_generated_reviews() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = ClassifyConfig { generated: 2000, epochs: 6, ..ClassifyConfig::default() };
    let summary = run_classify(&cfg, dir.path(), Device::Cpu, false).unwrap();
    let test = summary.test.as_ref().unwrap();
    // Negation and "but" flip the meaning of the same words, so this needs word order.
    assert!(test.accuracy >= 0.9, "test accuracy {}", test.accuracy);
    assert_eq!(test_accuracy(&summary.report), (test.accuracy * 1e4).round() / 1e4);
    for file in ["config.json", "metrics.jsonl", "classify.png", "report.md", "vocab.txt", "data/train.tsv"] {
        assert!(dir.path().join(file).exists(), "{file}");
    }
    for file in ["config.json", "model.safetensors", "vocab.txt", "labels.json"] {
        assert!(dir.path().join("best").join(file).exists(), "best/{file}");
    }
    // The kept model is the one with the best dev loss that metrics.jsonl logged.
    let log = std::fs::read_to_string(dir.path().join("metrics.jsonl")).unwrap();
    let best = log
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["dev_loss"].as_f64().unwrap())
        .fold(f64::INFINITY, f64::min);
    assert!((best - summary.dev_loss).abs() < 1e-6, "{best} vs {}", summary.dev_loss);
}

#[test]
fn tsv_files_with_three_labels_and_bad_inputs() {
    let dir = tempfile::tempdir().unwrap();
    let p = |n: &str| dir.path().join(n).to_str().unwrap().to_string();
    let rows: String = (0..60)
        .map(|i| format!("item {} is {}\t{}\n", i, ["red", "green", "blue"][i % 3], ["r", "g", "b"][i % 3]))
        .collect();
    std::fs::write(p("train.tsv"), format!("text\tlabel\n{rows}")).unwrap();
    std::fs::write(p("test.tsv"), "item 99 is red\tr\nitem 98 is blue\tb\n").unwrap();
    let printed = emergent_line(&format!(
        "classify --train {} --test {} --epochs 1 --n-embd 16 --n-head 2 --n-layer 1 --out {}",
        p("train.tsv"),
        p("test.tsv"),
        p("run")
    ))
    .unwrap();
    for class in ["| b |", "| g |", "| r |", "| dev |", "| test |"] {
        assert!(printed.contains(class), "{class} in {printed}");
    }
    let base = ["classify", "--train", &p("train.tsv"), "--epochs", "1", "--out", &p("bad")];
    let err = emergent(&[&base[..], &["--single-logit"]].concat()).unwrap_err();
    assert!(err.contains("exactly two labels"), "{err}");
    std::fs::write(p("dev.tsv"), "item 1 is pink\tp\n").unwrap();
    let err = emergent(&[&base[..], &["--dev", &p("dev.tsv")]].concat()).unwrap_err();
    assert!(err.contains("\"p\"") && err.contains("dev.tsv"), "{err}");
    std::fs::write(p("one.tsv"), "a\tx\nb\tx\n").unwrap();
    let err = emergent(&["classify", "--train", &p("one.tsv"), "--out", &p("bad")]).unwrap_err();
    assert!(err.contains("at least two labels"), "{err}");
    assert!(emergent(&["classify", "--dev", &p("dev.tsv")]).is_err(), "--dev without --train");
    let err = emergent(&["classify", "--max-len", "2", "--out", &p("bad")]).unwrap_err();
    assert!(err.contains("max length"), "{err}");
}
