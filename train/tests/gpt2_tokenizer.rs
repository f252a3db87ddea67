//! Our GPT-2 tokenizer against ids made by HF tokenizers from the real GPT-2 vocabulary
//! (`fixtures/make_tokenizer_fixtures.py` wrote `tests/fixtures/gpt2_tokenizer.json`).
//!
//! The vocabulary files are not in the repository: set `GPT2_VOCAB_DIR` to a folder with
//! `vocab.json` and `merges.txt` (`.ci/run` uses `../shared/data/gpt2`) and run with `--ignored`.

use std::path::PathBuf;
use train::tokenizer::{Gpt2Tokenizer, Tokenizer};

fn tokenizer() -> Gpt2Tokenizer {
    let dir = std::env::var("GPT2_VOCAB_DIR")
        .expect("set GPT2_VOCAB_DIR to the folder with GPT-2's vocab.json and merges.txt");
    Gpt2Tokenizer::load(&PathBuf::from(dir)).unwrap()
}

fn cases() -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string("tests/fixtures/gpt2_tokenizer.json").unwrap()).unwrap()
}

#[test]
#[ignore = "needs GPT2_VOCAB_DIR (GPT-2's vocab.json + merges.txt)"]
fn encode_matches_hf_tokenizers() {
    let tok = tokenizer();
    assert_eq!(tok.vocab_size(), 50257);
    for case in cases()["encode"].as_array().unwrap() {
        let text = case["text"].as_str().unwrap();
        let want: Vec<u32> = serde_json::from_value(case["ids"].clone()).unwrap();
        let got = tok.encode(text).unwrap();
        assert_eq!(got, want, "ids of {text:?}");
        assert_eq!(tok.decode(&got).unwrap(), text, "round trip of {text:?}");
    }
}

#[test]
#[ignore = "needs GPT2_VOCAB_DIR (GPT-2's vocab.json + merges.txt)"]
fn decode_matches_hf_tokenizers_including_invalid_utf8() {
    let tok = tokenizer();
    for case in cases()["decode"].as_array().unwrap() {
        let ids: Vec<u32> = serde_json::from_value(case["ids"].clone()).unwrap();
        assert_eq!(tok.decode(&ids).unwrap(), case["text"].as_str().unwrap(), "text of {ids:?}");
    }
    assert!(tok.decode(&[50257]).unwrap_err().to_string().contains("not in the vocabulary"));
}
