//! AdamW (Loshchilov & Hutter 2019): Adam with weight decay decoupled from the gradient.

use super::{Optimizer, Slots};
use autograd::Params;
use tensor::{AdamWConfig, Error, Result};

/// AdamW over named parameters. Per step `t` and parameter `θ` with gradient `g` (fused kernel
/// `kernels::cpu::adamw`, PyTorch's order of operations):
/// `θ ← θ·(1 − η·λ)`, `m ← β₁m + (1 − β₁)g`, `v ← β₂v + (1 − β₂)g²`,
/// `θ ← θ − (η/(1 − β₁ᵗ))·m / (√v/√(1 − β₂ᵗ) + ε)`.
/// Weight decay `λ` applies only to parameters with ≥ 2 dims (matrices and embeddings, not biases
/// or LayerNorm gains), as GPT-2 training does.
pub struct AdamW {
    pub config: AdamWConfig,
    /// The step count and the first and second moments (`m`, `v`) by parameter name.
    slots: Slots,
}

impl AdamW {
    pub fn new(config: AdamWConfig) -> Self {
        Self { config, slots: Slots::new(&["m", "v"]) }
    }

    /// Whether a parameter of this shape gets weight decay.
    pub fn decays(shape: &[usize]) -> bool {
        shape.len() >= 2
    }
}

impl Optimizer for AdamW {
    /// One step on every parameter that has a gradient, with learning rate `lr` (a schedule may
    /// change it every step).
    fn step(&mut self, params: &Params, lr: f64) -> Result<()> {
        self.slots.steps += 1;
        let t = self.slots.steps;
        for (name, p) in params.iter() {
            let Some(grad) = p.grad() else { continue };
            let [m, v] = &mut self.slots.get(name, &grad)[..] else { unreachable!("two slots") };
            let weight_decay = if Self::decays(&p.shape()) { self.config.weight_decay } else { 0.0 };
            let cfg = AdamWConfig { lr, weight_decay, ..self.config };
            p.update_value(|value| value.adamw_step(&grad, m, v, &cfg, t))
                .map_err(|e| Error::invalid("AdamW::step", format!("parameter {name}: {e}")))?;
        }
        Ok(())
    }

    fn slots(&self) -> &Slots {
        &self.slots
    }

    fn slots_mut(&mut self) -> &mut Slots {
        &mut self.slots
    }
}
