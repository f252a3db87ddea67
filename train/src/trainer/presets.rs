//! Named training setups, as nanoGPT's config files: a model size with the hyper-parameters its
//! authors train it with. Flags given beside a preset override it.

use super::TrainConfig;
use crate::optim::Schedule;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Preset {
    /// 6 layers, 6 heads, 384 wide, context 256, batch 8: the model `bench train --preset baby` times.
    Baby,
    /// nanoGPT's config/train_shakespeare_char.py: the baby model with batch 64, dropout 0.2, lr 1e-3
    /// decaying to 1e-4 over 5000 steps after 100 of warm-up, β₂ 0.99, evaluations every 250 steps.
    ShakespeareChar,
    /// GPT-2 124M as nanoGPT's config/train_gpt2.py trains it: 12 layers, 12 heads, 768 wide,
    /// context 1024, 12 × 40 accumulated rows a step, lr 6e-4 (warm-up 2000, cosine to 6e-5 over
    /// 600k steps), β₂ 0.95, weight decay 0.1, clipping at 1.
    #[value(name = "gpt2-124m")]
    Gpt2_124m,
    /// GPT-2 medium (350M: 24 layers, 16 heads, 1024 wide) with the 124M recipe at lr 3e-4.
    Gpt2Medium,
}

impl Preset {
    /// `cfg` with this preset's sizes and hyper-parameters (its data untouched).
    pub fn apply(self, mut cfg: TrainConfig) -> TrainConfig {
        let (layers, heads, width, block) = match self {
            Preset::Baby | Preset::ShakespeareChar => (6, 6, 384, 256),
            Preset::Gpt2_124m => (12, 12, 768, 1024),
            Preset::Gpt2Medium => (24, 16, 1024, 1024),
        };
        (cfg.n_layer, cfg.n_head, cfg.n_embd, cfg.block_size) = (layers, heads, width, block);
        match self {
            Preset::Baby => cfg.batch_size = 8,
            Preset::ShakespeareChar => {
                (cfg.batch_size, cfg.dropout, cfg.steps, cfg.eval_interval) = (64, 0.2, 5000, 250);
                (cfg.optimizer.lr, cfg.optimizer.beta2, cfg.optimizer.weight_decay) = (1e-3, 0.99, 0.1);
                cfg.schedule = Schedule::WarmupCosine { warmup: 100, total: 5000, min_ratio: 0.1 };
            }
            Preset::Gpt2_124m | Preset::Gpt2Medium => {
                (cfg.batch_size, cfg.grad_accum, cfg.dropout, cfg.steps, cfg.eval_interval) =
                    (12, 40, 0.0, 600_000, 2000);
                cfg.optimizer.lr = if self == Preset::Gpt2Medium { 3e-4 } else { 6e-4 };
                (cfg.optimizer.beta1, cfg.optimizer.beta2, cfg.optimizer.weight_decay) = (0.9, 0.95, 0.1);
                cfg.schedule = Schedule::WarmupCosine { warmup: 2000, total: 600_000, min_ratio: 0.1 };
                cfg.clip = Some(1.0);
            }
        }
        cfg
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_build_the_models_they_name() {
        // GPT-2 small's 124,439,808 parameters (HF's count) at its vocabulary and context.
        let cfg = Preset::Gpt2_124m.apply(TrainConfig::default());
        let gpt2 = model::gpt2::Gpt2Config::new(50257, cfg.block_size, cfg.n_embd, cfg.n_layer, cfg.n_head);
        assert_eq!(gpt2.parameter_count(), 124_439_808);
        let medium = Preset::Gpt2Medium.apply(TrainConfig::default());
        let gpt2 = model::gpt2::Gpt2Config::new(50257, 1024, medium.n_embd, medium.n_layer, medium.n_head);
        assert_eq!(gpt2.parameter_count(), 354_823_168); // HF's gpt2-medium
        let char = Preset::ShakespeareChar.apply(TrainConfig::default());
        assert_eq!((char.n_layer, char.block_size, char.batch_size, char.dropout), (6, 256, 64, 0.2));
        assert!(crate::trainer::validate_config(&char).is_ok());
    }
}
