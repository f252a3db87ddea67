//! The training loop: batches → forward → loss → backward → clip → optimizer step, with periodic
//! evaluation, logging to `metrics.jsonl` and `loss.png`, atomic checkpoints and exact resume.

mod checkpoint;
mod config;
mod data_place;
mod evaluation;
mod folder;
mod lock;
mod memory;
mod presets;
mod setup;

pub use crate::metrics::{edit_distance, exact_match, perplexity, read as read_metrics, token_accuracy, MetricsRecord};
pub use checkpoint::{checkpoint_dir, latest, load_state, write_folder_atomically, TrainerState};
pub use config::{
    unknown_key_hint, Architecture, DataConfig, DistillConfig, OptimizerConfig, OptimizerKind, TokenizerKind,
    TrainConfig,
};
pub use data_place::absolute;
pub use evaluation::{weight_norm, Evaluation};
pub use folder::train_to_end;
pub use lock::{RunLock, LOCK_FILE};
pub use memory::{available_bytes, training_bytes};
pub use presets::Preset;
pub use setup::{load_tokenizer, validate as validate_config};

use crate::data::{step_rng, ArithmeticTask, Batch, ModularTask, TextData, STREAM_DROPOUT};
use crate::distributed::{self, Collective, SingleProcess, ZeroShards};
use crate::error::{Result, TrainError};
use crate::fit::{self, fit, Plan, Progress, Standing, StepResult, Task};
use crate::metrics;
use crate::optim::Optimizer;
use crate::tokenizer::Tokenizer;
use autograd::no_grad;
use model::gpt2::IGNORE_INDEX;
use model::{load_language_model, LanguageModel};
use setup::{check_data_fits, context, load_data, load_teacher, make_optimizer, random_model, validate};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use tensor::DType;

pub const CONFIG_FILE: &str = "config.json";
pub use crate::fit::METRICS_FILE;
pub const PLOT_FILE: &str = "loss.png";
/// The project's own description of a run's tokenizer (HF's `tokenizer.json` is another format,
/// so that name is left to it; runs written before read theirs as [`LEGACY_TOKENIZER_FILE`]).
pub const TOKENIZER_FILE: &str = "emergent_tokenizer.json";
pub const LEGACY_TOKENIZER_FILE: &str = "tokenizer.json";
/// Train-loss-only records are logged this many times per evaluation interval.
const LOGS_PER_EVAL: u64 = 10;

enum Data {
    Arithmetic(ArithmeticTask),
    Modular(ModularTask),
    Text(TextData),
}

impl Data {
    /// What a text file's or shards' ids were read from (see [`crate::data::fingerprint`]).
    fn fingerprint(&self) -> Option<&str> {
        match self {
            Data::Text(text) => Some(&text.fingerprint),
            _ => None,
        }
    }
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
    /// The processes training together, and how the optimizer state is split among them.
    ranks: Ranks,
    /// This process's hold on the run folder (rank 0's; the other ranks never write to it).
    _lock: Option<RunLock>,
}

impl Trainer {
    /// A new run in `run_dir` (which must not hold checkpoints already), from random weights or
    /// from the HF-format checkpoint `init`.
    pub fn new(cfg: TrainConfig, run_dir: &Path, init: Option<&Path>) -> Result<Self> {
        Self::new_in(Rc::new(SingleProcess), cfg, run_dir, init)
    }

    /// [`Trainer::new`] as one rank of `world`: every rank must be given the same settings and
    /// data (checked); only rank 0 locks and writes the run folder.
    pub fn new_in(
        world: Rc<dyn Collective>,
        mut cfg: TrainConfig,
        run_dir: &Path,
        init: Option<&Path>,
    ) -> Result<Self> {
        validate(&cfg)?;
        let writer = world.rank() == 0;
        let refuse_existing = || -> Result<()> {
            match latest(run_dir)? {
                Some(_) => Err(TrainError::Invalid(format!(
                    "{} already holds a run with checkpoints; continue it with --resume, or choose another --out",
                    run_dir.display()
                ))),
                None => Ok(()),
            }
        };
        // An existing folder is locked at once (so a run in progress there is named); a new one only
        // once the settings and data have proved good, so a refused run leaves no folder behind.
        let early_lock = (writer && run_dir.exists()).then(|| RunLock::acquire(run_dir)).transpose()?;
        refuse_existing()?;
        let (data, tokenizer, tokenizer_json) = load_data(&cfg)?;
        cfg.data_fingerprint = data.fingerprint().map(String::from);
        check_data_fits(&cfg, &data)?;
        memory::check_fits(&cfg, tokenizer.vocab_size(), context(&cfg, &data), memory::available_bytes())?;
        let model = match init {
            Some(dir) => {
                let m = load_language_model(dir, DType::F32)?;
                let too_short = m.max_positions().is_some_and(|n| n < context(&cfg, &data));
                if m.vocab_size() != tokenizer.vocab_size() || too_short {
                    return Err(TrainError::Invalid(format!(
                        "--init {}: vocabulary {} / context {} does not fit the data, which needs a vocabulary of \
                         exactly {} (the tokenizer's) and a context of at least {}",
                        dir.display(),
                        m.vocab_size(),
                        m.max_positions().map_or("unlimited".into(), |n| n.to_string()),
                        tokenizer.vocab_size(),
                        context(&cfg, &data)
                    )));
                }
                m
            }
            None => random_model(&cfg, &data, tokenizer.as_ref())?,
        };
        let teacher = load_teacher(&cfg, &data, &tokenizer_json)?;
        let config_json = serde_json::to_string_pretty(&cfg).expect("config serialises");
        distributed::check_same_run(world.as_ref(), crate::data::fnv1a(config_json.as_bytes()))?;
        let lock = match (early_lock, writer) {
            (Some(lock), _) => Some(lock),
            (None, true) => Some(RunLock::acquire(run_dir)?),
            (None, false) => None,
        };
        if writer {
            refuse_existing()?;
            model::checkpoint::write_atomically(&run_dir.join(CONFIG_FILE), config_json.as_bytes())?;
            model::checkpoint::write_atomically(&run_dir.join(TOKENIZER_FILE), tokenizer_json.as_bytes())?;
            metrics::truncate_after(&run_dir.join(METRICS_FILE), 0)?;
        }
        let optimizer = make_optimizer(&cfg.optimizer);
        let state = TrainerState { step: 0, optimizer_steps: 0, best_val_loss: None, evals_since_best: 0 };
        let run_dir = run_dir.to_path_buf();
        let interactive = false;
        let ranks = Ranks::new(world, &cfg, model.as_ref());
        Ok(Self { cfg, run_dir, model, teacher, tokenizer, optimizer, data, state, interactive, ranks, _lock: lock })
    }

    /// Continues the run in `run_dir` from its latest checkpoint, exactly: the same batches,
    /// dropout masks and optimizer state as if it had never stopped. `steps` may extend the run;
    /// `moved_data` is the new place of a text file or shards that moved since (it must be the same
    /// data, its [`crate::data::fingerprint`] unchanged), recorded in the run's config from then on.
    /// A checkpoint that cannot be loaded is skipped, with a note on stderr, for the one before it.
    pub fn resume(run_dir: &Path, steps: Option<u64>, moved_data: Option<&Path>) -> Result<Self> {
        Self::resume_in(Rc::new(SingleProcess), run_dir, steps, moved_data)
    }

    /// [`Trainer::resume`] as one rank of `world` (every rank reads the run folder; rank 0 alone
    /// locks and writes it).
    pub fn resume_in(
        world: Rc<dyn Collective>,
        run_dir: &Path,
        steps: Option<u64>,
        moved_data: Option<&Path>,
    ) -> Result<Self> {
        let writer = world.rank() == 0;
        let path = run_dir.join(CONFIG_FILE);
        let text = std::fs::read_to_string(&path).map_err(|e| TrainError::io(&path, e))?;
        let mut cfg: TrainConfig = serde_json::from_str(&text)
            .map_err(|e| TrainError::format(&path, format!("not a training config: {e}")))?;
        if let Some(s) = steps {
            cfg.steps = s;
        }
        validate(&cfg)?;
        let lock = writer.then(|| RunLock::acquire(run_dir)).transpose()?;
        let moved = data_place::locate(&mut cfg, run_dir, moved_data)?;
        let (legacy, current) = (run_dir.join(LEGACY_TOKENIZER_FILE), run_dir.join(TOKENIZER_FILE));
        if writer && !current.exists() && legacy.exists() {
            std::fs::copy(&legacy, &current).map_err(|e| TrainError::io(&current, e))?;
            // a run from before the rename
        }
        let (data, tokenizer, tokenizer_json) = load_data(&cfg)?;
        let changed = data_place::check_same_data(&mut cfg, data.fingerprint())? || moved;
        if changed && writer {
            let json = serde_json::to_string_pretty(&cfg).expect("config serialises");
            model::checkpoint::write_atomically(&path, json.as_bytes())?;
        }
        let teacher = load_teacher(&cfg, &data, &tokenizer_json)?;
        let config_json = serde_json::to_string(&cfg).expect("config serialises");
        distributed::check_same_run(world.as_ref(), crate::data::fnv1a(config_json.as_bytes()))?;
        let mut failures = Vec::new();
        let mut loaded = None;
        for dir in checkpoint::resume_candidates(run_dir)? {
            let load = || -> Result<_> {
                let model = load_language_model(&dir, DType::F32)?;
                let (state, optimizer_state) = checkpoint::load_state(&dir)?;
                let mut optimizer = make_optimizer(&cfg.optimizer);
                optimizer.load_state(optimizer_state, state.optimizer_steps)?;
                Ok((model, state, optimizer))
            };
            match load() {
                Ok(found) => {
                    loaded = Some(found);
                    break;
                }
                Err(e) => failures.push(format!("{}: {e}", dir.display())),
            }
        }
        let Some((model, state, mut optimizer)) = loaded else {
            let why = if failures.is_empty() { String::new() } else { format!(" ({})", failures.join("; ")) };
            return Err(TrainError::Invalid(format!("{} has no checkpoint to resume from{why}", run_dir.display())));
        };
        for failure in &failures {
            eprintln!("note: skipped a checkpoint that cannot be loaded: {failure}; resuming from step {}", state.step);
        }
        let torn = if writer { metrics::truncate_after(&run_dir.join(METRICS_FILE), state.step)? } else { 0 };
        if torn > 0 {
            eprintln!("note: removed {torn} torn line(s) from {}", run_dir.join(METRICS_FILE).display());
        }
        let run_dir = run_dir.to_path_buf();
        let interactive = false;
        // A checkpoint holds the whole optimizer state (gathered); a rank of a sharded run keeps its part.
        let ranks = Ranks::new(world, &cfg, model.as_ref());
        if let Some(shards) = &ranks.zero {
            shards.keep_own_slots(model.params(), optimizer.slots_mut());
        }
        Ok(Self { cfg, run_dir, model, teacher, tokenizer, optimizer, data, state, interactive, ranks, _lock: lock })
    }

    /// The processes training together.
    pub fn world(&self) -> &dyn Collective {
        self.ranks.world.as_ref()
    }

    /// Under `--zero 1`, which parameters each rank keeps the optimizer state of.
    pub fn zero_shards(&self) -> Option<&ZeroShards> {
        self.ranks.zero.as_ref()
    }

    /// Whether this process writes the run folder (metrics, plots, checkpoints): rank 0.
    fn writes(&self) -> bool {
        self.ranks.world.rank() == 0
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

    /// One optimisation step over `grad_accum` micro-batches on each rank; returns `(mean loss,
    /// lr)`. Rank `r` of `W` takes micro-batches `r·A … r·A + A − 1` (see [`crate::distributed`]).
    pub fn train_step(&mut self) -> Result<(f64, f64)> {
        let step = self.state.step;
        let lr = self.cfg.schedule.lr(self.cfg.optimizer.lr, step);
        let accum = self.cfg.grad_accum as u64;
        let (ranks, rank) = (self.world().world_size() as u64, self.world().rank() as u64);
        self.model.params().zero_grad();
        let mut losses = Vec::with_capacity(accum as usize);
        for micro in rank * accum..(rank + 1) * accum {
            let batch = self.batch(step, micro)?;
            let mut rng = step_rng(self.cfg.seed, STREAM_DROPOUT, step, micro);
            let dropout = (self.cfg.dropout > 0.0).then_some(&mut rng);
            let loss = self.loss(&batch, dropout)?;
            // The gradient of the mean over all micro-batches: each contributes 1/(accum·ranks).
            loss.div_scalar((accum * ranks) as f64)?.backward()?;
            losses.push(loss.value());
        }
        // The losses read back once the micro-batches are all queued (on a GPU, reading one waits
        // for the device: per micro-batch, that wait would stall the next one's launches).
        let mut total = 0.0;
        for loss in &losses {
            total += loss.to_scalar()?;
        }
        let params = self.model.params();
        self.ranks.sum_gradients(params)?;
        let mut total = [total];
        self.world().all_reduce_sum_f64(&mut total)?;
        let loss = total[0] / (accum * ranks) as f64;
        if !loss.is_finite() {
            let last = latest(&self.run_dir)?.map_or("none yet".to_string(), |d| d.display().to_string());
            return Err(TrainError::Invalid(format!(
                "the loss became {loss} at step {step}; stopping. The last good checkpoint is {last}"
            )));
        }
        match (self.cfg.clip, &self.ranks.zero) {
            // Every rank holds every summed gradient: the optimizer clips (on a GPU, inside its step).
            (Some(max_norm), None) => self.optimizer.step_clipped(params, lr, max_norm)?,
            // Under ZeRO-1, the norm over every rank's shard.
            (Some(max_norm), Some(shards)) => {
                shards.clip_grad_norm(self.ranks.world.as_ref(), params, max_norm)?;
                self.optimizer.step(params, lr)?;
            }
            (None, _) => self.optimizer.step(params, lr)?,
        }
        self.ranks.share_updated_weights(params)?;
        self.state.step += 1;
        self.state.optimizer_steps = self.optimizer.steps();
        Ok((loss, lr))
    }

    /// The training loss of a batch: cross-entropy, or with a teacher the distillation loss
    /// `α·T²·KL(p_t ‖ p_s) + (1 − α)·CE` (F13).
    fn loss(&self, batch: &Batch, dropout: Option<&mut rand::rngs::StdRng>) -> Result<autograd::Var> {
        match (&self.teacher, &self.cfg.distill) {
            (Some(teacher), Some(d)) => {
                let logits = self.model.logits(&batch.ids, dropout)?;
                let z_t = no_grad(|| teacher.logits(&batch.ids, None))?.value();
                let loss = logits.distillation_loss(&z_t, &batch.targets, d.temperature, d.alpha, Some(IGNORE_INDEX));
                Ok(loss?)
            }
            _ => Ok(self.model.forward_loss(&batch.ids, &batch.targets, dropout)?),
        }
    }

    /// The whole optimizer state, by name: under ZeRO gathered from every rank (a collective:
    /// every rank must call it).
    fn optimizer_state(&self) -> Result<Vec<(String, tensor::Tensor)>> {
        match &self.ranks.zero {
            None => Ok(self.optimizer.state()),
            Some(shards) => {
                Ok(shards.gather_slots(self.world(), self.model.params(), self.optimizer.slots())?.export())
            }
        }
    }

    /// Writes a checkpoint of this step with `optimizer_state`, unless a parameter or optimizer value is NaN or infinite:
    /// then the run stops and the last good checkpoint stays the newest.
    fn save_checkpoint(&self, optimizer_state: Vec<(String, tensor::Tensor)>) -> Result<PathBuf> {
        let params: Vec<(String, tensor::Tensor)> =
            self.model.params().iter().map(|(n, v)| (n.to_string(), v.value())).collect();
        let all = params.iter().chain(&optimizer_state).map(|(n, t)| (n.as_str(), t));
        if let Some(name) = checkpoint::first_non_finite(all)? {
            let last = latest(&self.run_dir)?.map_or("none yet".to_string(), |d| d.display().to_string());
            return Err(TrainError::Invalid(format!(
                "{name} holds a NaN or an infinity after step {}: the run diverged; stopping without writing \
                 a checkpoint. The last good checkpoint is {last}",
                self.state.step
            )));
        }
        let tokenizer_json = std::fs::read(self.run_dir.join(TOKENIZER_FILE))
            .map_err(|e| TrainError::io(&self.run_dir.join(TOKENIZER_FILE), e))?;
        checkpoint::save(&self.run_dir, &self.state, &optimizer_state, self.cfg.keep_checkpoints, |dir| {
            self.model.save(dir)?;
            model::checkpoint::write_atomically(&dir.join(TOKENIZER_FILE), &tokenizer_json)?;
            setup::copy_vocabulary_files(&self.cfg, dir)
        })
    }

    /// Trains until step `until` (default: the configured steps) in the one loop ([`crate::fit`]),
    /// evaluating, logging and checkpointing every `eval_interval` steps and at the end.
    pub fn run(&mut self, until: Option<u64>) -> Result<RunSummary> {
        let end = until.unwrap_or(self.cfg.steps).min(self.cfg.steps);
        let state = &self.state;
        let plan = Plan {
            steps: end,
            start: Standing {
                step: state.step,
                best: state.best_val_loss.map(|loss| (loss, 0)),
                evals_since_best: state.evals_since_best,
            },
            evaluate_every: vec![self.cfg.eval_interval],
            log_every: Some((self.cfg.eval_interval / LOGS_PER_EVAL).max(1)),
            patience: self.cfg.patience,
            writes: self.writes(),
            interactive: self.interactive,
        };
        let (tokens_per_step, run_dir) = (self.tokens_per_step() as f64, self.run_dir.clone());
        let mut run = LanguageModelRun { trainer: self, tokens_per_step, last_eval: (None, None) };
        let fitted = fit(&mut run, &plan, &run_dir)?;
        let last_eval = run.last_eval;
        Ok(RunSummary {
            step: self.state.step,
            val_loss: last_eval.0,
            exact_match: last_eval.1,
            elapsed_s: fitted.elapsed_s,
            stopped_early: fitted.stopped_early,
            showcase: self.showcase()?,
        })
    }

    fn run_title(&self) -> String {
        let what = match &self.cfg.data {
            DataConfig::Arithmetic { op, digits, .. } => crate::data::describe_task(*op, *digits),
            DataConfig::Modular { modulus, train_fraction } => {
                format!("addition mod {modulus}, {:.0}% of pairs", 100.0 * train_fraction)
            }
            DataConfig::Text { path, .. } | DataConfig::Shards { path, .. } => {
                path.file_name().unwrap_or_default().to_string_lossy().to_string()
            }
        };
        format!("{what}: {}, {} parameters", self.model.describe(), self.model.params().numel())
    }

    /// Tokens the model reads per optimisation step (the grokking task is full-batch).
    pub fn tokens_per_step(&self) -> usize {
        let rows = match &self.data {
            Data::Modular(task) => task.train.len(),
            _ => self.cfg.batch_size * self.cfg.grad_accum * self.ranks.world.world_size(),
        };
        rows * context(&self.cfg, &self.data)
    }
}

/// The processes training together (one, unless started by `mpirun`/`srun`) and, under `--zero 1`,
/// the parameters whose optimizer state this rank keeps and updates.
struct Ranks {
    world: Rc<dyn Collective>,
    zero: Option<ZeroShards>,
}

impl Ranks {
    fn new(world: Rc<dyn Collective>, cfg: &TrainConfig, model: &dyn LanguageModel) -> Self {
        let zero = (cfg.zero_stage == 1).then(|| ZeroShards::new(model.params(), world.world_size(), world.rank()));
        Self { world, zero }
    }

    /// The gradients summed over the ranks: every one on every rank, or under ZeRO-1 each rank's
    /// shard on that rank.
    fn sum_gradients(&self, params: &autograd::Params) -> Result<()> {
        match &self.zero {
            None => distributed::all_reduce_gradients(self.world.as_ref(), params, distributed::BUCKET_ELEMENTS),
            Some(shards) => shards.reduce_scatter_gradients(self.world.as_ref(), params),
        }
    }

    /// After the optimizer step: under ZeRO-1, every rank's updated shard to every rank.
    fn share_updated_weights(&self, params: &autograd::Params) -> Result<()> {
        match &self.zero {
            None => Ok(()),
            Some(shards) => shards.all_gather_values(self.world.as_ref(), params),
        }
    }
}

fn em_text(em: Option<f64>) -> String {
    em.map_or(String::new(), |e| format!("  exact_match {e:.3}"))
}

/// A run of the [`Trainer`] as a [`Task`] of the one loop: its steps, evaluations (with the task's
/// metrics), checkpoints and loss plot.
struct LanguageModelRun<'a> {
    trainer: &'a mut Trainer,
    tokens_per_step: f64,
    /// The validation loss and exact match of the last evaluation.
    last_eval: (Option<f64>, Option<f64>),
}

impl LanguageModelRun<'_> {
    fn record(&self, p: &Progress) -> MetricsRecord {
        MetricsRecord {
            step: p.step,
            train_loss: p.train_loss,
            lr: p.lr,
            tokens_per_s: self.tokens_per_step * p.window.0 as f64 / p.window.1,
            elapsed_s: p.elapsed_s,
            ..MetricsRecord::default()
        }
    }

    /// The progress bar's text: the training figures and the latest exact match.
    fn figures(&self, r: &MetricsRecord) -> String {
        let em = em_text(r.exact_match.or(self.last_eval.1));
        format!("loss {:.4} lr {:.2e} {:.0} tok/s{em}", r.train_loss, r.lr, r.tokens_per_s)
    }
}

impl Task for LanguageModelRun<'_> {
    type Record = MetricsRecord;

    fn train_step(&mut self, _step: u64) -> Result<StepResult> {
        let (loss, lr) = self.trainer.train_step()?;
        Ok(StepResult { loss, lr })
    }

    fn train_record(&self, progress: &Progress) -> Option<(MetricsRecord, String)> {
        let record = self.record(progress);
        let figures = self.figures(&record);
        Some((record, figures))
    }

    fn evaluate(&mut self, progress: &Progress) -> Result<fit::Evaluation<MetricsRecord>> {
        let e = self.trainer.evaluate()?;
        let record = MetricsRecord {
            val_loss: Some(e.val_loss),
            val_perplexity: Some(perplexity(e.val_loss)),
            exact_match: e.exact_match,
            token_accuracy: e.token_accuracy,
            edit_distance: e.edit_distance,
            train_acc: e.train_acc,
            val_acc: e.val_acc,
            weight_norm: Some(e.weight_norm),
            ..self.record(progress)
        };
        self.last_eval = (Some(e.val_loss), e.exact_match);
        Ok(fit::Evaluation { message: self.figures(&record), val_loss: e.val_loss, record })
    }

    fn keep(&mut self, _run_dir: &Path, standing: &Standing, _improved: bool) -> Result<()> {
        let trainer = &mut *self.trainer;
        (trainer.state.best_val_loss, trainer.state.evals_since_best) =
            (standing.best.map(|(loss, _)| loss), standing.evals_since_best);
        let optimizer_state = trainer.optimizer_state()?;
        if trainer.writes() {
            trainer.save_checkpoint(optimizer_state)?;
        }
        Ok(())
    }

    fn plot(&self, run_dir: &Path, _log: &[MetricsRecord]) -> Result<()> {
        let records = metrics::read(&run_dir.join(METRICS_FILE))?;
        crate::plot::write_loss_plot(&run_dir.join(PLOT_FILE), &records, &self.trainer.run_title())
    }

    fn report(&self, record: &MetricsRecord) -> Result<Vec<String>> {
        let val = record.val_loss.unwrap_or(f64::NAN);
        let mut lines = vec![format!(
            "step {:>6}  train {:.4}  val {val:.4}  ppl {:.2}{}",
            record.step,
            record.train_loss,
            perplexity(val),
            em_text(record.exact_match)
        )];
        if let Data::Text(_) = self.trainer.data {
            lines.push(format!("  sample: {:?}", self.trainer.showcase()?.join("")));
        }
        Ok(lines)
    }
}
