//! The `emergent` command line: one file per command, each a clap `Args` struct and its `run`.
// The fields' doc comments are clap's help text, written for the terminal (`[CLS]`,
// `[default: runs/<data>]`), not for rustdoc.
#![allow(rustdoc::broken_intra_doc_links, rustdoc::invalid_html_tags)]

mod attention;
mod bench;
mod bert_pretrain;
mod classify;
mod distill;
mod eval;
mod forward;
mod hellaswag;
mod lab;
mod prepare;
mod roofline;
mod sample;
mod tokenize;
mod train;
mod translate;

use crate::error::TrainError;
use clap::{Args, Parser, Subcommand, ValueEnum};
use tensor::{AttentionVersion, ContextScope, Device, ExecutionContext, MatmulPrecision};

/// `--precision`: how f32 matrix products run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Precision {
    /// f32 math, exact (for parity with the CPU).
    F32,
    /// GPU: TF32 tensor cores (10-bit mantissa inputs, f32 accumulation).
    Tf32,
    /// bf16 inputs, f32 accumulation and results; f32 master weights. GPU: tensor cores; CPU:
    /// AVX512_BF16's dot products where the CPU has them (elsewhere the f32 kernel on bf16-rounded
    /// operands, at f32 speed).
    Bf16,
    /// GPU: bf16 tensor cores, cuBLAS rounding the f32 operands inside the product (no bf16 copies).
    Bf16InCublas,
}

/// `--device` and `--precision`, for every command that trains or runs a trained model: where it
/// runs, and how its matrix products run there.
#[derive(Debug, Clone, Copy, Args)]
pub struct DeviceArgs {
    /// Where to run: cpu, cuda or cuda:N.
    #[arg(long, default_value = "cpu")]
    pub device: Device,
    /// How matrix products run: f32 (exact) or bf16 (bf16 inputs, f32 sums) on either device; tf32
    /// and bf16-in-cublas on a GPU.
    #[arg(long, value_enum, default_value = "f32")]
    pub precision: Precision,
}

impl DeviceArgs {
    /// Opens the device (a clear error where there is none) and makes `--precision` and
    /// `attention` this thread's [`ExecutionContext`] while the returned scope lives (the rest of
    /// the command: `let (device, _context) = args.device.open(…)?;`).
    pub fn open(&self, attention: AttentionPath) -> Result<(Device, ContextScope), TrainError> {
        if self.device == Device::Cpu && !matches!(self.precision, Precision::F32 | Precision::Bf16) {
            let name = MatmulPrecision::from(self.precision).name();
            return Err(TrainError::Invalid(format!(
                "--precision {name} is a GPU precision: on the CPU, matrix products run in f32 or bf16"
            )));
        }
        tensor::open_device(self.device)?;
        let context = ExecutionContext::default()
            .with_precision(self.precision.into())
            .with_attention(attention.path(self.device)?);
        Ok((self.device, context.enter()))
    }
}

/// `--recompute`: what a training step's backward makes again instead of keeping it from the
/// forward, trading a pass for activation memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Recompute {
    /// The MLP's hidden layer GELU(u), made again from its pre-activation u (one more GELU pass;
    /// on a GPU under bf16, 2 bytes per hidden activation less kept).
    Gelu,
}

impl Recompute {
    /// Makes `recompute` part of this thread's execution context while the returned scope lives
    /// (after [`DeviceArgs::open`], whose scope it then ends before).
    pub fn enter(recompute: Option<Recompute>) -> ContextScope {
        ExecutionContext::current().with_recompute_gelu(recompute == Some(Recompute::Gelu)).enter()
    }
}

/// `--attention`: the fused kernels or the composed reference path (same formulas); on a GPU, one
/// fused version may be named, to compare them end to end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AttentionPath {
    /// The fused kernels, the best version for each shape and precision.
    Fused,
    /// Products, mask and softmax as separate ops.
    Composed,
    /// GPU: the readable fused version (a thread per query or key).
    RowPerThread,
    /// GPU: tiles in shared memory, f32.
    Tiled,
    /// GPU: WMMA tensor cores, bf16 operands.
    TensorCores,
    /// GPU: FlashAttention-2 on mma.sync, scores in registers, bf16 operands.
    Registers,
    /// GPU: the same, its forward's K and V double-buffered through cp.async.
    Pipelined,
}

impl AttentionPath {
    /// The execution context's attention path for this flag on `device`; a fused GPU version is
    /// refused for a run on the CPU (whose fused attention has one version).
    pub fn path(self, device: Device) -> Result<tensor::AttentionPath, TrainError> {
        let version = match self {
            AttentionPath::Fused => return Ok(tensor::AttentionPath::Fused),
            AttentionPath::Composed => return Ok(tensor::AttentionPath::Composed),
            AttentionPath::RowPerThread => AttentionVersion::RowPerThread,
            AttentionPath::Tiled => AttentionVersion::Tiled,
            AttentionPath::TensorCores => AttentionVersion::TensorCores,
            AttentionPath::Registers => AttentionVersion::TensorCoresInRegisters,
            AttentionPath::Pipelined => AttentionVersion::Pipelined,
        };
        if device == Device::Cpu {
            let name = self.to_possible_value().map(|v| v.get_name().to_string()).unwrap_or_default();
            return Err(TrainError::Invalid(format!(
                "--attention {name} names a GPU kernel; this run is on the cpu (use fused or composed)"
            )));
        }
        Ok(tensor::AttentionPath::FusedVersion(version))
    }
}

impl From<Precision> for MatmulPrecision {
    fn from(p: Precision) -> Self {
        match p {
            Precision::F32 => MatmulPrecision::F32,
            Precision::Tf32 => MatmulPrecision::Tf32,
            Precision::Bf16 => MatmulPrecision::Bf16,
            Precision::Bf16InCublas => MatmulPrecision::Bf16InCublas,
        }
    }
}

pub use attention::AttentionArgs;
pub use bench::BenchArgs;
pub use bert_pretrain::BertPretrainArgs;
pub use classify::ClassifyArgs;
pub use distill::DistillArgs;
pub use eval::EvalArgs;
pub use forward::ForwardArgs;
pub use lab::LabArgs;
pub use prepare::PrepareArgs;
pub use sample::SampleArgs;
pub use tokenize::TokenizeArgs;
pub use train::TrainArgs;
pub use translate::{TranslateArgs, TranslateTrainArgs};

/// emergent: a from-scratch deep-learning engine — GPT-2 models, tokenizers, training.
#[derive(Debug, Parser)]
#[command(name = "emergent", version)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Train a GPT: by default on the built-in 4-digit addition task, watching exact match jump.
    Train(Box<TrainArgs>),
    /// Continue a prompt with a trained model: greedy, or temperature / top-k / top-p sampling.
    Sample(SampleArgs),
    /// Validation loss and perplexity of a checkpoint on text or shards, or its HellaSwag accuracy.
    Eval(EvalArgs),
    /// Attention maps of every layer and head for a prompt, as one PNG grid.
    Attention(AttentionArgs),
    /// Pre-train a BERT (masked-LM + next sentence) on documents, by default generated reviews.
    BertPretrain(Box<BertPretrainArgs>),
    /// Fine-tune a BERT classifier on TSV (text, label) files or built-in reviews; accuracy and F1.
    Classify(Box<ClassifyArgs>),
    /// Knowledge distillation: train a student with a teacher and the same student alone; compare.
    Distill(Box<DistillArgs>),
    /// Benchmarks: `bench train --preset baby|gpt2-124m` times training steps; `bench kernels` the CUDA kernels.
    Bench(BenchArgs),
    /// The emergence lab: `lab scaling` (size sweeps, the metric "mirage") and `lab grokking`.
    Lab(LabArgs),
    /// Run an HF-format GPT-2 checkpoint on token ids from a .npy file and write the logits.
    Forward(ForwardArgs),
    /// Train the encoder-decoder Transformer to write numbers in words; BLEU/ROUGE, greedy and beam.
    TranslateTrain(Box<TranslateTrainArgs>),
    /// Write numbers in words with a translate-train model (greedy or beam search).
    Translate(TranslateArgs),
    /// GPT-2 token ids of a text (as a JSON list), or with --decode the text of a JSON list of ids.
    Tokenize(TokenizeArgs),
    /// Tokenise text or .jsonl files into GPT-2 token shards (llm.c's format) for `train --data`.
    Prepare(PrepareArgs),
}

/// Runs a parsed command line; what it prints goes to `out`.
pub fn run(cli: Cli, out: &mut dyn std::io::Write) -> crate::Result<()> {
    match cli.command {
        Command::Train(args) => train::run(&args, out),
        Command::Sample(args) => sample::run(&args, out),
        Command::Eval(args) => eval::run(&args, out),
        Command::Attention(args) => attention::run(&args, out),
        Command::Bench(args) => bench::run(&args, out),
        Command::BertPretrain(args) => bert_pretrain::run(&args, out),
        Command::Classify(args) => classify::run(&args, out),
        Command::Distill(args) => distill::run(&args, out),
        Command::Lab(args) => lab::run(&args, out),
        Command::Forward(args) => forward::run(&args, out),
        Command::Tokenize(args) => tokenize::run(&args, out),
        Command::Prepare(args) => prepare::run(&args, out),
        Command::TranslateTrain(args) => translate::run_train(&args, out),
        Command::Translate(args) => translate::run(&args, out),
    }
}
