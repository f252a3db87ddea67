//! `emergent bert-pretrain`: masked-LM + next-sentence pre-training writes a model that
//! `classify --init` fine-tunes; text files of documents are read, bad ones refused.

mod common;

use common::{emergent, emergent_line};

#[test]
fn pretraining_runs_and_its_model_starts_a_classifier() {
    let dir = tempfile::tempdir().unwrap();
    let p = |n: &str| dir.path().join(n).to_str().unwrap().to_string();
    let printed = emergent_line(&format!(
        "bert-pretrain --documents 200 --steps 40 --eval-interval 20 --n-embd 32 --n-layer 1 --out {}",
        p("pre")
    ))
    .unwrap();
    assert!(printed.contains("step 40: validation masked-LM loss"), "{printed}");
    let log = std::fs::read_to_string(dir.path().join("pre/metrics.jsonl")).unwrap();
    let records: Vec<serde_json::Value> = log.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(records.iter().map(|r| r["step"].as_u64().unwrap()).collect::<Vec<_>>(), [20, 40]);
    // Forty steps are enough to beat a uniform guess over the vocabulary (ln V ≈ 5.3 for 200).
    assert!(records[1]["val_mlm_loss"].as_f64().unwrap() < 5.0, "{}", records[1]);
    assert!(dir.path().join("pre/pretrain.png").exists());

    let printed =
        emergent(&["classify", "--init", &p("pre/model"), "--examples", "100", "--epochs", "1", "--out", &p("cls")])
            .unwrap();
    assert!(printed.contains("| test |"), "{printed}");
    // A classifier longer than the pre-trained model's positions (64) is refused, naming both.
    let err = emergent(&["classify", "--init", &p("pre/model"), "--max-len", "100", "--out", &p("bad")]).unwrap_err();
    assert!(err.contains("--max-len 100") && err.contains("64 positions"), "{err}");
    // The classifier reads with the pre-trained vocabulary.
    assert_eq!(
        std::fs::read(dir.path().join("cls/vocab.txt")).unwrap(),
        std::fs::read(dir.path().join("pre/model/vocab.txt")).unwrap()
    );

    std::fs::write(p("docs.txt"), "one sentence\n\nanother lonely one\n").unwrap();
    let err = emergent(&["bert-pretrain", "--data", &p("docs.txt"), "--out", &p("bad")]).unwrap_err();
    assert!(err.contains("at least 4 documents") && err.contains("docs.txt"), "{err}");
    let docs: String = (0..6).map(|d| format!("doc {d} starts here\nand doc {d} goes on\nthen ends\n\n")).collect();
    std::fs::write(p("docs.txt"), docs).unwrap();
    let ok = ["bert-pretrain", "--data", &p("docs.txt"), "--steps", "2", "--eval-interval", "1", "--vocab-size", "60"];
    emergent(&[&ok[..], &["--n-embd", "16", "--n-head", "2", "--n-layer", "1", "--out", &p("file")]].concat()).unwrap();
    let err = emergent(&["bert-pretrain", "--max-len", "4", "--out", &p("bad")]).unwrap_err();
    assert!(err.contains("max length"), "{err}");
    let err = emergent(&["bert-pretrain", "--documents", "1", "--out", &p("bad")]).unwrap_err();
    assert!(err.contains("documents ≥ 4"), "{err}");
}
