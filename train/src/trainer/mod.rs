//! The training loop: batches → forward → loss → backward → clip → optimizer step, with periodic
//! evaluation, logging to `metrics.jsonl` and `loss.png`, atomic checkpoints and exact resume.

mod checkpoint;
mod config;
mod folder;
mod metrics;

pub use checkpoint::{checkpoint_dir, latest, write_folder_atomically, TrainerState};
pub use config::{Architecture, DataConfig, DistillConfig, OptimizerConfig, OptimizerKind, TokenizerKind, TrainConfig};
pub use folder::train_to_end;
pub use metrics::{edit_distance, exact_match, perplexity, read as read_metrics, token_accuracy, MetricsRecord};

use crate::data::{step_rng, ArithmeticTask, Batch, ModularTask, TextData, NO_TARGET, STREAM_DROPOUT};
use crate::error::{Result, TrainError};
use crate::optim::{clip_grad_norm, AdaGrad, Adam, AdamW, Optimizer, Sgd};
use crate::tokenizer::{CharTokenizer, Gpt2Tokenizer, NumberTokenizer, Tokenizer};
use autograd::no_grad;
use indicatif::ProgressBar;
use model::generate::Sampling;
use model::gpt2::{Gpt2, Gpt2Config, IGNORE_INDEX};
use model::lstm::{LstmConfig, LstmLm};
use model::{load_language_model, LanguageModel};
use std::path::{Path, PathBuf};
use std::time::Instant;
use tensor::{AdamWConfig, DType, Tensor};

pub const CONFIG_FILE: &str = "config.json";
pub const METRICS_FILE: &str = "metrics.jsonl";
pub const PLOT_FILE: &str = "loss.png";
pub const TOKENIZER_FILE: &str = "tokenizer.json";
/// Train-loss-only records are logged this many times per evaluation interval.
const LOGS_PER_EVAL: u64 = 10;

enum Data {
    Arithmetic(ArithmeticTask),
    Modular(ModularTask),
    Text(TextData),
}

/// What one evaluation measured: validation loss always; the task's metrics where it has them.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Evaluation {
    pub val_loss: f64,
    /// Whole answers generated greedily that equal the truth (arithmetic), or `val_acc` (grokking).
    pub exact_match: Option<f64>,
    pub token_accuracy: Option<f64>,
    pub edit_distance: Option<f64>,
    pub train_acc: Option<f64>,
    pub val_acc: Option<f64>,
    pub weight_norm: f64,
}

/// What a run ended with.
#[derive(Debug, Clone)]
pub struct RunSummary {
    pub step: u64,
    pub val_loss: Option<f64>,
    pub exact_match: Option<f64>,
    pub elapsed_s: f64,
    pub stopped_early: bool,
    /// A few held-out problems with the model's answers (addition), or a sample (text).
    pub showcase: Vec<String>,
}

pub struct Trainer {
    pub cfg: TrainConfig,
    pub run_dir: PathBuf,
    /// GPT-2 or the LSTM language model.
    pub model: Box<dyn LanguageModel>,
    /// The distillation teacher, if the config names one.
    pub teacher: Option<Box<dyn LanguageModel>>,
    pub tokenizer: Box<dyn Tokenizer>,
    optimizer: Box<dyn Optimizer>,
    data: Data,
    state: TrainerState,
    /// Show a progress bar and samples (off in tests).
    pub interactive: bool,
}

impl Trainer {
    /// A new run in `run_dir` (which must not hold checkpoints already), from random weights or
    /// from the HF-format checkpoint `init`.
    pub fn new(cfg: TrainConfig, run_dir: &Path, init: Option<&Path>) -> Result<Self> {
        validate(&cfg)?;
        if latest(run_dir)?.is_some() {
            return Err(TrainError::Invalid(format!(
                "{} already holds a run with checkpoints; continue it with --resume, or choose another --out",
                run_dir.display()
            )));
        }
        let (data, tokenizer, tokenizer_json) = load_data(&cfg)?;
        let model = match init {
            Some(dir) => {
                let m = load_language_model(dir, DType::F32)?;
                let too_short = m.max_positions().is_some_and(|n| n < context(&cfg, &data));
                if m.vocab_size() < tokenizer.vocab_size() || too_short {
                    return Err(TrainError::Invalid(format!(
                        "--init {}: vocabulary {} / context {} is smaller than the data needs ({} / {})",
                        dir.display(),
                        m.vocab_size(),
                        m.max_positions().map_or("unlimited".into(), |n| n.to_string()),
                        tokenizer.vocab_size(),
                        context(&cfg, &data)
                    )));
                }
                m
            }
            None => random_model(&cfg, &data, tokenizer.vocab_size())?,
        };
        std::fs::create_dir_all(run_dir).map_err(|e| TrainError::io(run_dir, e))?;
        model::checkpoint::write_atomically(
            &run_dir.join(CONFIG_FILE),
            serde_json::to_string_pretty(&cfg).expect("config serialises").as_bytes(),
        )?;
        model::checkpoint::write_atomically(&run_dir.join(TOKENIZER_FILE), tokenizer_json.as_bytes())?;
        metrics::truncate_after(&run_dir.join(METRICS_FILE), 0)?;
        let teacher = load_teacher(&cfg, &data, &tokenizer_json)?;
        let optimizer = make_optimizer(&cfg.optimizer);
        let state = TrainerState { step: 0, optimizer_steps: 0, best_val_loss: None, evals_since_best: 0 };
        let run_dir = run_dir.to_path_buf();
        Ok(Self { cfg, run_dir, model, teacher, tokenizer, optimizer, data, state, interactive: false })
    }

    /// Continues the run in `run_dir` from its latest checkpoint, exactly: the same batches,
    /// dropout masks and optimizer state as if it had never stopped. `steps` may extend the run.
    pub fn resume(run_dir: &Path, steps: Option<u64>) -> Result<Self> {
        let path = run_dir.join(CONFIG_FILE);
        let text = std::fs::read_to_string(&path).map_err(|e| TrainError::io(&path, e))?;
        let mut cfg: TrainConfig = serde_json::from_str(&text)
            .map_err(|e| TrainError::format(&path, format!("not a training config: {e}")))?;
        if let Some(s) = steps {
            cfg.steps = s;
        }
        let dir = latest(run_dir)?
            .ok_or_else(|| TrainError::Invalid(format!("{} has no checkpoint to resume from", run_dir.display())))?;
        let (data, tokenizer, tokenizer_json) = load_data(&cfg)?;
        let model = load_language_model(&dir, DType::F32)?;
        let teacher = load_teacher(&cfg, &data, &tokenizer_json)?;
        let (state, optimizer_state) = checkpoint::load_state(&dir)?;
        let mut optimizer = make_optimizer(&cfg.optimizer);
        optimizer.load_state(optimizer_state, state.optimizer_steps)?;
        metrics::truncate_after(&run_dir.join(METRICS_FILE), state.step)?;
        let run_dir = run_dir.to_path_buf();
        Ok(Self { cfg, run_dir, model, teacher, tokenizer, optimizer, data, state, interactive: false })
    }

    /// Moves the model, the teacher and the optimizer state to `device`; training then runs there
    /// (batches of token ids stay on the host: the embedding and loss read them from there).
    pub fn to_device(&mut self, device: tensor::Device) -> Result<()> {
        self.model.params().to_device(device)?;
        if let Some(teacher) = &self.teacher {
            teacher.params().to_device(device)?;
        }
        self.optimizer.slots_mut().to_device(device)?;
        Ok(())
    }

    pub fn step(&self) -> u64 {
        self.state.step
    }

    fn batch(&self, step: u64, micro: u64) -> Result<Batch> {
        match &self.data {
            Data::Arithmetic(task) => task.batch(self.cfg.seed, step, micro, self.cfg.batch_size),
            Data::Modular(task) => task.train_batch(),
            Data::Text(text) => text.batch(self.cfg.seed, step, micro, self.cfg.batch_size, self.cfg.block_size, false),
        }
    }

    /// One optimisation step over `grad_accum` micro-batches; returns `(mean loss, lr)`.
    pub fn train_step(&mut self) -> Result<(f64, f64)> {
        let step = self.state.step;
        let lr = self.cfg.schedule.lr(self.cfg.optimizer.lr, step);
        let accum = self.cfg.grad_accum as u64;
        self.model.params().zero_grad();
        let mut total = 0.0;
        for micro in 0..accum {
            let batch = self.batch(step, micro)?;
            let mut rng = step_rng(self.cfg.seed, STREAM_DROPOUT, step, micro);
            let dropout = (self.cfg.dropout > 0.0).then_some(&mut rng);
            let loss = self.loss(&batch, dropout)?;
            // The gradient of the mean over micro-batches: each contributes 1/accum.
            loss.div_scalar(accum as f64)?.backward()?;
            total += loss.value().to_scalar()?;
        }
        let loss = total / accum as f64;
        if !loss.is_finite() {
            let last = latest(&self.run_dir)?.map_or("none yet".to_string(), |d| d.display().to_string());
            return Err(TrainError::Invalid(format!(
                "the loss became {loss} at step {step}; stopping. The last good checkpoint is {last}"
            )));
        }
        if let Some(max_norm) = self.cfg.clip {
            clip_grad_norm(self.model.params(), max_norm)?;
        }
        self.optimizer.step(self.model.params(), lr)?;
        self.state.step += 1;
        self.state.optimizer_steps = self.optimizer.steps();
        Ok((loss, lr))
    }

    /// The training loss of a batch: cross-entropy, or with a teacher the distillation loss
    /// `α·T²·KL(p_t ‖ p_s) + (1 − α)·CE` (F13).
    fn loss(&self, batch: &Batch, dropout: Option<&mut rand::rngs::StdRng>) -> Result<autograd::Var> {
        let logits = self.model.logits(&batch.ids, dropout)?;
        match (&self.teacher, &self.cfg.distill) {
            (Some(teacher), Some(d)) => {
                let z_t = no_grad(|| teacher.logits(&batch.ids, None))?.value();
                let loss = logits.distillation_loss(&z_t, &batch.targets, d.temperature, d.alpha, Some(IGNORE_INDEX));
                Ok(loss?)
            }
            _ => Ok(self.model.loss(&logits, &batch.targets)?),
        }
    }

    /// Validation loss and the task's metrics: for arithmetic, teacher-forced per-token accuracy and,
    /// from greedy generation, exact match and token edit distance on the held-out problems; for the
    /// grokking task, accuracy on all training and all validation pairs.
    pub fn evaluate(&self) -> Result<Evaluation> {
        self.evaluate_model(self.model.as_ref())
    }

    /// The distillation teacher's [`Evaluation`] on the same held-out data, if there is a teacher.
    pub fn evaluate_teacher(&self) -> Result<Option<Evaluation>> {
        self.teacher.as_ref().map(|t| self.evaluate_model(t.as_ref())).transpose()
    }

    fn evaluate_model(&self, model: &dyn LanguageModel) -> Result<Evaluation> {
        let weight_norm = weight_norm(model)?;
        no_grad(|| match &self.data {
            Data::Arithmetic(task) => {
                let held = task.held_out_batch()?;
                let logits = model.logits(&held.ids, None)?;
                let val_loss = model.loss(&logits, &held.targets)?.value().to_scalar()?;
                let token_accuracy = token_accuracy(&logits.value(), &held.targets, NO_TARGET)?;
                let (answers, _) = self.solve(model, task, &held.ids)?;
                let truth: Vec<String> = task.held_out.iter().map(|&(a, b)| task.answer(a, b)).collect();
                let chars = |s: &String| s.chars().collect::<Vec<_>>();
                let distance = answers.iter().zip(&truth).map(|(a, t)| edit_distance(&chars(a), &chars(t)) as f64);
                Ok(Evaluation {
                    val_loss,
                    exact_match: Some(exact_match(&answers, &truth)),
                    token_accuracy: Some(token_accuracy),
                    edit_distance: Some(distance.sum::<f64>() / truth.len().max(1) as f64),
                    weight_norm,
                    ..Evaluation::default()
                })
            }
            Data::Modular(task) => {
                let scored = |b: Batch| -> Result<(f64, f64)> {
                    let logits = model.logits(&b.ids, None)?;
                    let loss = model.loss(&logits, &b.targets)?.value().to_scalar()?;
                    Ok((loss, token_accuracy(&logits.value(), &b.targets, NO_TARGET)?))
                };
                let (_, train_acc) = scored(task.train_batch()?)?;
                let (val_loss, val_acc) = scored(task.val_batch()?)?;
                Ok(Evaluation {
                    val_loss,
                    exact_match: Some(val_acc),
                    train_acc: Some(train_acc),
                    val_acc: Some(val_acc),
                    weight_norm,
                    ..Evaluation::default()
                })
            }
            Data::Text(text) => {
                let mut total = 0.0;
                for k in 0..self.cfg.eval_batches {
                    let b = text.batch(self.cfg.seed, 0, k as u64, self.cfg.batch_size, self.cfg.block_size, true)?;
                    total += model.loss(&model.logits(&b.ids, None)?, &b.targets)?.value().to_scalar()?;
                }
                Ok(Evaluation { val_loss: total / self.cfg.eval_batches as f64, weight_norm, ..Evaluation::default() })
            }
        })
    }

    /// The model's greedy answers to addition problems (`ids` hold whole problems; the prompt is
    /// everything up to `=`). Returns the answers and the prompts as text.
    fn solve(
        &self,
        model: &dyn LanguageModel,
        task: &ArithmeticTask,
        ids: &Tensor,
    ) -> Result<(Vec<String>, Vec<String>)> {
        let prompt = ids.narrow(1, 0, task.answer_start())?;
        let out = model.generate(&prompt, task.answer_width(), Sampling::Greedy, &mut tensor::rng(0))?;
        let width = out.shape()[1];
        let rows: Vec<Vec<u32>> =
            out.to_vec::<i64>()?.chunks(width).map(|r| r.iter().map(|&i| i as u32).collect()).collect();
        let mut answers = Vec::new();
        let mut prompts = Vec::new();
        for row in rows {
            prompts.push(self.tokenizer.decode(&row[..task.answer_start()])?);
            answers.push(self.tokenizer.decode(&row[task.answer_start()..])?);
        }
        Ok((answers, prompts))
    }

    /// A few held-out problems with the model's answers, or a text sample.
    pub fn showcase(&self) -> Result<Vec<String>> {
        no_grad(|| match &self.data {
            Data::Arithmetic(task) => {
                let held = task.held_out_batch()?.ids.narrow(0, 0, 6.min(task.held_out.len()))?;
                let (answers, prompts) = self.solve(self.model.as_ref(), task, &held)?;
                Ok(prompts
                    .iter()
                    .zip(&answers)
                    .zip(&task.held_out)
                    .map(|((p, a), &(x, y))| {
                        format!("{p}{a}  {}", if *a == task.answer(x, y) { "✓" } else { "✗ (wrong)" })
                    })
                    .collect())
            }
            Data::Modular(task) => {
                let val = task.val_batch()?;
                let n = 6.min(task.val.len());
                let predicted = self.model.logits(&val.ids.narrow(0, 0, n)?, None)?.value().argmax(-1, false)?;
                let predicted = predicted.to_vec::<i64>()?;
                Ok(task.val[..n]
                    .iter()
                    .enumerate()
                    .map(|(i, &(a, b))| {
                        let (guess, truth) = (predicted[3 * i + 2], ((a + b) % task.modulus) as i64);
                        let verdict = if guess == truth { "✓" } else { "✗ (wrong)" };
                        format!("{a} + {b} mod {} = {guess}  {verdict}", task.modulus)
                    })
                    .collect())
            }
            Data::Text(_) => {
                let start = Tensor::from_vec(vec![0i64], &[1, 1])?;
                let sampling = Sampling::Sample { temperature: 0.8, top_k: Some(40), top_p: None };
                let out = self.model.generate(
                    &start,
                    self.cfg.block_size.min(200) - 1,
                    sampling,
                    &mut tensor::rng(self.state.step),
                )?;
                let ids: Vec<u32> = out.to_vec::<i64>()?.iter().map(|&i| i as u32).collect();
                Ok(vec![self.tokenizer.decode(&ids)?])
            }
        })
    }

    fn save_checkpoint(&self) -> Result<PathBuf> {
        let tokenizer_json = std::fs::read(self.run_dir.join(TOKENIZER_FILE))
            .map_err(|e| TrainError::io(&self.run_dir.join(TOKENIZER_FILE), e))?;
        checkpoint::save(&self.run_dir, &self.state, &self.optimizer.state(), |dir| {
            self.model.save(dir)?;
            model::checkpoint::write_atomically(&dir.join(TOKENIZER_FILE), &tokenizer_json)?;
            Ok(())
        })
    }

    /// Trains until step `until` (default: the configured steps), evaluating, logging and
    /// checkpointing every `eval_interval` steps and at the end.
    pub fn run(&mut self, until: Option<u64>) -> Result<RunSummary> {
        let end = until.unwrap_or(self.cfg.steps).min(self.cfg.steps);
        let started = Instant::now();
        let bar = crate::progress::progress_bar(end, self.state.step, self.interactive);
        let tokens_per_step = self.tokens_per_step() as f64;
        let log_every = (self.cfg.eval_interval / LOGS_PER_EVAL).max(1);
        let (mut losses, mut last_eval, mut stopped_early) = (Vec::new(), (None, None), false);
        let mut window_start = Instant::now();
        while self.state.step < end {
            let (loss, lr) = self.train_step()?;
            losses.push(loss);
            let step = self.state.step;
            let is_eval = step.is_multiple_of(self.cfg.eval_interval) || step == end;
            if step.is_multiple_of(log_every) || is_eval {
                let train_loss = losses.iter().sum::<f64>() / losses.len() as f64;
                let tokens_per_s = tokens_per_step * losses.len() as f64 / window_start.elapsed().as_secs_f64();
                losses.clear();
                let mut record = MetricsRecord {
                    step,
                    train_loss,
                    lr,
                    tokens_per_s,
                    elapsed_s: started.elapsed().as_secs_f64(),
                    ..MetricsRecord::default()
                };
                if is_eval {
                    let e = self.evaluate()?;
                    record.val_loss = Some(e.val_loss);
                    record.val_perplexity = Some(perplexity(e.val_loss));
                    (record.exact_match, record.token_accuracy, record.edit_distance) =
                        (e.exact_match, e.token_accuracy, e.edit_distance);
                    (record.train_acc, record.val_acc, record.weight_norm) =
                        (e.train_acc, e.val_acc, Some(e.weight_norm));
                    last_eval = (Some(e.val_loss), e.exact_match);
                    stopped_early = self.note_validation(e.val_loss);
                }
                metrics::append(&self.run_dir.join(METRICS_FILE), &record)?;
                bar.set_message(format!(
                    "loss {train_loss:.4} lr {lr:.2e} {tokens_per_s:.0} tok/s{}",
                    em_text(record.exact_match.or(last_eval.1))
                ));
                if is_eval {
                    self.log_eval(&bar, &record)?;
                }
                window_start = Instant::now();
            }
            bar.set_position(step);
            if stopped_early {
                break;
            }
        }
        bar.finish();
        Ok(RunSummary {
            step: self.state.step,
            val_loss: last_eval.0,
            exact_match: last_eval.1,
            elapsed_s: started.elapsed().as_secs_f64(),
            stopped_early,
            showcase: self.showcase()?,
        })
    }

    /// Tracks the best validation loss; true when patience has run out (early stopping, F9).
    fn note_validation(&mut self, val: f64) -> bool {
        if self.state.best_val_loss.is_none_or(|best| val < best) {
            self.state.best_val_loss = Some(val);
            self.state.evals_since_best = 0;
        } else {
            self.state.evals_since_best += 1;
        }
        self.cfg.patience.is_some_and(|p| self.state.evals_since_best >= p)
    }

    /// Plot, checkpoint, and (interactively) a line of results and a sample.
    fn log_eval(&self, bar: &ProgressBar, record: &MetricsRecord) -> Result<()> {
        let records = metrics::read(&self.run_dir.join(METRICS_FILE))?;
        crate::plot::write_loss_plot(&self.run_dir.join(PLOT_FILE), &records, &self.run_title())?;
        self.save_checkpoint()?;
        if self.interactive {
            let val = record.val_loss.unwrap_or(f64::NAN);
            bar.println(format!(
                "step {:>6}  train {:.4}  val {val:.4}  ppl {:.2}{}",
                record.step,
                record.train_loss,
                perplexity(val),
                em_text(record.exact_match)
            ));
            if let Data::Text(_) = self.data {
                bar.println(format!("  sample: {:?}", self.showcase()?.join("")));
            }
        }
        Ok(())
    }

    fn run_title(&self) -> String {
        let what = match &self.cfg.data {
            DataConfig::Arithmetic { op, digits, .. } => crate::data::describe_task(*op, *digits),
            DataConfig::Modular { modulus, train_fraction } => {
                format!("addition mod {modulus}, {:.0}% of pairs", 100.0 * train_fraction)
            }
            DataConfig::Text { path, .. } => path.file_name().unwrap_or_default().to_string_lossy().to_string(),
        };
        format!("{what}: {}, {} parameters", self.model.describe(), self.model.params().numel())
    }

    /// Tokens the model reads per optimisation step (the grokking task is full-batch).
    pub fn tokens_per_step(&self) -> usize {
        let rows = match &self.data {
            Data::Modular(task) => task.train.len(),
            _ => self.cfg.batch_size * self.cfg.grad_accum,
        };
        rows * context(&self.cfg, &self.data)
    }
}

/// `‖θ‖₂ = sqrt(Σ θᵢ²)` over every parameter.
pub fn weight_norm(model: &dyn LanguageModel) -> Result<f64> {
    let mut sum = 0.0;
    for (_, p) in model.params().iter() {
        let v = p.value();
        sum += v.mul(&v)?.sum_all()?.to_scalar()?;
    }
    Ok(sum.sqrt())
}

fn em_text(em: Option<f64>) -> String {
    em.map_or(String::new(), |e| format!("  exact_match {e:.3}"))
}

fn validate(cfg: &TrainConfig) -> Result<()> {
    let bad = |m: String| Err(TrainError::Invalid(m));
    if cfg.steps == 0 || cfg.batch_size == 0 || cfg.grad_accum == 0 || cfg.eval_interval == 0 {
        return bad("steps, batch size, grad accumulation and eval interval must be positive".into());
    }
    if cfg.optimizer.lr.is_nan() || cfg.optimizer.lr <= 0.0 {
        return bad(format!("learning rate must be positive, got {}", cfg.optimizer.lr));
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
    if matches!(cfg.data, DataConfig::Modular { .. }) && cfg.grad_accum != 1 {
        return bad(format!(
            "the grokking task trains on all its pairs at every step; grad accumulation must be 1, got {}",
            cfg.grad_accum
        ));
    }
    Ok(())
}

/// Tokens per training row.
fn context(cfg: &TrainConfig, data: &Data) -> usize {
    match data {
        Data::Arithmetic(task) => task.len() - 1,
        Data::Modular(_) => 3,
        Data::Text(_) => cfg.block_size,
    }
}

/// A freshly initialised model of the configured architecture for `vocab` tokens.
fn random_model(cfg: &TrainConfig, data: &Data, vocab: usize) -> Result<Box<dyn LanguageModel>> {
    Ok(match cfg.arch {
        Architecture::Gpt => {
            let mut c = Gpt2Config::new(vocab, context(cfg, data), cfg.n_embd, cfg.n_layer, cfg.n_head);
            (c.resid_pdrop, c.embd_pdrop, c.attn_pdrop) = (cfg.dropout, cfg.dropout, cfg.dropout);
            Box::new(Gpt2::random(c, cfg.seed, DType::F32)?)
        }
        Architecture::Lstm { hidden } => {
            let c = LstmConfig { dropout: cfg.dropout, ..LstmConfig::new(vocab, cfg.n_embd, hidden) };
            Box::new(LstmLm::random(c, cfg.seed, DType::F32)?)
        }
    })
}

fn make_optimizer(o: &OptimizerConfig) -> Box<dyn Optimizer> {
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

/// The data, its tokenizer, and the tokenizer's description for `tokenizer.json`.
fn load_data(cfg: &TrainConfig) -> Result<(Data, Box<dyn Tokenizer>, String)> {
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
                let data = TextData::load(path, &tok, "gpt2", *val_fraction)?;
                Ok((Data::Text(data), Box::new(tok), json))
            }
        },
    }
}

/// The teacher a distillation config names, checked against the data: the same tokenizer, and
/// a context long enough for its rows.
fn load_teacher(cfg: &TrainConfig, data: &Data, tokenizer_json: &str) -> Result<Option<Box<dyn LanguageModel>>> {
    let Some(d) = &cfg.distill else { return Ok(None) };
    if !(d.temperature > 0.0 && (0.0..=1.0).contains(&d.alpha)) {
        return Err(TrainError::Invalid(format!(
            "distillation needs temperature > 0 and alpha in [0, 1], got {} and {}",
            d.temperature, d.alpha
        )));
    }
    let dir = checkpoint_dir(&d.teacher)?;
    let same_tokenizer = std::fs::read_to_string(dir.join(TOKENIZER_FILE))
        .ok()
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

/// The tokenizer a run or checkpoint folder describes in its `tokenizer.json`.
pub fn load_tokenizer(dir: &Path) -> Result<Box<dyn Tokenizer>> {
    let path = dir.join(TOKENIZER_FILE);
    let text = std::fs::read_to_string(&path).map_err(|e| TrainError::io(&path, e))?;
    let v: serde_json::Value = serde_json::from_str(&text).map_err(|e| TrainError::format(&path, e.to_string()))?;
    let count = v["count"].as_u64().and_then(|c| u32::try_from(c).ok());
    match (v["kind"].as_str(), v["chars"].as_str(), v["vocab"].as_str()) {
        (Some("numbers"), _, _) if count.is_some() => Ok(Box::new(NumberTokenizer::new(count.unwrap_or_default()))),
        (Some("char"), Some(chars), _) => Ok(Box::new(CharTokenizer::from_chars(chars.chars().collect()))),
        (Some("gpt2"), _, Some(vocab)) => Ok(Box::new(Gpt2Tokenizer::load(Path::new(vocab))?)),
        _ => Err(TrainError::format(
            &path,
            "expected {\"kind\": \"char\", \"chars\": …}, {\"kind\": \"gpt2\", \"vocab\": …} or {\"kind\": \"numbers\", \"count\": …}",
        )),
    }
}
