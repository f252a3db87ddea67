//! `emergent bench train`: time full training steps (forward, backward, AdamW) on random tokens;
//! `emergent bench kernels`: the CUDA kernels beside cuBLAS and the copy bandwidth.

use crate::error::{Result, TrainError};
use crate::optim::{AdamW, Optimizer};
use autograd::profile::{OpTime, Pass, Profile};
use clap::{Args, Subcommand, ValueEnum};
use model::gpt2::{Gpt2, Gpt2Config};
use rand::Rng;
use std::path::Path;
use std::time::Instant;
use tensor::{AdamWConfig, DType, Tensor};

#[derive(Debug, Args)]
pub struct BenchArgs {
    #[command(subcommand)]
    pub what: BenchWhat,
}

#[derive(Debug, Subcommand)]
pub enum BenchWhat {
    /// Training steps of a preset model on random tokens; the last line is JSON.
    Train {
        #[arg(long, value_enum, default_value = "baby")]
        preset: Preset,
        /// Timed steps (after one untimed warm-up step).
        #[arg(long, default_value_t = 10)]
        steps: usize,
        /// Also print where the timed steps spent their time, op by op (forward and backward).
        #[arg(long)]
        profile: bool,
    },
    /// Every version of the hot CUDA kernels, checked, then timed against cuBLAS and the copy
    /// bandwidth (needs a CUDA GPU).
    Kernels {
        /// GEMM size (M = N = K).
        #[arg(long, default_value_t = 4096)]
        size: usize,
        /// Timed runs per kernel (median reported).
        #[arg(long, default_value_t = 20)]
        iters: usize,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Preset {
    /// 6 layers, 6 heads, 384 wide, T = 256, B = 8, vocabulary 65 (nanoGPT's Shakespeare model).
    Baby,
    /// GPT-2 124M at T = 64, B = 4.
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
        BenchWhat::Train { preset, steps, profile } => run_train(preset, steps, profile, out),
        BenchWhat::Kernels { size, iters } => super::bench_kernels::run(size, iters, out),
    }
}

fn run_train(preset: Preset, steps: usize, profile: bool, out: &mut dyn std::io::Write) -> Result<()> {
    let (mut cfg, batch, time) = preset.setup();
    (cfg.resid_pdrop, cfg.embd_pdrop, cfg.attn_pdrop) = (0.0, 0.0, 0.0);
    let model = Gpt2::random(cfg.clone(), 0, DType::F32)?;
    let mut opt = AdamW::new(AdamWConfig { lr: 3e-4, weight_decay: 0.1, ..Default::default() });
    let mut rng = tensor::rng(0);
    let io = |e| TrainError::io(Path::new("<stdout>"), e);
    writeln!(
        out,
        "{preset:?}: {} parameters, batch {batch} × {time} tokens, {} threads",
        model.params.numel(),
        rayon::current_num_threads()
    )
    .map_err(io)?;
    let mut times = Vec::with_capacity(steps);
    // Milliseconds of each phase: forward + loss, backward (and freeing the graph), optimizer.
    let mut phases: [Vec<f64>; 3] = Default::default();
    let mut op_profile = None;
    for step in 0..=steps {
        if step == 1 && profile {
            op_profile = Some(Profile::start());
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
    let [forward, backward, optimizer] = phases.map(median);
    writeln!(out, "median ms: forward {forward}, backward {backward}, optimizer {optimizer}").map_err(io)?;
    let steps_timed = times.len();
    let median = median(times);
    let json = serde_json::json!({
        "preset": preset.to_possible_value().map(|v| v.get_name().to_string()).unwrap_or_default(),
        "steps": steps_timed,
        "ms_per_step_median": median,
        "tokens_per_s": ((batch * time) as f64 / (median / 1e3)).round(),
    });
    writeln!(out, "{json}").map_err(io)
}

/// The op profile as a table: mean milliseconds per step of each op in each pass, slowest first,
/// with its share of the mean step time; what no op accounts for (the optimizer, freeing the
/// graph) is the last row.
fn write_op_table(rows: &[OpTime], steps: usize, step_ms: f64, out: &mut dyn std::io::Write) -> std::io::Result<()> {
    let steps = steps.max(1) as f64;
    writeln!(out, "| op | pass | calls/step | ms/step | % of step |")?;
    writeln!(out, "|---|---|---|---|---|")?;
    let mut accounted = 0.0;
    for row in rows {
        let ms = row.total.as_secs_f64() * 1e3 / steps;
        accounted += ms;
        let pass = match row.pass {
            Pass::Forward => "forward",
            Pass::Backward => "backward",
        };
        let calls = row.calls as f64 / steps;
        writeln!(out, "| {} | {pass} | {calls} | {ms:.1} | {:.1} |", row.name, 100.0 * ms / step_ms)?;
    }
    let rest = step_ms - accounted;
    writeln!(out, "| (no op: optimizer, freeing the graph) | | | {rest:.1} | {:.1} |", 100.0 * rest / step_ms)
}
