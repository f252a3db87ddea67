//! `emergent bench train`: time full training steps (forward, backward, AdamW) on random tokens, or
//! (`--dry-run`) predict a GPU step's time from its launches without a GPU;
//! `emergent bench kernels`: the fused kernels, checked and timed against the machine's ceilings.

use super::roofline::{summarize, write_kernel_table, write_roofline_table, StepRoofline};
use crate::error::{Result, TrainError};
use crate::optim::{AdamW, Optimizer};
use crate::trainer::available_bytes;
use autograd::profile::{OpTime, Pass, Profile};
use clap::{Args, Subcommand, ValueEnum};
use kernel_bench::cpu::Format;
use model::gpt2::{Gpt2, Gpt2Config};
use rand::Rng;
use std::path::Path;
use std::time::Instant;
use tensor::kernel_profile::{self, kernel_times, profile_kernels, H100_SXM};
use tensor::{AdamWConfig, AttentionPath, DType, Device, ExecutionContext, Tensor};

#[derive(Debug, Args)]
pub struct BenchArgs {
    #[command(subcommand)]
    pub what: BenchWhat,
}

#[derive(Debug, Subcommand)]
pub enum BenchWhat {
    /// Training steps of a preset model on random tokens; the last line is JSON.
    Train {
        /// The model: its sizes, and a batch and sequence length to time it at.
        #[arg(long, value_enum, default_value = "baby")]
        preset: Preset,
        /// Timed steps (after one untimed warm-up step).
        #[arg(long, default_value_t = 10)]
        steps: usize,
        /// Also print where the timed steps spent their time, op by op (forward and backward).
        #[arg(long)]
        profile: bool,
        /// Sequences per step [default: the preset's].
        #[arg(long = "batch-size", alias = "batch")]
        batch: Option<usize>,
        /// Tokens per sequence [default: the preset's; at most the model's context].
        #[arg(long = "block-size", alias = "seq")]
        seq: Option<usize>,
        #[command(flatten)]
        device: super::DeviceArgs,
        /// The fused attention kernel or the composed reference path.
        #[arg(long, value_enum, default_value = "fused")]
        attention: super::AttentionPath,
        /// With --device cuda, on a machine with or without a GPU: issue one step (after a warm-up
        /// step) to a null CUDA driver on which nothing runs and nothing is allocated, and print
        /// its launches with the bytes and FLOPs each declares, their time at an H100's ceilings,
        /// the predicted step time, MFU and peak device memory.
        #[arg(long, conflicts_with_all = ["profile", "steps"])]
        dry_run: bool,
        /// Clip the global gradient norm to this before each step, as `train` does (its default: 1)
        /// [default: no clipping, as the PyTorch baselines of benches/ run].
        #[arg(long, value_name = "MAX_NORM")]
        clip: Option<f64>,
        /// Make this again in the backward instead of keeping it from the forward: gelu (the MLP's
        /// hidden layer) [default: keep everything].
        #[arg(long, value_enum)]
        recompute: Option<super::Recompute>,
    },
    /// The fused kernels, each variant checked against the naive reference, then timed: on the CPU
    /// (the default) as GFLOP/s and GB/s and a share of this machine's measured FMA peak or streaming
    /// memory bandwidth; on a GPU every version of the hot CUDA kernels against cuBLAS and the copy bandwidth.
    Kernels {
        /// cpu, or cuda (the GPU table: --size and --iters only).
        #[arg(long, default_value = "cpu")]
        device: tensor::Device,
        /// CPU: only this kernel (repeat for several) [default: all].
        #[arg(long = "kernel")]
        kernels: Vec<String>,
        /// CPU: time one --kernel at this shape, e.g. 2048x384x1152 (repeat for several) [default:
        /// the shapes of the baby GPT's training step].
        #[arg(long = "shape")]
        shapes: Vec<String>,
        /// Timed runs per kernel (median reported).
        #[arg(long, default_value_t = 20)]
        iters: usize,
        /// CPU: print JSON lines (the ceilings first, then one object per measurement).
        #[arg(long, conflicts_with = "csv")]
        json: bool,
        /// CPU: print CSV.
        #[arg(long)]
        csv: bool,
        /// GPU: GEMM size (M = N = K).
        #[arg(long, default_value_t = 4096)]
        size: usize,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Preset {
    /// 6 layers, 6 heads, 384 wide, T = 256, B = 8, vocabulary 65 (nanoGPT's Shakespeare model).
    Baby,
    /// GPT-2 124M at T = 64, B = 4 (context 1024: `--block-size 1024 --batch-size 16` on a GPU).
    #[value(name = "gpt2-124m")]
    Gpt2_124m,
}

impl Preset {
    /// `(config, batch, time)`.
    fn setup(self) -> (Gpt2Config, usize, usize) {
        match self {
            Preset::Baby => (Gpt2Config::new(65, 256, 384, 6, 6), 8, 256),
            Preset::Gpt2_124m => (Gpt2Config::gpt2_124m(), 4, 64),
        }
    }
}

pub fn run(args: &BenchArgs, out: &mut dyn std::io::Write) -> Result<()> {
    match args.what {
        BenchWhat::Train { preset, steps, profile, device, batch, seq, attention, dry_run, clip, recompute } => {
            if let Some(bad) = clip.filter(|c| !(c.is_finite() && *c > 0.0)) {
                return Err(TrainError::Invalid(format!("--clip {bad}: the largest norm must be a number above 0")));
            }
            if dry_run {
                if !matches!(device.device, Device::Cuda(0)) {
                    return Err(TrainError::Invalid("--dry-run predicts a GPU step: give --device cuda".into()));
                }
                kernel_profile::start_dry_run()?;
            }
            let (device, _context) = device.open(attention)?;
            let _recompute = super::Recompute::enter(recompute);
            let (cfg, default_batch, default_seq) = preset.setup();
            let shape = (batch.unwrap_or(default_batch), seq.unwrap_or(default_seq));
            if shape.1 > cfg.n_positions || shape.0 == 0 || shape.1 == 0 {
                return Err(TrainError::Invalid(format!(
                    "--batch-size {} --block-size {}: need both > 0 and the block size ≤ the context {}",
                    shape.0, shape.1, cfg.n_positions
                )));
            }
            let mode = match (dry_run, profile) {
                (true, _) => Mode::DryRun,
                (false, true) => Mode::Profiled,
                (false, false) => Mode::Timed,
            };
            run_train(preset, shape, device, if dry_run { 1 } else { steps }, (mode, clip), out)
        }
        BenchWhat::Kernels { device: Device::Cpu, ref kernels, ref shapes, iters, json, csv, .. } => {
            let format = match (json, csv) {
                (true, _) => Format::JsonLines,
                (_, true) => Format::Csv,
                _ => Format::Table,
            };
            Ok(kernel_bench::cpu::run(kernels, shapes, iters, format, available_bytes(), out)?)
        }
        BenchWhat::Kernels { ref kernels, ref shapes, json, csv, .. }
            if !kernels.is_empty() || !shapes.is_empty() || json || csv =>
        {
            Err(TrainError::Invalid(
                "--kernel, --shape, --json and --csv are for the CPU bench; on a GPU, bench kernels times its own \
                 table (--size, --iters)"
                    .into(),
            ))
        }
        BenchWhat::Kernels { size, iters, .. } => Ok(kernel_bench::cuda::run(size, iters, out)?),
    }
}

/// What `bench train` does besides timing steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Timed,
    /// Also times each op (and on a GPU each kernel, beside its roofline prediction).
    Profiled,
    /// One step on the dry-run driver, reported on the roofline.
    DryRun,
}

/// Model FLOPs per step as the PyTorch baseline counts them: 6·N per token for the weights,
/// 12·L·T·C per token for attention (scores and weighted sums, forward and backward).
fn model_flops(parameters: usize, cfg: &Gpt2Config, (batch, time): (usize, usize)) -> f64 {
    let tokens = (batch * time) as f64;
    6.0 * parameters as f64 * tokens + 12.0 * (cfg.n_layer * time * cfg.n_embd) as f64 * tokens
}

fn run_train(
    preset: Preset,
    (batch, time): (usize, usize),
    device: Device,
    steps: usize,
    (mode, clip): (Mode, Option<f64>),
    out: &mut dyn std::io::Write,
) -> Result<()> {
    let profile = mode == Mode::Profiled;
    let (mut cfg, _, _) = preset.setup();
    (cfg.resid_pdrop, cfg.embd_pdrop, cfg.attn_pdrop) = (0.0, 0.0, 0.0);
    let model = Gpt2::random(cfg.clone(), 0, DType::F32)?;
    model.params.to_device(device)?;
    let mut opt = AdamW::new(AdamWConfig { lr: 3e-4, weight_decay: 0.1, ..Default::default() });
    let mut rng = tensor::rng(0);
    let io = |e| TrainError::io(Path::new("<stdout>"), e);
    writeln!(
        out,
        "{preset:?}: {} parameters, batch {batch} × {time} tokens, on {device} ({} CPU threads)",
        model.params.numel(),
        rayon::current_num_threads()
    )
    .map_err(io)?;
    let mut times = Vec::with_capacity(steps);
    // Milliseconds of each phase: forward + loss, backward (and freeing the graph), optimizer.
    let mut phases: [Vec<f64>; 3] = Default::default();
    let mut op_profile = None;
    // On a GPU the profile also times each kernel launch (device time, without waiting per op).
    let kernel_profile = profile && device != Device::Cpu;
    let mut resident = 0;
    for step in 0..=steps {
        if step == 1 && profile {
            op_profile = Some(Profile::start());
            profile_kernels(device, true)?;
        }
        if step == 1 && (kernel_profile || mode == Mode::DryRun) {
            // What stays between steps (weights, gradients, AdamW's moments, bf16 images,
            // workspaces); the step's activations come on top of it.
            resident = kernel_profile::dry_run_memory().live;
            kernel_profile::reset_dry_run_peak();
            kernel_profile::record_launches(true);
        }
        let ids: Vec<i64> = (0..batch * (time + 1)).map(|_| rng.random_range(0..cfg.vocab_size as i64)).collect();
        let tokens = Tensor::from_vec(ids, &[batch, time + 1])?;
        let (x, y) = (tokens.narrow(1, 0, time)?.contiguous(), tokens.narrow(1, 1, time)?.contiguous());
        let started = Instant::now();
        if let Some(p) = &op_profile {
            p.restart_forward_clock();
        }
        model.params.zero_grad();
        // The graph (it holds the activations and shares the weights) is freed at the end of this
        // block, before the weights are updated in place, as in the trainer.
        let (loss, forward_done) = {
            let loss = model.forward_loss(&x, &y, None)?;
            let forward_done = Instant::now();
            loss.backward()?;
            (loss.value().to_scalar()?, forward_done)
        };
        let backward_done = Instant::now();
        match clip {
            Some(max_norm) => opt.step_clipped(&model.params, 3e-4, max_norm)?,
            None => opt.step(&model.params, 3e-4)?,
        }
        tensor::synchronize(device)?;
        let done = Instant::now();
        let ms = (done - started).as_secs_f64() * 1e3;
        if step > 0 && mode != Mode::DryRun {
            let marks = [started, forward_done, backward_done, done];
            for (phase, w) in phases.iter_mut().zip(marks.windows(2)) {
                phase.push((w[1] - w[0]).as_secs_f64() * 1e3);
            }
            times.push(ms);
            writeln!(out, "step {step:>3}: {ms:8.1} ms  loss {loss:.4}").map_err(io)?;
        }
    }
    let launches = kernel_profile::recorded_launches();
    kernel_profile::record_launches(false);
    let flops = model_flops(model.params.numel(), &cfg, (batch, time));
    if mode == Mode::DryRun {
        let step = summarize(&launches, &H100_SXM);
        let description = format!("{preset:?} batch {batch} × {time}");
        return write_dry_run(&step, (&description, batch), flops, resident, out).map_err(io);
    }
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        if v.is_empty() {
            f64::NAN
        } else {
            (v[v.len() / 2] * 10.0).round() / 10.0
        }
    };
    if let Some(p) = op_profile {
        let step_ms: f64 = times.iter().sum::<f64>() / times.len().max(1) as f64;
        write_op_table(&p.finish(), times.len(), step_ms, out).map_err(io)?;
    }
    if kernel_profile {
        profile_kernels(device, false)?;
        let predicted = summarize(&launches, &H100_SXM);
        write_kernel_table(&kernel_times(device)?, times.len(), Some(&predicted), out).map_err(io)?;
    }
    let [forward, backward, optimizer] = phases.map(median);
    writeln!(out, "median ms: forward {forward}, backward {backward}, optimizer {optimizer}").map_err(io)?;
    let steps_timed = times.len();
    let median = median(times);
    let tokens = (batch * time) as f64;
    let json = serde_json::json!({
        "preset": preset.to_possible_value().map(|v| v.get_name().to_string()).unwrap_or_default(),
        "device": device.to_string(),
        "batch": batch,
        "seq": time,
        "precision": ExecutionContext::current().precision.name(),
        "cpu_isa": tensor::cpu_isa().name(),
        "attention": match ExecutionContext::current().attention {
            AttentionPath::Composed => "composed".to_string(),
            AttentionPath::FusedVersion(version) => format!("fused {version:?}"),
            AttentionPath::Fused => "fused".to_string(),
        },
        "steps": steps_timed,
        "ms_per_step_median": median,
        "tokens_per_s": (tokens / (median / 1e3)).round(),
        "model_tflops_per_s": ((flops / (median / 1e3)) / 1e10).round() / 100.0,
    });
    writeln!(out, "{json}").map_err(io)
}

/// The op profile as a table: mean milliseconds per step of each op in each pass at each set of
/// input shapes, slowest first, with GFLOP/s where the op's flops are counted (matrix products)
/// and its share of the mean step time; what no op accounts for (the optimizer, freeing the graph)
/// is the last row.
fn write_op_table(rows: &[OpTime], steps: usize, step_ms: f64, out: &mut dyn std::io::Write) -> std::io::Result<()> {
    let steps = steps.max(1) as f64;
    writeln!(out, "| op | pass | input shapes | calls/step | ms/step | GFLOP/s | % of step |")?;
    writeln!(out, "|---|---|---|---|---|---|---|")?;
    let mut accounted = 0.0;
    for row in rows {
        let ms = row.total.as_secs_f64() * 1e3 / steps;
        accounted += ms;
        let pass = match row.pass {
            Pass::Forward => "forward",
            Pass::Backward => "backward",
        };
        let calls = row.calls as f64 / steps;
        let rate = row.gflops().map_or(String::new(), |g| format!("{g:.1}"));
        writeln!(
            out,
            "| {} | {pass} | {} | {calls} | {ms:.1} | {rate} | {:.1} |",
            row.name,
            row.shapes,
            100.0 * ms / step_ms
        )?;
    }
    let rest = step_ms - accounted;
    writeln!(out, "| (no op: optimizer, freeing the graph) | | | | {rest:.1} | | {:.1} |", 100.0 * rest / step_ms)
}

/// The device memory the largest batch is sized for: an 80 GB H100's 80 GiB.
const DEVICE_BYTES: usize = 80 << 30;

/// The dry run's report: the roofline table, the totals, the predicted step time and MFU (model
/// FLOPs over the predicted time, against the bf16 peak), the peak device memory and the largest
/// batch that fits in [`DEVICE_BYTES`], and a last line of JSON. The activations (the peak above
/// the `resident` bytes that stay between steps) grow with the batch, the rest does not:
/// `largest = ⌊batch · (capacity − resident) / (peak − resident)⌋`.
fn write_dry_run(
    step: &StepRoofline,
    (description, batch): (&str, usize),
    model_flops: f64,
    resident: usize,
    out: &mut dyn std::io::Write,
) -> std::io::Result<()> {
    let peak = kernel_profile::dry_run_memory().peak;
    let activations = peak.saturating_sub(resident).max(1);
    let largest_batch = (batch as f64 * DEVICE_BYTES.saturating_sub(resident) as f64 / activations as f64) as usize;
    let predicted_ms = step.seconds * 1e3;
    let mfu = model_flops / step.seconds.max(f64::MIN_POSITIVE) / H100_SXM.bf16_flops;
    writeln!(out, "dry run: one training step's launches on {}, no kernel run", H100_SXM.name)?;
    write_roofline_table(step, out)?;
    writeln!(
        out,
        "{description}: {} launches, {:.2} GB moved, {:.2} TFLOP; predicted {predicted_ms:.2} ms/step, MFU {:.1}%; \
         peak device memory {:.2} GB ({:.2} GB between steps, {:.2} GB of activations); the largest batch in 80 GiB: \
         {largest_batch}",
        step.launches,
        step.bytes as f64 / 1e9,
        step.flops as f64 / 1e12,
        100.0 * mfu,
        peak as f64 / 1e9,
        resident as f64 / 1e9,
        activations as f64 / 1e9,
    )?;
    let json = serde_json::json!({
        "device": H100_SXM.name,
        "precision": ExecutionContext::current().precision.name(),
        "bytes_per_step": step.bytes,
        "flops_per_step": step.flops,
        "model_flops_per_step": model_flops.round(),
        "launches_per_step": step.launches,
        "predicted_ms": (predicted_ms * 1000.0).round() / 1000.0,
        "mfu": (mfu * 1e4).round() / 1e4,
        "peak_bytes": peak,
        "resident_bytes": resident,
        "largest_batch": largest_batch,
    });
    writeln!(out, "{json}")
}
