//! `emergent translate-train` and `emergent translate`: a small encoder-decoder learns to write
//! numbers in words; the run folder, the report and both decoders from the command line.

mod common;

use common::emergent;
use tensor::Device;
use train::translate::{run_translate_train, TranslateConfig};

#[test]
fn a_small_transformer_learns_to_write_numbers_in_words() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = TranslateConfig { steps: 600, eval_interval: 300, held_out: 100, ..TranslateConfig::default() };
    let summary = run_translate_train(&cfg, dir.path(), Device::Cpu, false).unwrap();
    assert!(summary.greedy.exact_match >= 0.5, "greedy exact match {}", summary.greedy.exact_match);
    assert!(summary.greedy.bleu >= 0.8, "BLEU {}", summary.greedy.bleu);
    assert!(summary.beam.bleu >= 0.8, "beam BLEU {}", summary.beam.bleu);
    // Exact matches are perfect ROUGE-1 pairs, so ROUGE-1 F is at least the exact-match share.
    assert!(summary.greedy.rouge1 >= summary.greedy.exact_match - 1e-12);
    for file in
        ["config.json", "metrics.jsonl", "translate.png", "report.md", "model/vocab.json", "model/model.safetensors"]
    {
        assert!(dir.path().join(file).exists(), "{file}");
    }
    let run = dir.path().to_str().unwrap();
    let greedy = emergent(&["translate", "--checkpoint", run, "7", "40517"]).unwrap();
    assert!(greedy.starts_with("7\t"), "{greedy}");
    assert_eq!(greedy.lines().count(), 2);
    let beam = emergent(&["translate", "--checkpoint", run, "--beam", "3", "120"]).unwrap();
    assert_eq!(beam.lines().count(), 3, "{beam}");
    assert!(beam.contains("log P ="));
    let err = emergent(&["translate", "--checkpoint", run, "1000000"]).unwrap_err();
    assert!(err.contains("0 to 999999"), "{err}");
    let err = emergent(&["translate", "--checkpoint", "no/such/run", "5"]).unwrap_err();
    assert!(err.contains("no/such/run"), "{err}");
    // A model folder whose vocabulary is not the task's is refused by name.
    let model = dir.path().join("model");
    let vocab: Vec<String> = serde_json::from_str(&std::fs::read_to_string(model.join("vocab.json")).unwrap()).unwrap();
    let renamed: Vec<String> =
        vocab.iter().map(|t| if t == "thousand" { "million".into() } else { t.clone() }).collect();
    std::fs::write(model.join("vocab.json"), serde_json::to_string(&renamed).unwrap()).unwrap();
    let err = emergent(&["translate", "--checkpoint", run, "5"]).unwrap_err();
    assert!(err.contains("thousand") && err.contains("vocab.json"), "{err}");
    let err = emergent(&["translate-train", "--d-model", "30", "--n-head", "4", "--out", run]).unwrap_err();
    assert!(err.contains("multiple of the heads"), "{err}");
}
