//! `emergent lab grokking`: delayed generalisation on modular addition (Power et al. 2022; Nanda et
//! al. 2023). A one-layer GPT trained full-batch with AdamW and strong weight decay on a fraction of
//! all pairs `a + b mod p` fits its training pairs within a few hundred steps, and only much later
//! answers the held-out pairs.

use super::plots::write_grokking_plot;
use crate::error::{Result, TrainError};
use crate::optim::Schedule;
use crate::trainer::{latest, read_metrics, DataConfig, MetricsRecord, TrainConfig, Trainer, METRICS_FILE};
use model::checkpoint::write_atomically;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq)]
pub struct GrokkingConfig {
    pub modulus: u64,
    /// Fraction of all `p²` pairs used for training.
    pub train_fraction: f64,
    pub n_layer: usize,
    pub n_embd: usize,
    pub n_head: usize,
    pub steps: u64,
    pub lr: f64,
    pub weight_decay: f64,
    pub eval_interval: u64,
    pub seed: u64,
}

impl Default for GrokkingConfig {
    /// Fits in minutes on 2 cores: p = 59, 40% of the pairs, a 1-layer 64-wide GPT with 4 heads.
    fn default() -> Self {
        Self {
            modulus: 59,
            train_fraction: 0.4,
            n_layer: 1,
            n_embd: 64,
            n_head: 4,
            steps: 5000,
            lr: 1e-3,
            weight_decay: 1.0,
            eval_interval: 20,
            seed: 0,
        }
    }
}

impl GrokkingConfig {
    /// The setting of Nanda et al. 2023: p = 113, 30% of the pairs, width 128, 4 heads, 40k
    /// full-batch steps (about 1e15 FLOPs: hours on 2 cores). Their model has no layer norms and an
    /// untied unembedding; ours is the GPT-2 block.
    pub fn paper() -> Self {
        Self {
            modulus: 113,
            train_fraction: 0.3,
            n_embd: 128,
            n_head: 4,
            steps: 40_000,
            eval_interval: 100,
            ..Self::default()
        }
    }

    /// Full-batch AdamW (β = 0.9, 0.98), constant learning rate, no clipping, no dropout.
    pub fn train_config(&self) -> TrainConfig {
        let mut cfg = TrainConfig {
            data: DataConfig::Modular { modulus: self.modulus, train_fraction: self.train_fraction },
            n_layer: self.n_layer,
            n_head: self.n_head,
            n_embd: self.n_embd,
            steps: self.steps,
            eval_interval: self.eval_interval,
            schedule: Schedule::Constant,
            clip: None,
            seed: self.seed,
            ..TrainConfig::default()
        };
        (cfg.optimizer.lr, cfg.optimizer.weight_decay, cfg.optimizer.beta2) = (self.lr, self.weight_decay, 0.98);
        cfg
    }
}

/// When the run first reached 90% training and validation accuracy.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GrokkingSummary {
    pub train_step: Option<u64>,
    pub val_step: Option<u64>,
    pub final_train_acc: f64,
    pub final_val_acc: f64,
}

impl GrokkingSummary {
    pub const THRESHOLD: f64 = 0.9;

    pub fn from_records(records: &[MetricsRecord]) -> Self {
        let first = |f: fn(&MetricsRecord) -> Option<f64>| {
            records.iter().find(|r| f(r).is_some_and(|a| a >= Self::THRESHOLD)).map(|r| r.step)
        };
        let last = records.iter().rev().find(|r| r.val_acc.is_some());
        Self {
            train_step: first(|r| r.train_acc),
            val_step: first(|r| r.val_acc),
            final_train_acc: last.and_then(|r| r.train_acc).unwrap_or(0.0),
            final_val_acc: last.and_then(|r| r.val_acc).unwrap_or(0.0),
        }
    }

    /// How many times later validation accuracy crossed 90% than training accuracy did.
    pub fn delay_ratio(&self) -> Option<f64> {
        Some(self.val_step? as f64 / self.train_step?.max(1) as f64)
    }

    pub fn describe(&self) -> String {
        let at = |s: Option<u64>| s.map_or("never".to_string(), |s| format!("at step {s}"));
        let ratio = self.delay_ratio().map_or(String::new(), |r| format!(" — {r:.1}× later"));
        format!(
            "training accuracy reached 90% {}, validation accuracy {}{ratio}; final accuracy {:.1}% train, {:.1}% validation",
            at(self.train_step),
            at(self.val_step),
            100.0 * self.final_train_acc,
            100.0 * self.final_val_acc
        )
    }
}

pub const GROKKING_PLOT: &str = "grokking.png";

/// Trains (or resumes, when `out` holds the same run interrupted) and draws the curves; returns
/// the summary and the plot's path.
pub fn run_grokking(cfg: &GrokkingConfig, out: &Path, interactive: bool) -> Result<(GrokkingSummary, PathBuf)> {
    let train_cfg = cfg.train_config();
    let mut trainer = if latest(out)?.is_some() {
        let t = Trainer::resume(out, Some(cfg.steps), None)?;
        if t.cfg != train_cfg {
            return Err(TrainError::Invalid(format!(
                "{} holds a grokking run with other settings; choose another --out or delete it",
                out.display()
            )));
        }
        t
    } else {
        Trainer::new(train_cfg, out, None)?
    };
    trainer.interactive = interactive;
    trainer.run(None)?;
    let records = read_metrics(&out.join(METRICS_FILE))?;
    let summary = GrokkingSummary::from_records(&records);
    let title = format!(
        "Grokking: a + b mod {}, {:.0}% of pairs for training, {}-layer {}-wide GPT, weight decay {}",
        cfg.modulus,
        100.0 * cfg.train_fraction,
        cfg.n_layer,
        cfg.n_embd,
        cfg.weight_decay
    );
    let plot = out.join(GROKKING_PLOT);
    write_grokking_plot(&plot, &records, &title)?;
    write_atomically(&out.join("summary.txt"), format!("{}\n", summary.describe()).as_bytes())?;
    Ok((summary, plot))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(step: u64, train: f64, val: f64) -> MetricsRecord {
        MetricsRecord { step, train_acc: Some(train), val_acc: Some(val), ..MetricsRecord::default() }
    }

    #[test]
    fn summary_finds_the_first_crossings() {
        let records = [record(10, 0.5, 0.0), record(20, 0.95, 0.1), record(30, 1.0, 0.3), record(80, 1.0, 0.92)];
        let s = GrokkingSummary::from_records(&records);
        assert_eq!((s.train_step, s.val_step), (Some(20), Some(80)));
        assert_eq!(s.delay_ratio(), Some(4.0));
        assert_eq!(s.final_val_acc, 0.92);
        let never = GrokkingSummary::from_records(&records[..3]);
        assert_eq!(never.val_step, None);
        assert!(never.describe().contains("never"));
    }

    #[test]
    fn paper_setting_is_nanda_et_al() {
        let p = GrokkingConfig::paper();
        assert_eq!((p.modulus, p.train_fraction, p.n_embd, p.n_layer, p.weight_decay), (113, 0.3, 128, 1, 1.0));
        let cfg = p.train_config();
        assert_eq!(cfg.optimizer.beta2, 0.98);
        assert_eq!(cfg.data, DataConfig::Modular { modulus: 113, train_fraction: 0.3 });
    }
}
