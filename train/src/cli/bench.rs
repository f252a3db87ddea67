//! `emergent bench train`: time full training steps (forward, backward, AdamW) on random tokens;
//! `emergent bench kernels`: the fused kernels, checked and timed against the machine's ceilings.

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
use tensor::kernel_profile::{kernel_times, product_flops, profile_kernels, KernelTime};
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
        BenchWhat::Train { preset, steps, profile, device, batch, seq, attention } => {
            let (device, _context) = device.open(attention)?;
            let (cfg, default_batch, default_seq) = preset.setup();
            let shape = (batch.unwrap_or(default_batch), seq.unwrap_or(default_seq));
            if shape.1 > cfg.n_positions || shape.0 == 0 || shape.1 == 0 {
                return Err(TrainError::Invalid(format!(
                    "--batch-size {} --block-size {}: need both > 0 and the block size ≤ the context {}",
                    shape.0, shape.1, cfg.n_positions
                )));
            }
            run_train(preset, shape, device, steps, profile, out)
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

fn run_train(
    preset: Preset,
    (batch, time): (usize, usize),
    device: Device,
    steps: usize,
    profile: bool,
    out: &mut dyn std::io::Write,
) -> Result<()> {
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
    for step in 0..=steps {
        if step == 1 && profile {
            op_profile = Some(Profile::start());
            profile_kernels(device, true)?;
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
            let loss = model.loss(&model.forward(&x, None)?, &y)?;
            let forward_done = Instant::now();
            loss.backward()?;
            (loss.value().to_scalar()?, forward_done)
        };
        let backward_done = Instant::now();
        opt.step(&model.params, 3e-4)?;
        tensor::synchronize(device)?;
        let done = Instant::now();
        let ms = (done - started).as_secs_f64() * 1e3;
        if step > 0 {
            let marks = [started, forward_done, backward_done, done];
            for (phase, w) in phases.iter_mut().zip(marks.windows(2)) {
                phase.push((w[1] - w[0]).as_secs_f64() * 1e3);
            }
            times.push(ms);
            writeln!(out, "step {step:>3}: {ms:8.1} ms  loss {loss:.4}").map_err(io)?;
        }
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
        write_kernel_table(&kernel_times(device)?, times.len(), out).map_err(io)?;
    }
    let [forward, backward, optimizer] = phases.map(median);
    writeln!(out, "median ms: forward {forward}, backward {backward}, optimizer {optimizer}").map_err(io)?;
    let steps_timed = times.len();
    let median = median(times);
    // Model FLOPs per step as the PyTorch baseline counts them: 6·N per token for the weights,
    // 12·L·T·C per token for attention (scores and weighted sums, forward and backward).
    let tokens = (batch * time) as f64;
    let flops = 6.0 * model.params.numel() as f64 * tokens + 12.0 * (cfg.n_layer * time * cfg.n_embd) as f64 * tokens;
    let json = serde_json::json!({
        "preset": preset.to_possible_value().map(|v| v.get_name().to_string()).unwrap_or_default(),
        "device": device.to_string(),
        "batch": batch,
        "seq": time,
        "precision": ExecutionContext::current().precision.name(),
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

/// The kernel profile as a table: launches and device milliseconds per step of each kernel (and
/// cuBLAS call), slowest first, with its share of the device time.
fn write_kernel_table(rows: &[KernelTime], steps: usize, out: &mut dyn std::io::Write) -> std::io::Result<()> {
    let steps = steps.max(1) as f64;
    let total: f64 = rows.iter().map(|r| r.ms).sum();
    writeln!(out, "device time per kernel: {:.1} ms/step", total / steps)?;
    writeln!(out, "| kernel | launches/step | ms/step | % of device time | TFLOP/s |")?;
    writeln!(out, "|---|---|---|---|---|")?;
    for row in rows {
        let (launches, ms) = (row.launches as f64 / steps, row.ms / steps);
        // Matrix products are named with their shapes: their rate, the rest none.
        let rate = product_flops(&row.name)
            .map_or(String::new(), |flops| format!("{:.1}", flops * row.launches as f64 / (row.ms * 1e-3) / 1e12));
        writeln!(
            out,
            "| {} | {launches} | {ms:.2} | {:.1} | {rate} |",
            row.name,
            100.0 * row.ms / total.max(f64::MIN_POSITIVE)
        )?;
    }
    Ok(())
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
