//! BERT pre-training (F10): masked-LM and next-sentence prediction on sentence pairs. Each example
//! is `[CLS] A [SEP] B [SEP]` where B follows A in its document half of the time (label 0) and is
//! a sentence of another document otherwise (label 1); 15% of the tokens are chosen for the
//! masked-LM loss (80% `[MASK]`, 10% random, 10% kept). The loss is `L_MLM + L_NSP`.
//!
//! Text files hold one sentence per line and documents separated by blank lines; the built-in
//! corpus is generated reviews, one topic per document.

use super::{encode_batch, vocabulary, Encoded, VOCAB_FILE};
use crate::data::{mask_tokens, review_documents, step_rng, MaskingConfig, NO_TARGET, STREAM_BATCH};
use crate::error::{Result, TrainError};
use crate::fit::{fit, start_run, Descent, Evaluation, Plan, Progress, Standing, StepResult, Task};
use crate::optim::{AdamW, Schedule};
use crate::plot::{write_curves, Panel};
use crate::tokenizer::{Tokenizer, WordPieceTokenizer};
use crate::trainer::write_folder_atomically;
use autograd::no_grad;
use model::bert::{BertConfig, BertForPreTraining};
use model::nn::RandomInit;
use rand::rngs::StdRng;
use rand::Rng;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use tensor::{AdamWConfig, DType, Device, Tensor};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PretrainConfig {
    /// A text file (a sentence per line, blank lines between documents); the built-in reviews if none.
    pub data: Option<PathBuf>,
    /// Documents of the built-in corpus.
    pub documents: usize,
    /// A vocab.txt to use instead of learning a WordPiece vocabulary of `vocab_size`.
    pub vocab: Option<PathBuf>,
    pub vocab_size: usize,
    pub n_layer: usize,
    pub n_head: usize,
    pub n_embd: usize,
    /// Tokens per pair, specials included (also the model's number of positions).
    pub max_len: usize,
    pub batch_size: usize,
    pub steps: u64,
    pub lr: f64,
    pub weight_decay: f64,
    pub eval_interval: u64,
    /// Fraction of tokens chosen for the masked-LM loss.
    pub mask_probability: f64,
    pub seed: u64,
}

impl Default for PretrainConfig {
    fn default() -> Self {
        Self {
            data: None,
            documents: 3000,
            vocab: None,
            vocab_size: 200,
            n_layer: 2,
            n_head: 4,
            n_embd: 64,
            max_len: 64,
            batch_size: 32,
            steps: 3000,
            lr: 1e-3,
            weight_decay: 0.01,
            eval_interval: 100,
            mask_probability: 0.15,
            seed: 1337,
        }
    }
}

/// One line of `metrics.jsonl`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PretrainRecord {
    pub step: u64,
    pub train_loss: f64,
    pub lr: f64,
    pub val_mlm_loss: f64,
    /// Share of masked tokens predicted exactly.
    pub val_mlm_accuracy: f64,
    pub val_nsp_loss: f64,
    pub val_nsp_accuracy: f64,
    pub elapsed_s: f64,
}

/// The folder with the pre-trained model (HF files and `vocab.txt`), for `classify --init`.
pub const MODEL_DIR: &str = "model";
/// Sentence pairs in the validation set.
const VAL_PAIRS: usize = 512;

/// Documents of at least two sentences: from a file, or generated.
fn documents(cfg: &PretrainConfig) -> Result<Vec<Vec<String>>> {
    let Some(path) = &cfg.data else { return Ok(review_documents(cfg.documents, cfg.seed)) };
    let text = std::fs::read_to_string(path).map_err(|e| TrainError::io(path, e))?;
    let docs: Vec<Vec<String>> = text
        .split("\n\n")
        .map(|d| d.lines().map(str::trim).filter(|l| !l.is_empty()).map(String::from).collect::<Vec<_>>())
        .filter(|d| d.len() >= 2)
        .collect();
    if docs.len() < 4 {
        return Err(TrainError::format(
            path,
            format!("needs at least 4 documents of 2+ sentences (blank lines between documents), found {}", docs.len()),
        ));
    }
    Ok(docs)
}

/// A batch of pairs from `docs`, masked: the encoded inputs, masked-LM labels `(B, L)` and
/// next-sentence labels `(B,)`.
struct PairBatch {
    inputs: Encoded,
    mlm_labels: Tensor,
    next: Tensor,
}

fn pair_batch(
    docs: &[Vec<String>],
    all: &[Vec<String>],
    n: usize,
    tok: &WordPieceTokenizer,
    cfg: &PretrainConfig,
    rng: &mut StdRng,
) -> Result<PairBatch> {
    let mut pairs = Vec::with_capacity(n);
    let mut next = Vec::with_capacity(n);
    for _ in 0..n {
        let d = rng.random_range(0..docs.len());
        let i = rng.random_range(0..docs[d].len() - 1);
        let random_next = rng.random_bool(0.5);
        let b = if random_next {
            // A sentence of another document (by content, so a copy of this one does not count;
            // after 100 misses, any document).
            let mut other = &all[rng.random_range(0..all.len())];
            for _ in 0..100 {
                if *other != docs[d] {
                    break;
                }
                other = &all[rng.random_range(0..all.len())];
            }
            other[rng.random_range(0..other.len())].as_str()
        } else {
            docs[d][i + 1].as_str()
        };
        pairs.push((docs[d][i].as_str(), Some(b)));
        next.push(i64::from(random_next));
    }
    let mut inputs = encode_batch(tok, &pairs, cfg.max_len)?;
    let width = inputs.ids.shape()[1];
    let masking = MaskingConfig {
        mask_id: tok.mask,
        vocab_size: tok.vocab_size() as u32,
        special_ids: vec![tok.pad, tok.unk, tok.cls, tok.sep, tok.mask],
        probability: cfg.mask_probability,
    };
    let mut ids = inputs.ids.to_vec::<i64>()?;
    let mut labels = vec![NO_TARGET; ids.len()];
    for (r, row) in inputs.rows.iter_mut().enumerate() {
        let targets = mask_tokens(row, &masking, rng)?;
        for (c, (&id, target)) in row.iter().zip(targets).enumerate() {
            ids[r * width + c] = i64::from(id);
            labels[r * width + c] = target;
        }
    }
    inputs.ids = Tensor::from_vec(ids, &[n, width])?;
    Ok(PairBatch { inputs, mlm_labels: Tensor::from_vec(labels, &[n, width])?, next: Tensor::from_vec(next, &[n])? })
}

/// `[total, mlm, nsp]` losses and the logits of a batch.
fn losses(model: &BertForPreTraining, b: &PairBatch) -> Result<([autograd::Var; 3], Tensor, Tensor)> {
    let e = &b.inputs;
    let (mlm, nsp) = model.forward(&e.ids, &e.attention_mask, &e.token_type_ids)?;
    Ok((model.loss(&mlm, &nsp, &b.mlm_labels, &b.next)?, mlm.value(), nsp.value()))
}

/// Share of rows of `logits (…, C)` whose argmax equals `targets`, over targets ≠ −100.
fn accuracy(logits: &Tensor, targets: &Tensor) -> Result<f64> {
    let predicted = logits.argmax(-1, false)?.to_vec::<i64>()?;
    let targets = targets.to_vec::<i64>()?;
    let scored: Vec<bool> =
        predicted.iter().zip(&targets).filter(|(_, &t)| t != NO_TARGET).map(|(p, t)| p == t).collect();
    Ok(scored.iter().filter(|&&ok| ok).count() as f64 / scored.len().max(1) as f64)
}

fn validate(cfg: &PretrainConfig) -> Result<()> {
    let sizes = [cfg.batch_size, cfg.steps as usize, cfg.eval_interval as usize];
    if sizes.contains(&0) || cfg.documents < 4 || cfg.max_len < 5 || cfg.lr.is_nan() || cfg.lr <= 0.0 {
        return Err(TrainError::Invalid(format!(
            "batch size, steps and eval interval must be positive, documents ≥ 4, max length ≥ 5 and the \
             learning rate > 0; got {cfg:?}"
        )));
    }
    Ok(())
}

/// Pre-trains a BERT on `device` in `run_dir`; the model is written to `run_dir/model` at every
/// evaluation. Returns the last evaluation.
pub fn run_pretrain(cfg: &PretrainConfig, run_dir: &Path, device: Device, interactive: bool) -> Result<PretrainRecord> {
    validate(cfg)?;
    let _lock = start_run(run_dir, cfg)?;
    let docs = documents(cfg)?;
    let held = (docs.len() / 10).max(2);
    let train_docs = docs.len() - held;
    let corpus: String = docs[..train_docs].iter().flatten().map(|s| format!("{s}\n")).collect();
    let tok = vocabulary(cfg.vocab.as_deref(), &corpus, cfg.vocab_size, run_dir)?;
    let config = BertConfig::new(tok.vocab_size(), cfg.n_embd, cfg.n_layer, cfg.n_head, cfg.max_len);
    let model = BertForPreTraining::new(&config, &mut RandomInit::new(cfg.seed, DType::F32))?;
    model.params.to_device(device)?; // batches stay on the host: the embeddings and losses read them there
    let val_rng = &mut step_rng(cfg.seed, STREAM_BATCH, u64::MAX, 0);
    let val = pair_batch(&docs[train_docs..], &docs, VAL_PAIRS, &tok, cfg, val_rng)?;
    let vocab_file =
        std::fs::read(run_dir.join(VOCAB_FILE)).map_err(|e| TrainError::io(&run_dir.join(VOCAB_FILE), e))?;
    let adamw = AdamWConfig { lr: cfg.lr, beta1: 0.9, beta2: 0.999, eps: 1e-8, weight_decay: cfg.weight_decay };
    let descent = Descent {
        optimizer: AdamW::new(adamw),
        lr: cfg.lr,
        schedule: Schedule::WarmupCosine { warmup: cfg.steps / 10, total: cfg.steps, min_ratio: 0.1 },
    };
    let mut task = Pretraining { cfg, model, tok, docs: &docs, train_docs, val, vocab_file, descent };
    let mut fitted = fit(&mut task, &Plan::evaluating_every(cfg.steps, cfg.eval_interval, interactive), run_dir)?;
    Ok(fitted.log.pop().expect("the last step is evaluated"))
}

/// Pre-training as a [`Task`]: random sentence pairs of the training documents each step, the
/// held-out pairs scored at each evaluation.
struct Pretraining<'a> {
    cfg: &'a PretrainConfig,
    model: BertForPreTraining,
    tok: WordPieceTokenizer,
    /// Every document; the first `train_docs` are trained on.
    docs: &'a [Vec<String>],
    train_docs: usize,
    val: PairBatch,
    /// The run's vocab.txt, saved beside the model.
    vocab_file: Vec<u8>,
    descent: Descent,
}

impl Task for Pretraining<'_> {
    type Record = PretrainRecord;

    fn train_step(&mut self, step: u64) -> Result<StepResult> {
        let rng = &mut step_rng(self.cfg.seed, STREAM_BATCH, step, 0);
        let batch =
            pair_batch(&self.docs[..self.train_docs], self.docs, self.cfg.batch_size, &self.tok, self.cfg, rng)?;
        self.descent.step(&self.model.params, step, || Ok(losses(&self.model, &batch)?.0[0].clone()))
    }

    fn evaluate(&mut self, progress: &Progress) -> Result<Evaluation<PretrainRecord>> {
        no_grad(|| {
            let ([_, mlm, nsp], mlm_logits, nsp_logits) = losses(&self.model, &self.val)?;
            let record = PretrainRecord {
                step: progress.step,
                train_loss: progress.train_loss,
                lr: progress.lr,
                val_mlm_loss: mlm.value().to_scalar()?,
                val_mlm_accuracy: accuracy(&mlm_logits, &self.val.mlm_labels)?,
                val_nsp_loss: nsp.value().to_scalar()?,
                val_nsp_accuracy: accuracy(&nsp_logits, &self.val.next)?,
                elapsed_s: progress.elapsed_s,
            };
            let message = format!("MLM acc {:.3} NSP acc {:.3}", record.val_mlm_accuracy, record.val_nsp_accuracy);
            Ok(Evaluation { val_loss: record.val_mlm_loss + record.val_nsp_loss, record, message })
        })
    }

    fn keep(&mut self, run_dir: &Path, _: &Standing, _improved: bool) -> Result<()> {
        // The latest model, at every evaluation.
        write_folder_atomically(&run_dir.join(MODEL_DIR), |dir| {
            self.model.save(dir)?;
            Ok(model::checkpoint::write_atomically(&dir.join(VOCAB_FILE), &self.vocab_file)?)
        })
    }

    fn plot(&self, run_dir: &Path, log: &[PretrainRecord]) -> Result<()> {
        plot(run_dir, log)
    }
}

fn plot(run_dir: &Path, log: &[PretrainRecord]) -> Result<()> {
    let line = |f: fn(&PretrainRecord) -> f64| log.iter().map(|r| (r.step as f64, f(r))).collect();
    let panels = [
        Panel::new("loss", "cross-entropy")
            .log_scale()
            .curve("train (MLM + NSP)", line(|r| r.train_loss))
            .curve("validation MLM", line(|r| r.val_mlm_loss))
            .curve("validation NSP", line(|r| r.val_nsp_loss)),
        Panel::new("validation accuracy", "")
            .curve("masked tokens", line(|r| r.val_mlm_accuracy))
            .curve("next sentence", line(|r| r.val_nsp_accuracy)),
    ];
    write_curves(&run_dir.join("pretrain.png"), "BERT pre-training", &panels)
}
