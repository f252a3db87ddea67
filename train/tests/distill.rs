//! `emergent distill`: with α = 0 the teacher has no say and the distilled student is bit for bit
//! the student trained alone; with α > 0 it is not; a teacher of other data is refused.

mod common;

use common::emergent;
use std::path::Path;

fn weights(run: &Path) -> Vec<u8> {
    let dir = train::trainer::checkpoint_dir(run).unwrap();
    std::fs::read(dir.join("model.safetensors")).unwrap()
}

const STUDENT: [&str; 10] = ["--task", "add2", "--n-layer", "1", "--n-head", "2", "--n-embd", "16", "--steps", "10"];

#[test]
fn distillation_against_the_student_alone() {
    let tmp = tempfile::tempdir().unwrap();
    let [teacher, a0, a5, mul, bad] =
        ["teacher", "a0", "a5", "mul", "bad"].map(|n| tmp.path().join(n).to_str().unwrap().to_string());
    let teacher_run = ["train", "--task", "add2", "--n-layer", "1", "--n-head", "2", "--n-embd", "32", "--steps", "20"];
    emergent(&[&teacher_run[..], &["--out", &teacher]].concat()).unwrap();
    let distill = |alpha: &str, out: &str| {
        emergent(&[&["distill", "--teacher", &teacher, "--alpha", alpha, "--out", out], &STUDENT[..]].concat())
    };

    let printed = distill("0", &a0).unwrap();
    assert!(printed.contains("| teacher |") && printed.contains("| distilled student | 10 |"), "{printed}");
    let a0 = Path::new(&a0);
    assert_eq!(weights(&a0.join("distilled")), weights(&a0.join("alone")));
    assert!(a0.join("distill.png").exists() && a0.join("report.md").exists());

    distill("0.5", &a5).unwrap();
    let a5 = Path::new(&a5);
    assert_ne!(weights(&a5.join("distilled")), weights(&a5.join("alone")));
    // The student alone is the same run in both comparisons.
    assert_eq!(weights(&a5.join("alone")), weights(&a0.join("alone")));
    // Running the command again reuses the finished runs.
    distill("0.5", a5.to_str().unwrap()).unwrap();

    let err =
        emergent(&["distill", "--teacher", &teacher, "--task", "mul2", "--steps", "2", "--out", &mul]).unwrap_err();
    assert!(err.contains("tokenizer"), "{err}");
    assert!(distill("2", &bad).unwrap_err().contains("alpha"));
    // Same alphabet, longer rows: the add2 teacher's context cannot cover 4-digit problems.
    let err =
        emergent(&["distill", "--teacher", &teacher, "--task", "add4", "--steps", "2", "--out", &bad]).unwrap_err();
    assert!(err.contains("context of 8 tokens") && err.contains("(14)"), "{err}");
    let err = emergent(&["distill", "--teacher", &teacher, "--resume", &teacher]).unwrap_err();
    assert!(err.contains("run the same command again"), "{err}");
}
