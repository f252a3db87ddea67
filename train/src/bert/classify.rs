//! Fine-tuning BERT as a sequence classifier (F11): `logits = pool(BERT(x))·W⁰ᵀ + b⁰` trained with
//! cross-entropy — or, for two classes with `single_logit`, one logit with binary cross-entropy
//! (F7) — by AdamW with warm-up and cosine decay, in epochs over shuffled batches. The dev set is
//! scored several times per epoch; the best model by dev loss is kept (written atomically) and
//! scored on the test set at the end. Early stopping after `patience` evaluations without a better
//! dev loss.

use super::splits::{load_splits, Sources, Split, Splits};
use super::{encode_batch, vocabulary};
use crate::error::{Result, TrainError};
use crate::fit::{fit, start_run, Descent, Evaluation, Plan, Progress, Standing, StepResult, Task};
use crate::optim::{AdamW, Schedule};
use crate::plot::{write_curves, Panel};
use crate::scores::ClassificationScores;
use crate::tokenizer::{Tokenizer, WordPieceTokenizer};
use crate::trainer::write_folder_atomically;
use autograd::no_grad;
use model::bert::{BertConfig, BertForSequenceClassification};
use model::nn::RandomInit;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use serde::{Deserialize, Serialize};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use tensor::{AdamWConfig, DType, Device, Tensor};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassifyConfig {
    /// TSV files of `text<TAB>label`; without `train`, the built-in generated reviews.
    pub train: Option<PathBuf>,
    pub dev: Option<PathBuf>,
    pub test: Option<PathBuf>,
    /// Training examples of the built-in task.
    pub generated: usize,
    /// Start from this BERT folder (its encoder and vocab.txt), e.g. from `bert-pretrain`.
    pub init: Option<PathBuf>,
    /// A vocab.txt to use instead of learning one (ignored with `init`).
    pub vocab: Option<PathBuf>,
    /// Size of the WordPiece vocabulary learned from the training texts.
    pub vocab_size: usize,
    pub n_layer: usize,
    pub n_head: usize,
    pub n_embd: usize,
    /// Tokens per example, `[CLS]` and `[SEP]` included; longer texts are cut.
    pub max_len: usize,
    pub batch_size: usize,
    pub epochs: usize,
    pub lr: f64,
    pub weight_decay: f64,
    pub evals_per_epoch: usize,
    pub patience: Option<u64>,
    /// Two classes as one logit with binary cross-entropy.
    pub single_logit: bool,
    pub seed: u64,
}

impl Default for ClassifyConfig {
    fn default() -> Self {
        Self {
            train: None,
            dev: None,
            test: None,
            generated: 4000,
            init: None,
            vocab: None,
            vocab_size: 200,
            n_layer: 2,
            n_head: 4,
            n_embd: 64,
            max_len: 32,
            batch_size: 32,
            epochs: 4,
            lr: 5e-4,
            weight_decay: 0.01,
            evals_per_epoch: 4,
            patience: None,
            single_logit: false,
            seed: 1337,
        }
    }
}

/// One line of `metrics.jsonl`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ClassifyRecord {
    pub step: u64,
    pub epoch: f64,
    pub train_loss: f64,
    pub lr: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dev_loss: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dev_accuracy: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dev_f1: Option<f64>,
    pub elapsed_s: f64,
}

/// What a run ended with (scores of the best model by dev loss).
pub struct ClassifySummary {
    pub best_step: u64,
    pub steps: u64,
    pub stopped_early: bool,
    pub dev_loss: f64,
    pub dev: ClassificationScores,
    pub test: Option<ClassificationScores>,
    pub label_names: Vec<String>,
    pub parameters: usize,
    /// A few test (or dev) examples with the prediction.
    pub examples: Vec<String>,
    pub report: String,
}

/// The folder holding the best model: HF files, `vocab.txt`, `labels.json`.
pub const BEST_DIR: &str = "best";

struct Classifier {
    model: BertForSequenceClassification,
    tok: WordPieceTokenizer,
    max_len: usize,
}

impl Classifier {
    /// Mean loss and predicted classes of a split, in batches without gradients.
    fn score(&self, split: &Split) -> Result<(f64, Vec<usize>)> {
        no_grad(|| {
            let (mut total, mut predicted) = (0.0, Vec::with_capacity(split.texts.len()));
            for (texts, labels) in split.texts.chunks(128).zip(split.labels.chunks(128)) {
                let (logits, loss) = self.forward(texts, labels)?;
                total += loss.value().to_scalar()? * texts.len() as f64;
                predicted.extend(self.model.predict(&logits.value())?);
            }
            Ok((total / split.texts.len().max(1) as f64, predicted))
        })
    }

    fn forward(&self, texts: &[impl AsRef<str>], labels: &[usize]) -> Result<(autograd::Var, autograd::Var)> {
        let items: Vec<(&str, Option<&str>)> = texts.iter().map(|t| (t.as_ref(), None)).collect();
        let e = encode_batch(&self.tok, &items, self.max_len)?;
        let logits = self.model.forward(&e.ids, &e.attention_mask, &e.token_type_ids)?;
        let labels = Tensor::from_vec(labels.iter().map(|&l| l as i64).collect(), &[labels.len()])?;
        let loss = self.model.loss(&logits, &labels)?;
        Ok((logits, loss))
    }
}

fn build_model(
    cfg: &ClassifyConfig,
    tok: &WordPieceTokenizer,
    labels: &[String],
) -> Result<BertForSequenceClassification> {
    if cfg.single_logit && labels.len() != 2 {
        return Err(TrainError::Invalid(format!("--single-logit needs exactly two labels, the data has {labels:?}")));
    }
    match &cfg.init {
        Some(dir) => {
            let config = BertConfig::load(&dir.join(model::gpt2::CONFIG_FILE))?.with_labels(labels, cfg.single_logit);
            if config.vocab_size != tok.vocab_size() || config.max_position_embeddings < cfg.max_len {
                return Err(TrainError::Invalid(format!(
                    "--init {}: vocabulary {} / {} positions do not fit its vocab.txt ({}) and --max-len {}",
                    dir.display(),
                    config.vocab_size,
                    config.max_position_embeddings,
                    tok.vocab_size(),
                    cfg.max_len
                )));
            }
            let dropout = [config.hidden_dropout_prob, config.attention_probs_dropout_prob];
            if dropout.iter().any(|&p| p > 0.0) {
                eprintln!(
                    "warning: --init {}: its config asks for dropout (hidden {}, attention {}); BERT fine-tuning \
                     here runs without dropout",
                    dir.display(),
                    dropout[0],
                    dropout[1]
                );
            }
            Ok(BertForSequenceClassification::from_pretrained(dir, &config, cfg.seed)?.0)
        }
        None => {
            let config = BertConfig::new(tok.vocab_size(), cfg.n_embd, cfg.n_layer, cfg.n_head, cfg.max_len)
                .with_labels(labels, cfg.single_logit);
            Ok(BertForSequenceClassification::new(&config, &mut RandomInit::new(cfg.seed, DType::F32))?)
        }
    }
}

fn validate(cfg: &ClassifyConfig) -> Result<()> {
    let sizes = [cfg.batch_size, cfg.epochs, cfg.evals_per_epoch, cfg.generated];
    if sizes.contains(&0) || cfg.max_len < 3 || cfg.lr.is_nan() || cfg.lr <= 0.0 {
        return Err(TrainError::Invalid(format!(
            "batch size, epochs, evaluations per epoch and examples must be positive, max length ≥ 3 and the \
             learning rate > 0; got {cfg:?}"
        )));
    }
    Ok(())
}

/// Trains and scores a classifier on `device` in `run_dir` (created; an existing run there is
/// replaced).
pub fn run_classify(
    cfg: &ClassifyConfig,
    run_dir: &Path,
    device: Device,
    interactive: bool,
) -> Result<ClassifySummary> {
    validate(cfg)?;
    let sources = Sources {
        train: cfg.train.as_deref(),
        dev: cfg.dev.as_deref(),
        test: cfg.test.as_deref(),
        generated: cfg.generated,
        seed: cfg.seed,
    };
    let _lock = start_run(run_dir, cfg)?;
    let splits = load_splits(&sources, run_dir)?;
    let from = cfg.init.as_deref().or(cfg.vocab.as_deref());
    let tok = vocabulary(from, &splits.train.texts.join("\n"), cfg.vocab_size, run_dir)?;
    let classifier = Classifier { model: build_model(cfg, &tok, &splits.label_names)?, tok, max_len: cfg.max_len };
    classifier.model.params.to_device(device)?; // batches stay on the host: the embeddings and the loss read them there

    let steps_per_epoch = splits.train.texts.len().div_ceil(cfg.batch_size) as u64;
    let total = steps_per_epoch * cfg.epochs as u64;
    let eval_every = (steps_per_epoch / cfg.evals_per_epoch as u64).max(1);
    let plan = Plan {
        // Several times an epoch, and at its end.
        evaluate_every: vec![eval_every, steps_per_epoch],
        patience: cfg.patience,
        ..Plan::evaluating_every(total, eval_every, interactive)
    };
    let adamw = AdamWConfig { lr: cfg.lr, beta1: 0.9, beta2: 0.999, eps: 1e-8, weight_decay: cfg.weight_decay };
    let descent = Descent {
        optimizer: AdamW::new(adamw),
        lr: cfg.lr,
        schedule: Schedule::WarmupCosine { warmup: total / 10, total, min_ratio: 0.1 },
    };
    let mut task = Classification {
        classifier,
        splits: &splits,
        cfg,
        steps_per_epoch,
        epoch_order: (u64::MAX, Vec::new()),
        descent,
    };
    let fitted = fit(&mut task, &plan, run_dir)?;
    let classifier = task.classifier;

    // Score the best model.
    let best_dir = run_dir.join(BEST_DIR);
    let best_model = Classifier {
        model: BertForSequenceClassification::load(&best_dir, DType::F32)?,
        tok: classifier.tok,
        max_len: cfg.max_len,
    };
    best_model.model.params.to_device(device)?;
    let n = splits.label_names.len();
    let (dev_loss, dev_predicted) = best_model.score(&splits.dev)?;
    let dev = ClassificationScores::new(&dev_predicted, &splits.dev.labels, n);
    let shown = splits.test.as_ref().unwrap_or(&splits.dev);
    let (_, shown_predicted) = best_model.score(shown)?;
    let test = splits.test.as_ref().map(|t| ClassificationScores::new(&shown_predicted, &t.labels, n));
    let examples = shown
        .texts
        .iter()
        .zip(&shown.labels)
        .zip(&shown_predicted)
        .take(8)
        .map(|((text, &truth), &guess)| {
            let verdict =
                if guess == truth { "✓".to_string() } else { format!("✗ (truth: {})", splits.label_names[truth]) };
            format!("{text}  →  {}  {verdict}", splits.label_names[guess])
        })
        .collect();
    let mut summary = ClassifySummary {
        best_step: fitted.standing.best.map_or(0, |(_, step)| step),
        steps: fitted.standing.step,
        stopped_early: fitted.stopped_early,
        dev_loss,
        dev,
        test,
        label_names: splits.label_names,
        parameters: best_model.model.params.numel(),
        examples,
        report: String::new(),
    };
    summary.report = report(cfg, &summary);
    model::checkpoint::write_atomically(&run_dir.join("report.md"), summary.report.as_bytes())?;
    Ok(summary)
}

/// Fine-tuning as a [`Task`]: epochs over the training split in shuffled batches, the dev split
/// scored at each evaluation.
struct Classification<'a> {
    classifier: Classifier,
    splits: &'a Splits,
    cfg: &'a ClassifyConfig,
    steps_per_epoch: u64,
    /// The current epoch and its order of the training examples.
    epoch_order: (u64, Vec<usize>),
    descent: Descent,
}

impl Task for Classification<'_> {
    type Record = ClassifyRecord;

    fn train_step(&mut self, step: u64) -> Result<StepResult> {
        let (epoch, i) = (step / self.steps_per_epoch, (step % self.steps_per_epoch) as usize);
        if self.epoch_order.0 != epoch {
            let mut order: Vec<usize> = (0..self.splits.train.texts.len()).collect();
            order.shuffle(&mut rand::rngs::StdRng::seed_from_u64(self.cfg.seed ^ (epoch + 1).wrapping_mul(0x9E37)));
            self.epoch_order = (epoch, order);
        }
        let batch = self.epoch_order.1.chunks(self.cfg.batch_size).nth(i).expect("a step of the epoch");
        let train = &self.splits.train;
        let texts: Vec<&str> = batch.iter().map(|&j| train.texts[j].as_str()).collect();
        let labels: Vec<usize> = batch.iter().map(|&j| train.labels[j]).collect();
        let classifier = &self.classifier;
        self.descent.step(&classifier.model.params, step, || Ok(classifier.forward(&texts, &labels)?.1))
    }

    fn evaluate(&mut self, progress: &Progress) -> Result<Evaluation<ClassifyRecord>> {
        let (dev_loss, predicted) = self.classifier.score(&self.splits.dev)?;
        let scores = ClassificationScores::new(&predicted, &self.splits.dev.labels, self.splits.label_names.len());
        let record = ClassifyRecord {
            step: progress.step,
            epoch: progress.step as f64 / self.steps_per_epoch as f64,
            train_loss: progress.train_loss,
            lr: progress.lr,
            dev_loss: Some(dev_loss),
            dev_accuracy: Some(scores.accuracy),
            dev_f1: Some(scores.f1()),
            elapsed_s: progress.elapsed_s,
        };
        let message = format!("dev loss {dev_loss:.4} accuracy {:.3} F1 {:.3}", scores.accuracy, scores.f1());
        Ok(Evaluation { record, val_loss: dev_loss, message })
    }

    fn keep(&mut self, run_dir: &Path, _: &Standing, improved: bool) -> Result<()> {
        if !improved {
            return Ok(()); // the best model so far stays
        }
        write_folder_atomically(&run_dir.join(BEST_DIR), |dir| {
            let Classifier { model, tok, .. } = &self.classifier;
            model.save(dir)?;
            let vocab: String =
                (0..tok.vocab_size() as u32).map(|i| format!("{}\n", tok.token(i).unwrap_or("[UNK]"))).collect();
            model::checkpoint::write_atomically(&dir.join(super::VOCAB_FILE), vocab.as_bytes())?;
            let names = serde_json::to_string(&self.splits.label_names).expect("labels serialise");
            Ok(model::checkpoint::write_atomically(&dir.join("labels.json"), names.as_bytes())?)
        })
    }

    fn plot(&self, run_dir: &Path, log: &[ClassifyRecord]) -> Result<()> {
        plot(run_dir, log)
    }
}

fn plot(run_dir: &Path, log: &[ClassifyRecord]) -> Result<()> {
    let line =
        |f: fn(&ClassifyRecord) -> Option<f64>| log.iter().filter_map(|r| f(r).map(|v| (r.step as f64, v))).collect();
    let panels = [
        Panel::new("loss", "cross-entropy")
            .log_scale()
            .curve("train", line(|r| Some(r.train_loss)))
            .curve("dev", line(|r| r.dev_loss)),
        Panel::new("dev scores", "").curve("accuracy", line(|r| r.dev_accuracy)).curve("F1", line(|r| r.dev_f1)),
    ];
    write_curves(&run_dir.join("classify.png"), "BERT classifier", &panels)
}

fn report(cfg: &ClassifyConfig, s: &ClassifySummary) -> String {
    let data = cfg.train.as_ref().map_or("the built-in generated reviews".to_string(), |p| p.display().to_string());
    let head = if cfg.single_logit { "one logit, binary cross-entropy" } else { "softmax, cross-entropy" };
    let mut r = format!(
        "# BERT classifier\n\n{data}; {} parameters ({head}); best dev loss {:.4} at step {} of {}{}.\n\n\
         | split | accuracy | F1 |\n|---|---|---|\n| dev | {:.2}% | {:.4} |\n",
        s.parameters,
        s.dev_loss,
        s.best_step,
        s.steps,
        if s.stopped_early { " (early stopping)" } else { "" },
        100.0 * s.dev.accuracy,
        s.dev.f1()
    );
    if let Some(t) = &s.test {
        let _ = writeln!(r, "| test | {:.2}% | {:.4} |", 100.0 * t.accuracy, t.f1());
    }
    let scores = s.test.as_ref().unwrap_or(&s.dev);
    let _ = write!(
        r,
        "\nPer class ({}):\n\n| class | precision | recall | F1 | support |\n|---|---|---|---|---|\n",
        if s.test.is_some() { "test" } else { "dev" }
    );
    for (name, c) in s.label_names.iter().zip(&scores.per_class) {
        let _ = writeln!(r, "| {name} | {:.4} | {:.4} | {:.4} | {} |", c.precision, c.recall, c.f1, c.support);
    }
    let _ = write!(r, "\nExamples:\n\n");
    for e in &s.examples {
        let _ = writeln!(r, "- {e}");
    }
    r
}
