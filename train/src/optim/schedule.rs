//! Learning-rate schedules (F9: warmup steps).

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Schedule {
    /// `η(t) = η`.
    Constant,
    /// Linear warmup, then cosine decay to `min_ratio·η` at `total` steps (and flat after):
    /// `η(t) = η·(t + 1)/warmup` for `t < warmup`, else
    /// `η(t) = η_min + (η − η_min)·½(1 + cos(π·(t − warmup)/(total − warmup)))`.
    WarmupCosine { warmup: u64, total: u64, min_ratio: f64 },
}

impl Schedule {
    /// The learning rate of step `t` (0-based) for base rate `lr`.
    pub fn lr(&self, lr: f64, t: u64) -> f64 {
        match *self {
            Schedule::Constant => lr,
            Schedule::WarmupCosine { warmup, total, min_ratio } => {
                if t < warmup {
                    return lr * (t + 1) as f64 / warmup as f64;
                }
                let span = total.saturating_sub(warmup).max(1) as f64;
                let progress = ((t - warmup) as f64 / span).min(1.0);
                let min = lr * min_ratio;
                min + (lr - min) * 0.5 * (1.0 + (std::f64::consts::PI * progress).cos())
            }
        }
    }
}
