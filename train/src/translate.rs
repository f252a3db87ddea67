//! Training and running the encoder-decoder Transformer (F4, F5) on the built-in translation task,
//! numbers from digits to English words: teacher forcing with AdamW, then greedy and beam-search
//! decoding (F14) of held-out numbers, scored by exact match, corpus BLEU-4 and ROUGE-1/2/L (F15).

use crate::data::number_words::{digit_tokens, number_words, vocabulary, NumberWordsTask, MAX_NUMBER};
use crate::error::{Result, TrainError};
use crate::fit::{fit, start_run, Descent, Evaluation, Plan, Progress, Standing, StepResult, Task};
use crate::optim::{AdamW, Schedule};
use crate::plot::{write_curves, Panel};
use crate::scores::{corpus_bleu, rouge_l, rouge_n, Smoothing};
use crate::trainer::write_folder_atomically;
use autograd::no_grad;
use model::gpt2::IGNORE_INDEX;
use model::seq2seq::{Seq2SeqConfig, Transformer};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::Path;
use tensor::{AdamWConfig, Device, Tensor};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TranslateConfig {
    pub d_model: usize,
    pub n_head: usize,
    /// Layers in each of the encoder and decoder.
    pub layers: usize,
    pub steps: u64,
    pub batch_size: usize,
    pub lr: f64,
    pub weight_decay: f64,
    pub warmup: u64,
    pub eval_interval: u64,
    /// Held-out numbers, never trained on, for the scores.
    pub held_out: usize,
    pub beam_width: usize,
    /// α in the beam's `log P / |y|^α`.
    pub length_penalty: f64,
    pub seed: u64,
}

impl Default for TranslateConfig {
    fn default() -> Self {
        Self {
            d_model: 64,
            n_head: 4,
            layers: 2,
            steps: 800,
            batch_size: 64,
            lr: 1e-3,
            weight_decay: 0.01,
            warmup: 100,
            eval_interval: 100,
            held_out: 500,
            beam_width: 4,
            length_penalty: 1.0,
            seed: 1337,
        }
    }
}

/// One line of `metrics.jsonl`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TranslateRecord {
    pub step: u64,
    pub train_loss: f64,
    pub lr: f64,
    pub val_loss: f64,
    /// Greedy decoding of the held-out numbers.
    pub exact_match: f64,
    pub bleu: f64,
    pub elapsed_s: f64,
}

/// Scores of decoded held-out numbers against the true words.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TranslationScores {
    pub exact_match: f64,
    /// Corpus BLEU-4 with the brevity penalty, in [0, 1].
    pub bleu: f64,
    /// Mean F1 of ROUGE-1, ROUGE-2, ROUGE-L over sentences.
    pub rouge1: f64,
    pub rouge2: f64,
    pub rouge_l: f64,
}

/// The folder with the trained model and its `vocab.json`.
pub const MODEL_DIR: &str = "model";
const VOCAB_FILE: &str = "vocab.json";
/// Longest sequence: 6 digits + EOS, or the words of the longest number + BOS/EOS.
const MAX_LEN: usize = 16;

/// A model with its vocabulary: turns digits into words.
pub struct Translator {
    pub model: Transformer,
    pub vocab: Vec<String>,
    ids: HashMap<String, u32>,
}

impl Translator {
    fn new(model: Transformer, vocab: Vec<String>) -> Self {
        let ids = vocab.iter().enumerate().map(|(i, t)| (t.clone(), i as u32)).collect();
        Self { model, vocab, ids }
    }

    /// Loads `model/` as written by [`run_translate_train`].
    pub fn load(dir: &Path) -> Result<Self> {
        let path = dir.join(VOCAB_FILE);
        let text = std::fs::read_to_string(&path).map_err(|e| TrainError::io(&path, e))?;
        let vocab: Vec<String> = serde_json::from_str(&text).map_err(|e| TrainError::format(&path, e.to_string()))?;
        let model = Transformer::load(dir)?;
        if vocab.len() != model.config.vocab_size {
            return Err(TrainError::format(
                &path,
                format!("{} tokens, the model has {}", vocab.len(), model.config.vocab_size),
            ));
        }
        if let Some(missing) = vocabulary().into_iter().find(|t| !vocab.contains(t)) {
            return Err(TrainError::format(&path, format!("lacks the task's token {missing:?}")));
        }
        Ok(Self::new(model, vocab))
    }

    fn id(&self, token: &str) -> i64 {
        i64::from(self.ids[token])
    }

    /// Source ids `(B, S)`: each number's digits then EOS, padded.
    fn sources(&self, numbers: &[u64]) -> Result<Tensor> {
        let rows: Vec<Vec<i64>> = numbers
            .iter()
            .map(|&n| digit_tokens(n).iter().map(|d| self.id(d)).chain([i64::from(self.model.config.eos_id)]).collect())
            .collect();
        padded(&rows, i64::from(self.model.config.pad_id))
    }

    /// Teacher forcing: decoder inputs `BOS y` and targets `y EOS` (−100 at padding), `(B, T)`.
    fn targets(&self, numbers: &[u64]) -> Result<(Tensor, Tensor)> {
        let c = &self.model.config;
        let words: Vec<Vec<i64>> =
            numbers.iter().map(|&n| number_words(n).iter().map(|w| self.id(w)).collect()).collect();
        let inputs: Vec<Vec<i64>> = words.iter().map(|w| [vec![i64::from(c.bos_id)], w.clone()].concat()).collect();
        let targets: Vec<Vec<i64>> = words.iter().map(|w| [w.clone(), vec![i64::from(c.eos_id)]].concat()).collect();
        Ok((padded(&inputs, i64::from(c.pad_id))?, padded(&targets, IGNORE_INDEX)?))
    }

    fn loss(&self, numbers: &[u64]) -> Result<autograd::Var> {
        let (tgt_in, targets) = self.targets(numbers)?;
        Ok(self.model.loss(&self.model.forward(&self.sources(numbers)?, &tgt_in)?, &targets)?)
    }

    fn words(&self, ids: &[u32]) -> Vec<String> {
        ids.iter().map(|&i| self.vocab.get(i as usize).cloned().unwrap_or_else(|| "<?>".into())).collect()
    }

    /// Greedy translations of `numbers`.
    pub fn greedy(&self, numbers: &[u64]) -> Result<Vec<Vec<String>>> {
        let out = self.model.greedy(&self.sources(numbers)?, MAX_LEN - 1)?;
        Ok(out.iter().map(|ids| self.words(ids)).collect())
    }

    /// The `width` best translations of one number by beam search, with their log-probabilities.
    pub fn beam(&self, number: u64, width: usize, length_penalty: f64) -> Result<Vec<(Vec<String>, f64)>> {
        let hyps = self.model.beam(&self.sources(&[number])?, width, MAX_LEN - 1, length_penalty)?;
        Ok(hyps.iter().map(|h| (self.words(&h.tokens), h.log_prob)).collect())
    }

    /// Scores of the translations of `numbers`: greedy, or by beam search with `(width, α)`.
    pub fn score(&self, numbers: &[u64], beam: Option<(usize, f64)>) -> Result<TranslationScores> {
        let candidates = match beam {
            None => numbers.chunks(256).map(|c| self.greedy(c)).collect::<Result<Vec<_>>>()?.concat(),
            Some((width, alpha)) => numbers
                .iter()
                .map(|&n| Ok(self.beam(n, width, alpha)?.into_iter().next().map(|h| h.0).unwrap_or_default()))
                .collect::<Result<Vec<_>>>()?,
        };
        let truth: Vec<Vec<String>> =
            numbers.iter().map(|&n| number_words(n).iter().map(|w| w.to_string()).collect()).collect();
        let references: Vec<Vec<Vec<String>>> = truth.iter().map(|t| vec![t.clone()]).collect();
        let bleu = corpus_bleu(&candidates, &references, Smoothing::None)?.score;
        let mean = |f: &dyn Fn(&[String], &[String]) -> f64| {
            candidates.iter().zip(&truth).map(|(c, t)| f(c, t)).sum::<f64>() / numbers.len().max(1) as f64
        };
        Ok(TranslationScores {
            exact_match: mean(&|c, t| f64::from(u8::from(c == t))),
            bleu,
            rouge1: mean(&|c, t| rouge_n(c, t, 1).f1),
            rouge2: mean(&|c, t| rouge_n(c, t, 2).f1),
            rouge_l: mean(&|c, t| rouge_l(c, t).f1),
        })
    }
}

/// Rows padded with `fill` to the longest, as one `(B, L)` tensor.
fn padded(rows: &[Vec<i64>], fill: i64) -> Result<Tensor> {
    let width = rows.iter().map(Vec::len).max().unwrap_or(0);
    let flat: Vec<i64> =
        rows.iter().flat_map(|r| r.iter().copied().chain(std::iter::repeat(fill)).take(width)).collect();
    Ok(Tensor::from_vec(flat, &[rows.len(), width])?)
}

/// A number given on the command line, checked against the task's range.
pub fn parse_number(text: &str) -> Result<u64> {
    match text.trim().parse::<u64>() {
        Ok(n) if n <= MAX_NUMBER => Ok(n),
        _ => Err(TrainError::Invalid(format!("{text:?} is not a whole number from 0 to {MAX_NUMBER}"))),
    }
}

fn validate(cfg: &TranslateConfig) -> Result<()> {
    let sizes =
        [cfg.steps as usize, cfg.batch_size, cfg.eval_interval as usize, cfg.held_out, cfg.beam_width, cfg.layers];
    if sizes.contains(&0)
        || cfg.n_head == 0
        || !cfg.d_model.is_multiple_of(cfg.n_head)
        || cfg.lr.is_nan()
        || cfg.lr <= 0.0
    {
        return Err(TrainError::Invalid(format!(
            "steps, batch size, eval interval, held-out count, beam width and layers must be positive, d_model a \
             multiple of the heads and the learning rate > 0; got {cfg:?}"
        )));
    }
    Ok(())
}

/// What a run ended with: greedy and beam scores on the held-out numbers, and examples.
pub struct TranslateSummary {
    pub greedy: TranslationScores,
    pub beam: TranslationScores,
    pub last: TranslateRecord,
    pub parameters: usize,
    pub examples: Vec<String>,
    pub report: String,
}

/// Trains on `device` in `run_dir`; the model is written to `run_dir/model` at every evaluation.
pub fn run_translate_train(
    cfg: &TranslateConfig,
    run_dir: &Path,
    device: Device,
    interactive: bool,
) -> Result<TranslateSummary> {
    validate(cfg)?;
    let _lock = start_run(run_dir, cfg)?;
    let task = NumberWordsTask::new(cfg.held_out, cfg.seed);
    let vocab = vocabulary();
    let config = Seq2SeqConfig::new(vocab.len(), cfg.d_model, cfg.n_head, cfg.layers, MAX_LEN, [0, 1, 2]);
    let translator = Translator::new(Transformer::random(config, cfg.seed)?, vocab);
    translator.model.params.to_device(device)?; // batches stay on the host: the embeddings and the loss read them there
    let adamw = AdamWConfig { lr: cfg.lr, beta1: 0.9, beta2: 0.98, eps: 1e-9, weight_decay: cfg.weight_decay };
    let descent = Descent {
        optimizer: AdamW::new(adamw),
        lr: cfg.lr,
        schedule: Schedule::WarmupCosine { warmup: cfg.warmup, total: cfg.steps, min_ratio: 0.1 },
    };
    let mut training = Translation { translator, task, batch_size: cfg.batch_size, descent };
    let mut fitted = fit(&mut training, &Plan::evaluating_every(cfg.steps, cfg.eval_interval, interactive), run_dir)?;
    let Translation { translator, task, .. } = training;
    let params = &translator.model.params;
    let greedy = translator.score(&task.held_out, None)?;
    let beam = translator.score(&task.held_out, Some((cfg.beam_width, cfg.length_penalty)))?;
    let shown = &task.held_out[..8.min(task.held_out.len())];
    let examples = shown
        .iter()
        .zip(translator.greedy(shown)?)
        .map(|(&n, words)| {
            let verdict = if words.join(" ") == number_words(n).join(" ") { "✓" } else { "✗" };
            format!("{n} → {}  {verdict}", words.join(" "))
        })
        .collect();
    let last = fitted.log.pop().expect("the last step is evaluated");
    let mut summary =
        TranslateSummary { greedy, beam, last, parameters: params.numel(), examples, report: String::new() };
    summary.report = report(cfg, &summary);
    model::checkpoint::write_atomically(&run_dir.join("report.md"), summary.report.as_bytes())?;
    Ok(summary)
}

/// Training the translator as a [`Task`]: a batch of the task's training numbers each step, the
/// held-out numbers scored (loss, greedy exact match and BLEU) at each evaluation.
struct Translation {
    translator: Translator,
    task: NumberWordsTask,
    batch_size: usize,
    descent: Descent,
}

impl Task for Translation {
    type Record = TranslateRecord;

    fn train_step(&mut self, step: u64) -> Result<StepResult> {
        let numbers = self.task.train_numbers(step, self.batch_size);
        self.descent.step(&self.translator.model.params, step, || self.translator.loss(&numbers))
    }

    fn evaluate(&mut self, progress: &Progress) -> Result<Evaluation<TranslateRecord>> {
        let held_out = &self.task.held_out;
        let val_loss = no_grad(|| -> Result<f64> {
            let total = held_out
                .chunks(256)
                .map(|c| Ok(self.translator.loss(c)?.value().to_scalar()? * c.len() as f64))
                .sum::<Result<f64>>()?;
            Ok(total / held_out.len() as f64)
        })?;
        let greedy = self.translator.score(held_out, None)?;
        let record = TranslateRecord {
            step: progress.step,
            train_loss: progress.train_loss,
            lr: progress.lr,
            val_loss,
            exact_match: greedy.exact_match,
            bleu: greedy.bleu,
            elapsed_s: progress.elapsed_s,
        };
        let message = format!("val loss {val_loss:.4} exact match {:.3} BLEU {:.3}", greedy.exact_match, greedy.bleu);
        Ok(Evaluation { record, val_loss, message })
    }

    fn keep(&mut self, run_dir: &Path, _: &Standing, _improved: bool) -> Result<()> {
        // The latest model, at every evaluation.
        write_folder_atomically(&run_dir.join(MODEL_DIR), |dir| {
            self.translator.model.save(dir)?;
            let vocab = serde_json::to_string(&self.translator.vocab).expect("vocabulary serialises");
            Ok(model::checkpoint::write_atomically(&dir.join(VOCAB_FILE), vocab.as_bytes())?)
        })
    }

    fn plot(&self, run_dir: &Path, log: &[TranslateRecord]) -> Result<()> {
        plot(run_dir, log)
    }
}

fn plot(run_dir: &Path, log: &[TranslateRecord]) -> Result<()> {
    let line = |f: fn(&TranslateRecord) -> f64| log.iter().map(|r| (r.step as f64, f(r))).collect();
    let panels = [
        Panel::new("loss", "cross-entropy")
            .log_scale()
            .curve("train", line(|r| r.train_loss))
            .curve("held out", line(|r| r.val_loss)),
        Panel::new("held-out numbers, greedy", "")
            .curve("exact match", line(|r| r.exact_match))
            .curve("BLEU-4", line(|r| r.bleu)),
    ];
    write_curves(&run_dir.join("translate.png"), "encoder-decoder Transformer: digits → English words", &panels)
}

fn report(cfg: &TranslateConfig, s: &TranslateSummary) -> String {
    let row = |name: &str, t: &TranslationScores| {
        format!(
            "| {name} | {:.1}% | {:.2} | {:.4} | {:.4} | {:.4} |\n",
            100.0 * t.exact_match,
            100.0 * t.bleu,
            t.rouge1,
            t.rouge2,
            t.rouge_l
        )
    };
    let examples: String = s.examples.iter().map(|e| format!("- {e}\n")).collect();
    format!(
        "# Encoder-decoder Transformer: numbers from digits to words\n\n{} parameters ({} + {} layers, d = {}, \
         {} heads), {} steps of {} numbers; {} held-out numbers.\n\n\
         | decoding | exact match | BLEU-4 | ROUGE-1 F | ROUGE-2 F | ROUGE-L F |\n|---|---|---|---|---|---|\n{}{}\n\
         Greedy examples:\n\n{examples}",
        s.parameters,
        cfg.layers,
        cfg.layers,
        cfg.d_model,
        cfg.n_head,
        s.last.step,
        cfg.batch_size,
        cfg.held_out,
        row("greedy", &s.greedy),
        row(&format!("beam (width {}, α = {})", cfg.beam_width, cfg.length_penalty), &s.beam),
    )
}
