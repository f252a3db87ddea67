//! The fuzz targets: every parser of a file or text a user hands emergent, each fed arbitrary
//! bytes. A target passes an input when the parser returns (an error is fine) without a panic,
//! an abort, a hang or an allocation past the memory cap; where a property must hold whatever the
//! input (text decodes back to itself), the target asserts it. Each target also writes its own
//! starting corpus of valid files, made by the project's own writers.

use model::bert::{BertConfig, BertForMaskedLM};
use model::checkpoint::{read_safetensors, write_safetensors};
use model::gpt2::Gpt2Config;
use model::lstm::LstmConfig;
use model::seq2seq::{Seq2SeqConfig, Transformer};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use tensor::{DType, Tensor};
use train::optim::{AdamW, Optimizer};
use train::tokenizer::{train_bpe, train_wordpiece, Gpt2Tokenizer, Tokenizer, WordPieceTokenizer};
use train::trainer::{TrainConfig, TrainerState};

/// Every target, by name.
pub const TARGETS: &[&str] = &[
    "safetensors",
    "config_json",
    "npy",
    "bpe_vocab",
    "wordpiece_vocab",
    "text",
    "run_config",
    "trainer_state",
    "tsv",
    "shard",
];

/// Feeds `data` to `target`'s parser.
pub fn run(target: &str, data: &[u8]) {
    let dir = work_dir();
    match target {
        "safetensors" => safetensors(dir, data),
        "config_json" => config_json(dir, data),
        "npy" => {
            let path = put(dir, "ids.npy", data);
            let _ = train::npy::read_ids(&path);
        }
        "bpe_vocab" => bpe_vocab(dir, data),
        "wordpiece_vocab" => {
            let path = put(dir, "vocab.txt", data);
            if let Ok(tokenizer) = WordPieceTokenizer::load(&path, true) {
                let _ = tokenizer.encode_for_bert("Hello, world: naïve tokens!", Some("a second sentence"));
            }
        }
        "text" => text(&String::from_utf8_lossy(data)),
        "run_config" => {
            if let Ok(cfg) = serde_json::from_slice::<TrainConfig>(data) {
                if train::trainer::validate_config(&cfg).is_ok() {
                    assert!(train::trainer::training_bytes(&cfg, 50257, 1024) >= 0.0);
                }
            }
        }
        "trainer_state" => trainer_state(dir, data),
        "tsv" => {
            let path = put(dir, "data.tsv", data);
            let _ = train::bert::read_tsv(&path);
        }
        "shard" => {
            let path = put(dir, "s_train_000001.bin", data);
            if let Ok(shard) = train::data::shards::Shard::open(&path) {
                let _ = shard.max_token();
                let _ = (0..shard.len().min(64)).map(|i| shard.token(i)).count();
            }
        }
        other => panic!("no fuzz target {other}"),
    }
}

/// A folder of this process's own for the files the parsers read.
fn work_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let base = if Path::new("/dev/shm").is_dir() { PathBuf::from("/dev/shm") } else { std::env::temp_dir() };
        let dir = base.join(format!("emergent-fuzz-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("a work folder");
        dir
    })
}

fn put(dir: &Path, name: &str, data: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, data).expect("the work folder is writable");
    path
}

/// Two files in one input: a little-endian u16 length, the first file, the second.
fn split_two(data: &[u8]) -> (&[u8], &[u8]) {
    let Some((len, rest)) = data.split_first_chunk::<2>() else { return (data, &[]) };
    rest.split_at((u16::from_le_bytes(*len) as usize).min(rest.len()))
}

fn join_two(first: &[u8], second: &[u8]) -> Vec<u8> {
    let len = u16::try_from(first.len()).expect("a seed's first file fits a u16 length");
    [&len.to_le_bytes()[..], first, second].concat()
}

fn safetensors(dir: &Path, data: &[u8]) {
    let path = put(dir, "model.safetensors", data);
    if let Ok(tensors) = read_safetensors(&path) {
        for t in tensors.values() {
            let _ = t.all_finite(); // reads every element, mapped or copied
        }
    }
}

/// A config.json beside a tiny GPT-2's weights, loaded as each architecture's loader does.
fn config_json(dir: &Path, data: &[u8]) {
    static WEIGHTS: OnceLock<Vec<u8>> = OnceLock::new();
    let weights = WEIGHTS.get_or_init(|| {
        let seed = work_dir().join("seed-gpt2");
        model::gpt2::Gpt2::random(Gpt2Config::new(20, 8, 8, 1, 2), 1, DType::F32).unwrap().save(&seed).unwrap();
        std::fs::read(seed.join("model.safetensors")).unwrap()
    });
    put(dir, "model.safetensors", weights);
    let path = put(dir, "config.json", data);
    let _ = Gpt2Config::load(&path).map(|c| c.parameter_count());
    let _ = model::load_language_model(dir, DType::F32);
    let _ = BertConfig::load(&path);
    let _ = BertForMaskedLM::load(dir, DType::F32);
    let _ = Transformer::load(dir);
}

fn bpe_vocab(dir: &Path, data: &[u8]) {
    let (vocab, merges) = split_two(data);
    put(dir, "vocab.json", vocab);
    put(dir, "merges.txt", merges);
    if let Ok(tokenizer) = Gpt2Tokenizer::load(dir) {
        if let Ok(ids) = tokenizer.encode("Hello, world: naïve tokens!\n") {
            let _ = tokenizer.decode(&ids);
        }
    }
}

/// The tokenizers a text meets: GPT-2's byte-level BPE must give the text back exactly, whatever
/// it is; WordPiece and the pre-tokeniser must cover it.
fn text(text: &str) {
    static TOKENIZERS: OnceLock<(Gpt2Tokenizer, WordPieceTokenizer)> = OnceLock::new();
    let (bpe, wordpiece) = TOKENIZERS.get_or_init(|| {
        let dir = work_dir().join("seed-tokenizers");
        let corpus = "the cat sat on the mat. The cats' 42 hats, naïve café — 猫!\n".repeat(20);
        let bpe = train_bpe(&corpus, 60, &dir).unwrap();
        let wordpiece = train_wordpiece(&corpus, 120, true, &dir.join("vocab.txt")).unwrap();
        (bpe, wordpiece)
    });
    assert_eq!(train::tokenizer::pretokenize(text).concat(), text, "pre-tokens cover the text");
    let ids = bpe.encode(text).expect("every byte has a token");
    assert_eq!(bpe.decode(&ids).expect("ids decode"), text, "BPE gives the text back");
    let _ = wordpiece.encode_for_bert(text, Some(text));
}

/// trainer.json and optimizer.safetensors, read as a resume reads them.
fn trainer_state(dir: &Path, data: &[u8]) {
    let (state, optimizer) = split_two(data);
    put(dir, "trainer.json", state);
    put(dir, "optimizer.safetensors", optimizer);
    if let Ok((state, tensors)) = train::trainer::load_state(dir) {
        let mut adamw = AdamW::new(tensor::AdamWConfig::default());
        let _ = adamw.load_state(tensors, state.optimizer_steps);
    }
}

/// Writes the starting corpus of `target` into `dir`: valid files, made by the project's writers.
pub fn write_seeds(target: &str, dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let scratch = dir.join(".scratch");
    std::fs::create_dir_all(&scratch)?;
    let seeds: Vec<(String, Vec<u8>)> = match target {
        "safetensors" => {
            let path = scratch.join("t.safetensors");
            let tensors = [
                ("w".to_string(), Tensor::from_vec(vec![1.5f32, -2.0, 0.25, 4.0, 5.0, 6.0], &[2, 3]).unwrap()),
                ("ids".to_string(), Tensor::from_vec(vec![3i64, 1, 4], &[3]).unwrap()),
                ("h".to_string(), Tensor::from_vec(vec![1.0f32; 4], &[4]).unwrap().to_dtype(DType::BF16)),
            ];
            write_safetensors(&path, &tensors, None).unwrap();
            vec![("three.safetensors".into(), std::fs::read(&path)?)]
        }
        "config_json" => {
            let lstm = serde_json::to_vec_pretty(&LstmConfig::new(20, 8, 16)).unwrap();
            let seq2seq = serde_json::to_vec_pretty(&Seq2SeqConfig::new(20, 8, 2, 1, 16, [0, 1, 2])).unwrap();
            vec![
                ("gpt2.json".into(), Gpt2Config::new(20, 8, 8, 1, 2).to_json().into_bytes()),
                ("bert.json".into(), serde_json::to_vec_pretty(&BertConfig::new(20, 8, 1, 2, 16)).unwrap()),
                ("lstm.json".into(), lstm),
                ("seq2seq.json".into(), seq2seq),
            ]
        }
        "npy" => {
            let path = scratch.join("ids.npy");
            let ids = Tensor::from_vec(vec![1f32, 2.0, 3.0, 4.0], &[2, 2]).unwrap();
            train::npy::write_f32(&path, &ids).unwrap();
            let f32_file = std::fs::read(&path)?;
            // The same header declaring int64 ids, with their bytes.
            let text = String::from_utf8_lossy(&f32_file).replace("<f4", "<i8").into_bytes();
            let header_end = text.iter().position(|&b| b == b'\n').unwrap() + 1;
            let ids: Vec<u8> = [1i64, 2, 3, 4].iter().flat_map(|v| v.to_le_bytes()).collect();
            vec![("f32.npy".into(), f32_file), ("i64.npy".into(), [&text[..header_end], &ids[..]].concat())]
        }
        "bpe_vocab" => {
            train_bpe(&"low lower lowest newer wider\n".repeat(5), 12, &scratch).unwrap();
            let (vocab, merges) =
                (std::fs::read(scratch.join("vocab.json"))?, std::fs::read(scratch.join("merges.txt"))?);
            vec![("small.bin".into(), join_two(&vocab, &merges))]
        }
        "wordpiece_vocab" => {
            train_wordpiece(&"hello world, the worlds hello\n".repeat(5), 40, true, &scratch.join("vocab.txt"))
                .unwrap();
            vec![("vocab.txt".into(), std::fs::read(scratch.join("vocab.txt"))?)]
        }
        "text" => vec![
            ("english.txt".into(), b"The cat's 42 hats, aren't they? \n\n  spaced   out\t".to_vec()),
            ("mixed.txt".into(), "naïve café — 猫 😀 ٣٤ \u{3000}x".as_bytes().to_vec()),
        ],
        "run_config" => vec![("default.json".into(), serde_json::to_vec_pretty(&TrainConfig::default()).unwrap())],
        "trainer_state" => {
            let state = TrainerState { step: 10, optimizer_steps: 10, best_val_loss: Some(1.5), evals_since_best: 0 };
            let path = scratch.join("optimizer.safetensors");
            let moment = Tensor::from_vec(vec![0.5f32, -0.25], &[2]).unwrap();
            write_safetensors(&path, &[("m.w".into(), moment.clone()), ("v.w".into(), moment.abs().unwrap())], None)
                .unwrap();
            vec![("state.bin".into(), join_two(&serde_json::to_vec(&state).unwrap(), &std::fs::read(&path)?))]
        }
        "tsv" => {
            vec![("labelled.tsv".into(), b"text\tlabel\ngreat film\tpos\nawful\tneg\n\nfine, I guess\tpos\n".to_vec())]
        }
        "shard" => {
            let path = scratch.join("s.bin");
            train::data::shards::write_shard(&path, &[50256, 464, 3797, 3332, 13]).unwrap();
            vec![("five.bin".into(), std::fs::read(&path)?)]
        }
        other => return Err(std::io::Error::other(format!("no fuzz target {other}"))),
    };
    std::fs::remove_dir_all(&scratch)?;
    for (name, bytes) in seeds {
        std::fs::write(dir.join(name), bytes)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every target accepts its own seeds and a few thousand deterministic mutations of them
    /// (byte flips, cuts, repeats): the harness itself runs without AFL++.
    #[test]
    fn every_target_runs_its_seeds_and_their_mutations() {
        let dir = std::env::temp_dir().join(format!("emergent-fuzz-seeds-{}", std::process::id()));
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for target in TARGETS {
            let seeds = dir.join(target);
            write_seeds(target, &seeds).unwrap();
            for seed in std::fs::read_dir(&seeds).unwrap() {
                let bytes = std::fs::read(seed.unwrap().path()).unwrap();
                run(target, &bytes);
                for _ in 0..300 {
                    let mut m = bytes.clone();
                    match next() % 3 {
                        0 if !m.is_empty() => {
                            let i = (next() as usize) % m.len();
                            m[i] ^= 1 << (next() % 8);
                        }
                        1 => m.truncate((next() as usize) % (m.len() + 1)),
                        _ => {
                            let i = (next() as usize) % (m.len() + 1);
                            let piece = m[i..].iter().take(8).copied().collect::<Vec<_>>();
                            m.splice(i..i, piece);
                        }
                    }
                    run(target, &m);
                }
            }
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
