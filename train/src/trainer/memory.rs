//! Will a run fit? An estimate of the memory a training step needs, made from the configuration
//! alone before anything is allocated, and checked against the machine's available memory, so an
//! absurd size is a clear error instead of an allocation failure (or minutes of growing first).

use super::{Architecture, TrainConfig};
use crate::error::{Result, TrainError};

/// Bytes per value: the trainer keeps parameters, gradients and activations in f32.
const F32: f64 = 4.0;

/// A lower bound on the bytes one training step holds, for a `vocab`-token model reading rows of
/// `context` tokens:
///
/// `4 B · (4P + B·T·a)`: each of the `P` parameters with its gradient and two optimizer moments,
/// and per token of the batch (`B` rows of `T`) the `a` activations the backward pass keeps: a GPT
/// block's layer-norm outputs, q/k/v, attention output, the 4·C-wide MLP before and after GELU
/// and two residual sums (about `20·C`), a row of attention probabilities per head (`H·T`), and the
/// logits with their softmax and gradient (`3·V`). An LSTM keeps its embedding, four gates, cell
/// and hidden state (`E + 8·H`) and the same `3·V`. Computed in f64, so no size overflows.
pub fn training_bytes(cfg: &TrainConfig, vocab: usize, context: usize) -> f64 {
    let (v, t, b) = (vocab as f64, context as f64, cfg.batch_size as f64);
    let (c, l, h) = (cfg.n_embd as f64, cfg.n_layer as f64, cfg.n_head as f64);
    let (params, per_token) = match cfg.arch {
        Architecture::Gpt => {
            let params = v * c + t * c + l * (12.0 * c * c + 13.0 * c) + 2.0 * c;
            (params, l * (20.0 * c + h * t) + 3.0 * v)
        }
        Architecture::Lstm { hidden } => {
            let hd = hidden as f64;
            let params = v * c + 4.0 * hd * (c + hd) + 8.0 * hd + hd * v + v;
            (params, c + 8.0 * hd + 3.0 * v)
        }
    };
    F32 * (4.0 * params + b * t * per_token)
}

/// The memory this machine can give a new process now (Linux's `MemAvailable`), if known.
pub fn available_bytes() -> Option<f64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024.0)
}

/// Refuses a run whose estimated need exceeds `available` bytes (unknown: no check).
pub fn check_fits(cfg: &TrainConfig, vocab: usize, context: usize, available: Option<f64>) -> Result<()> {
    let need = training_bytes(cfg, vocab, context);
    match available {
        Some(have) if need > have => Err(TrainError::Invalid(format!(
            "this run needs at least {} (n_layer {}, n_embd {}, batch {} × {context} tokens, vocabulary {vocab}); \
             this machine has {} available. Choose smaller sizes",
            human(need),
            cfg.n_layer,
            cfg.n_embd,
            cfg.batch_size,
            human(have)
        ))),
        _ => Ok(()),
    }
}

/// `1.5 GiB`, `3.2 TiB`, …
fn human(bytes: f64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    let mut value = bytes;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < units.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit + 1 == units.len() && value >= 1024.0 {
        return format!("{bytes:.3e} B");
    }
    format!("{value:.1} {}", units[unit])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_estimate_counts_gpt2_small_by_hand() {
        // GPT-2 124M: 124,439,808 parameters (HF's count, tied head) with a 1024-token context.
        let cfg = TrainConfig { n_layer: 12, n_head: 12, n_embd: 768, batch_size: 1, ..TrainConfig::default() };
        let (v, t, c) = (50257.0, 1024.0, 768.0);
        let params = v * c + t * c + 12.0 * (12.0 * c * c + 13.0 * c) + 2.0 * c;
        assert_eq!(params, 124_439_808.0);
        let activations = t * (12.0 * (20.0 * c + 12.0 * t) + 3.0 * v);
        assert_eq!(training_bytes(&cfg, 50257, 1024), 4.0 * (4.0 * params + activations));
    }

    #[test]
    fn absurd_sizes_are_refused_with_both_numbers() {
        let huge = TrainConfig { n_layer: 1_000_000_000, ..TrainConfig::default() };
        let e = check_fits(&huge, 12, 15, Some(24.0 * 1024f64.powi(3))).unwrap_err().to_string();
        assert!(e.contains("PiB") && e.contains("24.0 GiB available"), "{e}");
        let wide = TrainConfig { n_embd: 1_000_000_000, n_head: 1, ..TrainConfig::default() };
        assert!(check_fits(&wide, 12, 15, Some(1e12)).is_err());
        check_fits(&TrainConfig::default(), 12, 15, Some(1e9)).unwrap();
        check_fits(&huge, 12, 15, None).unwrap();
        assert_eq!(human(1536.0), "1.5 KiB");
        assert!(human(1e30).ends_with(" B"));
    }
}
