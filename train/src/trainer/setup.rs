//! What a run starts from: the configuration checked, the data and tokenizer, a fresh model, the
//! optimizer, the distillation teacher.

use super::{
    checkpoint_dir, Architecture, Data, DataConfig, OptimizerConfig, OptimizerKind, TokenizerKind, TrainConfig,
    LEGACY_TOKENIZER_FILE, TOKENIZER_FILE,
};
use crate::data::{ArithmeticTask, ModularTask, TextData};
use crate::error::{Result, TrainError};
use crate::optim::{AdaGrad, Adam, AdamW, Optimizer, Sgd};
use crate::tokenizer::{CharTokenizer, Gpt2Tokenizer, NumberTokenizer, Tokenizer};
use model::gpt2::{Gpt2, Gpt2Config};
use model::lstm::{LstmConfig, LstmLm};
use model::{load_language_model, LanguageModel};
use std::path::Path;
use tensor::{AdamWConfig, DType};

/// Refuses settings no run can train with (sizes, rates, probabilities), naming the value.
pub fn validate(cfg: &TrainConfig) -> Result<()> {
    let bad = |m: String| Err(TrainError::Invalid(m));
    if cfg.steps == 0 || cfg.batch_size == 0 || cfg.grad_accum == 0 || cfg.eval_interval == 0 {
        return bad("steps, batch size, grad accumulation and eval interval must be positive".into());
    }
    if cfg.optimizer.lr.is_nan() || cfg.optimizer.lr <= 0.0 {
        return bad(format!("learning rate must be positive, got {}", cfg.optimizer.lr));
    }
    let o = &cfg.optimizer;
    if !(o.weight_decay.is_finite() && o.weight_decay >= 0.0) {
        return bad(format!("weight decay must be finite and ≥ 0, got {}", o.weight_decay));
    }
    if !((0.0..1.0).contains(&o.beta1) && (0.0..1.0).contains(&o.beta2) && o.eps > 0.0 && o.eps.is_finite()) {
        return bad(format!("the optimizer needs β₁, β₂ in [0, 1) and ε > 0, got {}, {}, {}", o.beta1, o.beta2, o.eps));
    }
    if let Some(c) = cfg.clip.filter(|c| !(c.is_finite() && *c > 0.0)) {
        return bad(format!("the clipping norm must be a positive number (0 turns clipping off), got {c}"));
    }
    if cfg.keep_checkpoints == 0 {
        return bad("keep_checkpoints must be at least 1".into());
    }
    if !(0.0..1.0).contains(&cfg.dropout) {
        return bad(format!("dropout must be in [0, 1), got {}", cfg.dropout));
    }
    match cfg.arch {
        Architecture::Gpt if cfg.n_head == 0 || !cfg.n_embd.is_multiple_of(cfg.n_head) => {
            return bad(format!("n_embd {} must be a multiple of n_head {}", cfg.n_embd, cfg.n_head));
        }
        Architecture::Lstm { hidden: 0 } => return bad("the LSTM needs at least one hidden unit".into()),
        _ => {}
    }
    if cfg.zero_stage > 1 {
        return bad(format!("ZeRO stage 1 shards the optimizer state; stage {} is not built", cfg.zero_stage));
    }
    if matches!(cfg.data, DataConfig::Modular { .. }) && cfg.grad_accum != 1 {
        return bad(format!(
            "the grokking task trains on all its pairs at every step; grad accumulation must be 1, got {}",
            cfg.grad_accum
        ));
    }
    Ok(())
}

/// Refuses text too short for one window of `block_size + 1` tokens in either split, before the
/// run folder is made.
pub(super) fn check_data_fits(cfg: &TrainConfig, data: &Data) -> Result<()> {
    let (Data::Text(text), Some(path)) = (data, cfg.data.path()) else { return Ok(()) };
    if text.train.is_empty() && text.val.is_empty() {
        return Err(TrainError::format(path, "the file is empty: there is nothing to train on"));
    }
    let need = cfg.block_size + 2;
    let (train, val) = (text.train.len(), text.val.len());
    if train.min(val) < need {
        return Err(TrainError::format(
            path,
            format!(
                "{} tokens ({train} for training, {val} for validation) are too few for windows of {} tokens \
                 in each part: lower --block-size or bring more text",
                train + val,
                cfg.block_size + 1
            ),
        ));
    }
    Ok(())
}

/// Tokens per training row.
pub(super) fn context(cfg: &TrainConfig, data: &Data) -> usize {
    match data {
        Data::Arithmetic(task) => task.len() - 1,
        Data::Modular(_) => 3,
        Data::Text(_) => cfg.block_size,
    }
}

/// A freshly initialised model of the configured architecture for the tokenizer's vocabulary (a
/// GPT's config names its `<|endoftext|>` id, as HF's GPT-2 configs do).
pub(super) fn random_model(
    cfg: &TrainConfig,
    data: &Data,
    tokenizer: &dyn Tokenizer,
) -> Result<Box<dyn LanguageModel>> {
    let vocab = tokenizer.vocab_size();
    Ok(match cfg.arch {
        Architecture::Gpt => {
            let mut c = Gpt2Config::new(vocab, context(cfg, data), cfg.n_embd, cfg.n_layer, cfg.n_head);
            (c.resid_pdrop, c.embd_pdrop, c.attn_pdrop) = (cfg.dropout, cfg.dropout, cfg.dropout);
            (c.bos_token_id, c.eos_token_id) = (tokenizer.end_of_text(), tokenizer.end_of_text());
            Box::new(Gpt2::random(c, cfg.seed, DType::F32)?)
        }
        Architecture::Lstm { hidden } => {
            let c = LstmConfig { dropout: cfg.dropout, ..LstmConfig::new(vocab, cfg.n_embd, hidden) };
            Box::new(LstmLm::random(c, cfg.seed, DType::F32)?)
        }
    })
}

pub(super) fn make_optimizer(o: &OptimizerConfig) -> Box<dyn Optimizer> {
    match o.kind {
        OptimizerKind::Adamw => Box::new(AdamW::new(AdamWConfig {
            lr: o.lr,
            beta1: o.beta1,
            beta2: o.beta2,
            eps: o.eps,
            weight_decay: o.weight_decay,
        })),
        OptimizerKind::Adam => Box::new(Adam::new(o.beta1, o.beta2, o.eps, o.weight_decay)),
        OptimizerKind::Sgd => Box::new(Sgd::new(o.momentum, o.nesterov, o.weight_decay)),
        OptimizerKind::Adagrad => Box::new(AdaGrad::new(o.eps.min(1e-10), o.weight_decay)),
    }
}

/// The data, its tokenizer, and the tokenizer's description for [`TOKENIZER_FILE`].
pub(super) fn load_data(cfg: &TrainConfig) -> Result<(Data, Box<dyn Tokenizer>, String)> {
    match &cfg.data {
        DataConfig::Arithmetic { op, digits, held_out } => {
            if !(1..=9).contains(digits) {
                return Err(TrainError::Invalid(format!("arithmetic digits must be 1..=9, got {digits}")));
            }
            let tok = ArithmeticTask::tokenizer(*op);
            let json = serde_json::json!({"kind": "char", "chars": tok.chars().iter().collect::<String>()}).to_string();
            Ok((Data::Arithmetic(ArithmeticTask::new(*op, *digits, *held_out, cfg.seed)?), Box::new(tok), json))
        }
        DataConfig::Modular { modulus, train_fraction } => {
            let task = ModularTask::new(*modulus, *train_fraction, cfg.seed)?;
            let json = serde_json::json!({"kind": "numbers", "count": modulus}).to_string();
            let tok = task.tokenizer();
            Ok((Data::Modular(task), Box::new(tok), json))
        }
        DataConfig::Shards { path, vocab } => {
            let tok = Gpt2Tokenizer::load(vocab)?;
            let data = TextData::shards(path)?;
            let largest = data.train.max_id().max(data.val.max_id());
            if largest as usize >= tok.vocab_size() {
                return Err(TrainError::Invalid(format!(
                    "{}: token id {largest} is outside the vocabulary of {} in {}",
                    path.display(),
                    tok.vocab_size(),
                    vocab.display()
                )));
            }
            let json = serde_json::json!({"kind": "gpt2", "vocab": vocab}).to_string();
            Ok((Data::Text(data), Box::new(tok), json))
        }
        DataConfig::Text { path, tokenizer, vocab, val_fraction } => match tokenizer {
            TokenizerKind::Char => {
                let tok = TextData::char_tokenizer(path)?;
                let json =
                    serde_json::json!({"kind": "char", "chars": tok.chars().iter().collect::<String>()}).to_string();
                let data = TextData::load(path, &tok, "char", *val_fraction)?;
                Ok((Data::Text(data), Box::new(tok), json))
            }
            TokenizerKind::Gpt2 => {
                let dir = vocab.as_ref().ok_or_else(|| {
                    TrainError::Invalid("--tokenizer gpt2 needs --vocab DIR (vocab.json + merges.txt)".into())
                })?;
                let tok = Gpt2Tokenizer::load(dir)?;
                let json = serde_json::json!({"kind": "gpt2", "vocab": dir}).to_string();
                let key = crate::data::text_cache_key("gpt2", &[dir.join("vocab.json"), dir.join("merges.txt")])?;
                let data = TextData::load(path, &tok, &key, *val_fraction)?;
                Ok((Data::Text(data), Box::new(tok), json))
            }
        },
    }
}

/// The teacher a distillation config names, checked against the data: the same tokenizer, and
/// a context long enough for its rows.
pub(super) fn load_teacher(
    cfg: &TrainConfig,
    data: &Data,
    tokenizer_json: &str,
) -> Result<Option<Box<dyn LanguageModel>>> {
    let Some(d) = &cfg.distill else { return Ok(None) };
    if !(d.temperature > 0.0 && (0.0..=1.0).contains(&d.alpha)) {
        return Err(TrainError::Invalid(format!(
            "distillation needs temperature > 0 and alpha in [0, 1], got {} and {}",
            d.temperature, d.alpha
        )));
    }
    let dir = checkpoint_dir(&d.teacher)?;
    let same_tokenizer = [TOKENIZER_FILE, LEGACY_TOKENIZER_FILE]
        .iter()
        .find_map(|f| std::fs::read_to_string(dir.join(f)).ok())
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .is_some_and(|t| serde_json::from_str::<serde_json::Value>(tokenizer_json).is_ok_and(|own| own == t));
    if !same_tokenizer {
        return Err(TrainError::Invalid(format!(
            "the teacher {} was not trained with this data's tokenizer ({} missing or different)",
            dir.display(),
            TOKENIZER_FILE
        )));
    }
    let teacher = load_language_model(&dir, DType::F32)?;
    if let Some(n) = teacher.max_positions().filter(|&n| n < context(cfg, data)) {
        return Err(TrainError::Invalid(format!(
            "the teacher's context of {n} tokens is shorter than the data's rows ({})",
            context(cfg, data)
        )));
    }
    Ok(Some(teacher))
}

/// GPT-2's vocab.json and merges.txt beside a checkpoint of a run that uses them, so the folder
/// carries its tokenizer (HF's `GPT2Tokenizer.from_pretrained` reads the same two files).
pub(super) fn copy_vocabulary_files(cfg: &TrainConfig, dir: &Path) -> Result<()> {
    let vocab = match &cfg.data {
        DataConfig::Shards { vocab, .. } => Some(vocab),
        DataConfig::Text { tokenizer: TokenizerKind::Gpt2, vocab, .. } => vocab.as_ref(),
        _ => None,
    };
    for file in vocab.map(|v| ["vocab.json", "merges.txt"].map(|f| v.join(f))).into_iter().flatten() {
        let to = dir.join(file.file_name().expect("a file name"));
        std::fs::copy(&file, &to).map_err(|e| TrainError::io(&file, e))?;
    }
    Ok(())
}

/// The tokenizer of a run or checkpoint folder: `vocab` (a folder with GPT-2's vocab.json +
/// merges.txt) when given; else the project's description in [`TOKENIZER_FILE`] (or, from older
/// runs, [`LEGACY_TOKENIZER_FILE`]); else the folder's own vocab.json + merges.txt (a bare HF
/// GPT-2 folder).
pub fn load_tokenizer(dir: &Path, vocab: Option<&Path>) -> Result<Box<dyn Tokenizer>> {
    if let Some(vocab) = vocab {
        return Ok(Box::new(Gpt2Tokenizer::load(vocab)?));
    }
    let described = [TOKENIZER_FILE, LEGACY_TOKENIZER_FILE].map(|f| dir.join(f)).into_iter().find(|p| {
        std::fs::read_to_string(p)
            .ok()
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
            .is_some_and(|v| v.get("kind").is_some())
    });
    if let Some(path) = described {
        return read_description(&path);
    }
    if dir.join("vocab.json").exists() && dir.join("merges.txt").exists() {
        return Ok(Box::new(Gpt2Tokenizer::load(dir)?));
    }
    Err(TrainError::Invalid(format!(
        "{}: no tokenizer: neither {TOKENIZER_FILE} nor vocab.json + merges.txt; give --vocab DIR",
        dir.display()
    )))
}

fn read_description(path: &Path) -> Result<Box<dyn Tokenizer>> {
    let text = std::fs::read_to_string(path).map_err(|e| TrainError::io(path, e))?;
    let v: serde_json::Value = serde_json::from_str(&text).map_err(|e| TrainError::format(path, e.to_string()))?;
    let count = v["count"].as_u64().and_then(|c| u32::try_from(c).ok());
    match (v["kind"].as_str(), v["chars"].as_str(), v["vocab"].as_str()) {
        (Some("numbers"), _, _) if count.is_some() => Ok(Box::new(NumberTokenizer::new(count.unwrap_or_default()))),
        (Some("char"), Some(chars), _) => Ok(Box::new(CharTokenizer::from_chars(chars.chars().collect()))),
        (Some("gpt2"), _, Some(vocab)) => {
            // The vocabulary copied beside the checkpoint, if it is there, else where the run read it.
            let beside = path.parent().filter(|d| d.join("vocab.json").exists() && d.join("merges.txt").exists());
            Ok(Box::new(Gpt2Tokenizer::load(beside.unwrap_or(Path::new(vocab)))?))
        }
        _ => Err(TrainError::format(
            path,
            "expected {\"kind\": \"char\", \"chars\": …}, {\"kind\": \"gpt2\", \"vocab\": …} or {\"kind\": \"numbers\", \"count\": …}",
        )),
    }
}
