//! AdamW (Loshchilov & Hutter 2019): Adam with weight decay decoupled from the gradient.

use autograd::Params;
use std::collections::BTreeMap;
use tensor::{AdamWConfig, Error, Result, Tensor};

/// AdamW over named parameters. Per step `t` and parameter `θ` with gradient `g` (fused kernel
/// `kernels::cpu::adamw`, PyTorch's order of operations):
/// `θ ← θ·(1 − η·λ)`, `m ← β₁m + (1 − β₁)g`, `v ← β₂v + (1 − β₂)g²`,
/// `θ ← θ − (η/(1 − β₁ᵗ))·m / (√v/√(1 − β₂ᵗ) + ε)`.
/// Weight decay `λ` applies only to parameters with ≥ 2 dims (matrices and embeddings, not biases
/// or LayerNorm gains), as GPT-2 training does.
pub struct AdamW {
    pub config: AdamWConfig,
    /// Steps taken so far (`t` of the next step minus one).
    pub steps: u64,
    /// First and second moments by parameter name.
    pub moments: BTreeMap<String, (Tensor, Tensor)>,
}

impl AdamW {
    pub fn new(config: AdamWConfig) -> Self {
        Self { config, steps: 0, moments: BTreeMap::new() }
    }

    /// Whether a parameter of this shape gets weight decay.
    pub fn decays(shape: &[usize]) -> bool {
        shape.len() >= 2
    }

    /// One step on every parameter that has a gradient, with learning rate `lr` (a schedule may
    /// change it every step).
    pub fn step(&mut self, params: &Params, lr: f64) -> Result<()> {
        self.steps += 1;
        for (name, p) in params.iter() {
            let Some(grad) = p.grad() else { continue };
            let (m, v) = self.moments.entry(name.to_string()).or_insert_with(|| (grad.zeros_like(), grad.zeros_like()));
            let weight_decay = if Self::decays(&p.shape()) { self.config.weight_decay } else { 0.0 };
            let cfg = AdamWConfig { lr, weight_decay, ..self.config };
            p.update_value(|value| value.adamw_step(&grad, m, v, &cfg, self.steps))
                .map_err(|e| Error::invalid("AdamW::step", format!("parameter {name}: {e}")))?;
        }
        Ok(())
    }
}
