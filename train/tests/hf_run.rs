//! A checkpoint folder written by `emergent train` against HF transformers + tokenizers and PyTorch:
//! the fixture (fixtures/make_hf_run_fixtures.py) keeps such a folder's HF files, which
//! `GPT2LMHeadModel.from_pretrained` / `AutoTokenizer.from_pretrained` loaded unchanged, with the
//! ids, logits and llm.c-style HellaSwag scores PyTorch computed on it. (Its learned BPE is stored
//! as one JSON file holding the texts of its `vocab.json` and `merges.txt`, which each test writes
//! back into the folder it assembles.)

mod common;

use common::emergent;
use model::load_language_model;
use serde_json::Value;
use std::collections::BTreeMap;
use std::ops::Deref;
use std::path::Path;
use tensor::{DType, Tensor};
use train::scores::{read_hellaswag, score_endings, tokenize_item};
use train::trainer::load_tokenizer;

const FIXTURE: &str = "tests/fixtures/hf_run";

/// The checkpoint folder HF loaded, assembled in a temporary folder (removed when this is dropped).
struct Checkpoint(tempfile::TempDir);

impl Deref for Checkpoint {
    type Target = Path;
    fn deref(&self) -> &Path {
        self.0.path()
    }
}

fn checkpoint() -> Checkpoint {
    let dir = tempfile::tempdir().unwrap();
    let fixture = Path::new(FIXTURE);
    for name in ["config.json", "model.safetensors"] {
        std::fs::copy(fixture.join("checkpoint").join(name), dir.path().join(name)).unwrap();
    }
    let bpe: BTreeMap<String, String> =
        serde_json::from_str(&std::fs::read_to_string(fixture.join("tokenizer/learned_bpe.json")).unwrap()).unwrap();
    assert_eq!(bpe.keys().collect::<Vec<_>>(), ["merges.txt", "vocab.json"]);
    for (name, text) in bpe {
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    Checkpoint(dir)
}

fn expected() -> Value {
    serde_json::from_str(&std::fs::read_to_string(Path::new(FIXTURE).join("expected.json")).unwrap()).unwrap()
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect()
}

/// `emergent eval --hellaswag FILE --predictions PREDICTIONS` on the fixture checkpoint.
fn eval_hellaswag(file: &Path, predictions: &Path) -> Result<String, String> {
    let s = |p: &Path| p.to_str().unwrap().to_string();
    emergent(&["eval", "--checkpoint", &s(&checkpoint()), "--hellaswag", &s(file), "--predictions", &s(predictions)])
}

fn close(a: f64, b: f64, tol: f64) -> bool {
    (a - b).abs() <= tol * (1.0 + b.abs())
}

#[test]
fn the_folder_hf_loaded_gives_hfs_ids_and_logits() {
    let want = expected();
    let model = load_language_model(&checkpoint(), DType::F32).unwrap();
    let tokenizer = load_tokenizer(&checkpoint(), None).unwrap();
    let ids = tokenizer.encode(want["probe_text"].as_str().unwrap()).unwrap();
    let want_ids: Vec<u32> = want["ids"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap() as u32).collect();
    assert_eq!(ids, want_ids, "ids differ from HF's GPT2Tokenizer");
    let x = Tensor::from_vec(ids.iter().map(|&i| i64::from(i)).collect(), &[1, ids.len()]).unwrap();
    let logits: Vec<f32> = autograd::no_grad(|| model.logits(&x, None)).unwrap().value().to_vec().unwrap();
    let reference: Vec<f64> = want["logits"].as_array().unwrap().iter().flat_map(floats).collect();
    assert_eq!(logits.len(), reference.len());
    let worst = logits.iter().zip(&reference).map(|(&a, &b)| (f64::from(a) - b).abs()).fold(0.0, f64::max);
    assert!(worst <= 1e-4, "logits differ from HF's by up to {worst}");
}

/// What a fresh run writes keeps the layout HF loaded: the same files, config keys and values (but the
/// learned numbers), and tensors of the same names, shapes and dtype.
#[test]
fn a_new_checkpoint_folder_has_the_layout_hf_loaded() {
    let dir = tempfile::tempdir().unwrap();
    let text = dir.path().join("text.txt");
    std::fs::write(&text, "The cat sat on the mat. A dog ran to the park.\n".repeat(40)).unwrap();
    let run = dir.path().join("run");
    let s = |p: &Path| p.to_str().unwrap().to_string();
    emergent(&[
        "train",
        "--data",
        &s(&text),
        "--tokenizer",
        "gpt2",
        "--vocab",
        &s(&checkpoint()),
        "--n-layer",
        "2",
        "--n-head",
        "2",
        "--n-embd",
        "32",
        "--block-size",
        "32",
        "--batch-size",
        "2",
        "--steps",
        "2",
        "--out",
        &s(&run),
    ])
    .unwrap();
    let written = std::fs::read_dir(run.join("checkpoints")).unwrap().map(|e| e.unwrap().path()).max().unwrap();
    for file in ["config.json", "model.safetensors", "vocab.json", "merges.txt", "emergent_tokenizer.json"] {
        assert!(written.join(file).exists(), "{file} missing from {}", written.display());
    }
    assert!(!written.join("tokenizer.json").exists(), "HF's tokenizer.json name is HF's format only");
    let config = |d: &Path| -> BTreeMap<String, Value> {
        serde_json::from_str(&std::fs::read_to_string(d.join("config.json")).unwrap()).unwrap()
    };
    assert_eq!(config(&written), config(&checkpoint()));
    let layout = |d: &Path| -> Vec<(String, Vec<usize>, DType)> {
        let mut t: Vec<_> = model::checkpoint::read_safetensors(&d.join("model.safetensors"))
            .unwrap()
            .into_iter()
            .map(|(name, t)| (name, t.shape().to_vec(), t.dtype()))
            .collect();
        t.sort_by(|a, b| a.0.cmp(&b.0));
        t
    };
    assert_eq!(layout(&written), layout(&checkpoint()));
    for file in ["vocab.json", "merges.txt"] {
        assert_eq!(std::fs::read(written.join(file)).unwrap(), std::fs::read(checkpoint().join(file)).unwrap());
    }
}

#[test]
fn hellaswag_scores_and_predictions_are_pytorchs() {
    let want = expected();
    let dir = tempfile::tempdir().unwrap();
    let predictions = dir.path().join("p.jsonl");
    let file = Path::new(FIXTURE).join("hellaswag_small.jsonl");
    let printed = eval_hellaswag(&file, &predictions).unwrap();
    let items = read_hellaswag(&file).unwrap();
    let lines: Vec<Value> =
        std::fs::read_to_string(&predictions).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), items.len());
    let argmin = |v: &[f64]| (0..4).min_by(|&a, &b| v[a].total_cmp(&v[b])).unwrap();
    let (mut acc, mut acc_norm) = (0, 0);
    for ((line, reference), item) in lines.iter().zip(want["hellaswag"].as_array().unwrap()).zip(&items) {
        let (sum, mean) = (floats(&reference["sum"]), floats(&reference["mean"]));
        for (got, want) in
            floats(&line["sum_loss"]).iter().zip(&sum).chain(floats(&line["mean_loss"]).iter().zip(&mean))
        {
            assert!(close(*got, *want, 1e-5), "item {}: {got} vs PyTorch's {want}", line["index"]);
        }
        assert_eq!(line["predicted"].as_u64().unwrap() as usize, argmin(&sum));
        assert_eq!(line["predicted_norm"].as_u64().unwrap() as usize, argmin(&mean));
        assert_eq!(line["label"].as_u64().unwrap() as usize, item.label);
        acc += usize::from(argmin(&sum) == item.label);
        acc_norm += usize::from(argmin(&mean) == item.label);
    }
    let n = items.len();
    assert!(printed.contains(&format!("({acc}/{n})")) && printed.contains(&format!("({acc_norm}/{n})")), "{printed}");
}

/// A row longer than the context keeps its last `context + 1` tokens: the padded, batched scoring
/// equals each truncated row scored alone through the model's own cross-entropy.
#[test]
fn long_rows_are_cut_from_the_left_and_score_as_alone() {
    let model = load_language_model(&checkpoint(), DType::F32).unwrap();
    let tokenizer = load_tokenizer(&checkpoint(), None).unwrap();
    let item = train::scores::HellaSwagItem {
        ctx: "The cat sat on the mat. A dog ran to the park. The old man painted the door. Her sister".into(),
        endings: ["found a small garden.", "ran.", "looked at the river and the kitchen and the car.", "sat"]
            .map(String::from),
        label: 0,
    };
    let (ctx, endings) = tokenize_item(&item, tokenizer.as_ref()).unwrap();
    let context = model.max_positions().unwrap();
    assert!(ctx.len() + endings[2].len() > context + 1, "the item must overflow the context");
    let scores = score_endings(model.as_ref(), &ctx, &endings).unwrap();
    for (i, ending) in endings.iter().enumerate() {
        let row: Vec<i64> = ctx.iter().chain(ending).map(|&id| i64::from(id)).collect();
        let row = &row[row.len().saturating_sub(context + 1)..];
        let n = row.len() - 1;
        let targets: Vec<i64> =
            (1..row.len()).map(|p| if p + ending.len() >= row.len() { row[p] } else { -100 }).collect();
        let x = Tensor::from_vec(row[..n].to_vec(), &[1, n]).unwrap();
        let loss = autograd::no_grad(|| {
            let logits = model.logits(&x, None)?;
            model.loss(&logits, &Tensor::from_vec(targets, &[1, n])?)
        })
        .unwrap();
        let sum = loss.value().to_scalar().unwrap() * ending.len() as f64;
        assert!(close(scores.sum[i], sum, 1e-5), "ending {i}: {} vs {sum}", scores.sum[i]);
        assert!(close(scores.mean[i], sum / ending.len() as f64, 1e-5));
    }
}

#[test]
fn bad_hellaswag_input_is_named_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let predictions = dir.path().join("p.jsonl");
    let long_ending = "the cat sat on the mat ".repeat(20);
    for (line, says) in [
        (r#"{"ctx": "A dog", "endings": ["a", "b", "c"], "label": 0}"#.to_string(), "3 endings"),
        (r#"{"ctx": "A dog", "endings": ["a", "b", "c", "d"], "label": 7}"#.to_string(), "label 7"),
        (format!(r#"{{"ctx": "A dog", "endings": ["{long_ending}", "b", "c", "d"], "label": 0}}"#), "context holds 32"),
        (r#"{"ctx": "", "endings": ["a", "b", "c", "d"], "label": 0}"#.to_string(), "empty context"),
    ] {
        let file = dir.path().join("h.jsonl");
        std::fs::write(&file, format!("{line}\n")).unwrap();
        let err = eval_hellaswag(&file, &predictions).unwrap_err();
        assert!(err.contains(says), "{line}: {err}");
        assert!(!predictions.exists(), "a failed evaluation left {}", predictions.display());
    }
}

/// `sample` past the context (32 here) gives every token asked for; `--stop-at-eot` ends the same
/// text at the first `<|endoftext|>`.
#[test]
fn sampling_goes_past_the_context_and_can_stop_at_end_of_text() {
    let c = checkpoint();
    let tokenizer = load_tokenizer(&c, None).unwrap();
    let sample = |seed: &str, stop: bool| {
        let mut args = vec!["sample", "--checkpoint", c.to_str().unwrap(), "--prompt", "The cat", "--tokens", "120"];
        args.extend(["--temperature", "3", "--seed", seed]);
        if stop {
            args.push("--stop-at-eot");
        }
        emergent(&args).unwrap().strip_suffix('\n').unwrap().to_string()
    };
    let mut stopped_early = 0;
    for seed in 0..6 {
        let (full, stopped) = (sample(&seed.to_string(), false), sample(&seed.to_string(), true));
        assert!(tokenizer.encode(&full).unwrap().len() >= 100, "{full:?}");
        assert!(full.starts_with(&stopped), "seed {seed}: {stopped:?} is not the start of {full:?}");
        if stopped.len() < full.len() {
            assert!(full[stopped.len()..].starts_with("<|endoftext|>"), "{full:?}");
            assert!(!stopped["The cat".len()..].contains("<|endoftext|>"));
            stopped_early += 1;
        }
    }
    assert!(stopped_early > 0, "no sample reached <|endoftext|>: the test shows nothing");
}
