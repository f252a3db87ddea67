//! Training from token shards: `emergent prepare` writes them, `train --data` reads them (llm.c's
//! format), and a resumed run is bit-identical to an uninterrupted one.

mod common;

use common::emergent;
use std::path::{Path, PathBuf};
use train::data::shards::{write_shard, Shard};
use train::trainer::{DataConfig, TrainConfig, Trainer};

fn p(path: &Path) -> String {
    path.to_str().unwrap().to_string()
}

/// A small BPE vocabulary and shards of text tokenised with it.
fn prepared(dir: &Path) -> (PathBuf, PathBuf) {
    let vocab = dir.join("vocab");
    let corpus = "the cat sat on the mat. a dog ran to the cat.\n\nthe end.\n\n".repeat(60);
    train::tokenizer::train_bpe(&corpus, 40, &vocab).unwrap();
    let text = dir.join("corpus.txt");
    std::fs::write(&text, &corpus).unwrap();
    let shards = dir.join("shards");
    let args = ["prepare", &p(&text), "--vocab", &p(&vocab), "--out", &p(&shards), "--name", "cats"];
    let printed = emergent(&[&args[..], &["--val-tokens", "300", "--shard-tokens", "500"]].concat()).unwrap();
    // 2 sections a repeat, and after the closing "\n\n" an empty last one (as Python's split).
    assert!(printed.contains("121 documents") && printed.contains("cats_train_000001.bin"), "{printed}");
    (vocab, shards)
}

fn config(shards: &Path, vocab: &Path, steps: u64) -> TrainConfig {
    TrainConfig {
        data: DataConfig::Shards { path: shards.to_path_buf(), vocab: vocab.to_path_buf() },
        n_layer: 1,
        n_head: 2,
        n_embd: 16,
        block_size: 16,
        batch_size: 4,
        steps,
        eval_interval: 5,
        eval_batches: 2,
        ..TrainConfig::default()
    }
}

fn weights(t: &Trainer) -> Vec<Vec<u32>> {
    t.model
        .params()
        .iter()
        .map(|(_, v)| v.value().to_vec::<f32>().unwrap().iter().map(|x| x.to_bits()).collect())
        .collect()
}

#[test]
fn a_run_on_shards_resumes_bit_identically() {
    let dir = tempfile::tempdir().unwrap();
    let (vocab, shards) = prepared(dir.path());
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    let mut straight = Trainer::new(config(&shards, &vocab, 20), &a, None).unwrap();
    let summary = straight.run(None).unwrap();
    assert!(summary.val_loss.unwrap().is_finite());
    let mut first = Trainer::new(config(&shards, &vocab, 20), &b, None).unwrap();
    first.run(Some(10)).unwrap();
    drop(first);
    let mut resumed = Trainer::resume(&b, None, None).unwrap();
    resumed.run(None).unwrap();
    assert_eq!(weights(&straight), weights(&resumed));
}

#[test]
fn train_takes_a_shard_folder_or_glob_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let (vocab, shards) = prepared(dir.path());
    let out = p(&dir.path().join("run"));
    let flags = "--n-layer 1 --n-head 2 --n-embd 16 --block-size 16 --batch-size 4 --steps 4 --eval-interval 4";
    let mut args = vec!["train", "--out", &out];
    args.extend(flags.split_whitespace());
    let glob = p(&shards.join("cats_*.bin"));
    let printed = emergent(&[&args[..], &["--data", &glob, "--vocab", &p(&vocab)]].concat()).unwrap();
    assert!(printed.contains("validation loss"), "{printed}");
    // eval scores the validation shard by default, the training shards on request.
    for (split, part, tokens) in [("val", "validation", 288), ("train", "training", 1072)] {
        let printed = emergent(&["eval", "--checkpoint", &out, "--data", &glob, "--split", split]).unwrap();
        assert!(printed.contains(&format!("{tokens} tokens of the {part} part")), "{printed}");
    }
    let e = emergent(&[&args[..], &["--data", &p(&shards)]].concat()).unwrap_err();
    assert!(e.contains("shards hold GPT-2 token ids; give --vocab"), "{e}");
}

#[test]
fn a_token_id_outside_the_vocabulary_is_refused_before_training() {
    let dir = tempfile::tempdir().unwrap();
    let (vocab, shards) = prepared(dir.path());
    write_shard(&shards.join("cats_train_000009.bin"), &[1, 2, 60000, 3]).unwrap();
    let out = dir.path().join("run");
    let e = Trainer::new(config(&shards, &vocab, 4), &out, None).err().unwrap().to_string();
    assert!(e.contains("token id 60000 is outside the vocabulary"), "{e}");
    assert!(!out.exists());
}

#[test]
#[ignore = "needs GPT2_VOCAB_DIR (GPT-2's vocab.json + merges.txt) and TINYSHAKESPEARE (the text)"]
fn tiny_shakespeare_prepares_to_the_shards_llm_c_writes() {
    let vocab = std::env::var("GPT2_VOCAB_DIR").expect("GPT2_VOCAB_DIR");
    let text = std::env::var("TINYSHAKESPEARE").expect("TINYSHAKESPEARE");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("shards");
    let args = ["prepare", &text, "--vocab", &vocab, "--out", &p(&out), "--name", "tiny_shakespeare"];
    emergent(&[&args[..], &["--val-tokens", "32768"]].concat()).unwrap();
    // llm.c's dev/data/tinyshakespeare.py prints: 32,768 tokens to tiny_shakespeare_val.bin (66,560
    // bytes) and 305,260 tokens to tiny_shakespeare_train.bin (611,544 bytes).
    for (name, tokens, bytes) in
        [("tiny_shakespeare_val_000000.bin", 32_768, 66_560), ("tiny_shakespeare_train_000001.bin", 305_260, 611_544)]
    {
        let path = out.join(name);
        assert_eq!(std::fs::metadata(&path).unwrap().len(), bytes, "{name}");
        let shard = Shard::open(&path).unwrap();
        assert_eq!(shard.len(), tokens, "{name}");
    }
    // The first document: <|endoftext|> then "First Citizen:" as GPT-2 writes it.
    let val = Shard::open(&out.join("tiny_shakespeare_val_000000.bin")).unwrap();
    assert_eq!((0..4).map(|i| val.token(i)).collect::<Vec<_>>(), [50256, 5962, 22307, 25]);
}

#[test]
fn a_checkpoint_carries_its_vocabulary_and_a_bare_hf_folder_samples() {
    let dir = tempfile::tempdir().unwrap();
    let (vocab, shards) = prepared(dir.path());
    let run = dir.path().join("run");
    Trainer::new(config(&shards, &vocab, 2), &run, None).unwrap().run(None).unwrap();
    let checkpoint = train::trainer::latest(&run).unwrap().unwrap();
    for f in ["vocab.json", "merges.txt"] {
        assert_eq!(std::fs::read(checkpoint.join(f)).unwrap(), std::fs::read(vocab.join(f)).unwrap(), "{f}");
    }
    // HF's layout alone: config.json, model.safetensors, vocab.json, merges.txt.
    let bare = dir.path().join("bare");
    std::fs::create_dir_all(&bare).unwrap();
    for f in ["config.json", "model.safetensors", "vocab.json", "merges.txt"] {
        std::fs::copy(checkpoint.join(f), bare.join(f)).unwrap();
    }
    let sample = ["sample", "--checkpoint", &p(&bare), "--prompt", "the cat", "--tokens", "5", "--greedy"];
    let printed = emergent(&sample).unwrap();
    assert!(printed.starts_with("the cat"), "{printed}");
    // Without the two files, --vocab names them.
    std::fs::remove_file(bare.join("vocab.json")).unwrap();
    assert!(emergent(&sample).unwrap_err().contains("give --vocab DIR"));
    assert_eq!(emergent(&[&sample[..], &["--vocab", &p(&vocab)]].concat()).unwrap(), printed);
}
