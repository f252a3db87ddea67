//! AdamW (Loshchilov & Hutter 2019): Adam with weight decay decoupled from the gradient.

use super::{clip_grad_norm, Optimizer, Slots};
use autograd::Params;
use std::collections::BTreeMap;
use tensor::{AdamWConfig, AdamWUpdate, Device, Error, Result, Tensor};

/// AdamW over named parameters. Per step `t` and parameter `θ` with gradient `g` (fused kernel
/// `kernels::adamw`, PyTorch's order of operations):
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

    /// One step on every parameter that has a gradient, with learning rate `lr`, the gradients
    /// clipped to the global norm `max_norm` inside the step when given (on one GPU).
    fn update(&mut self, params: &Params, lr: f64, max_norm: Option<f64>) -> Result<()> {
        self.slots.steps += 1;
        let t = self.slots.steps;
        let named = |name: &str, e: Error| Error::invalid("AdamW::step", format!("parameter {name}: {e}"));
        let with_grads: Vec<_> = params.iter().filter_map(|(name, p)| p.grad().map(|g| (name, p, g))).collect();
        for (name, _, grad) in &with_grads {
            self.slots.get(name, grad);
        }
        // Every parameter at once: one update for all of them (one launch on a GPU).
        let mut values = with_grads
            .iter()
            .map(|(name, p, _)| p.value_mut().map_err(|e| named(name, e)))
            .collect::<Result<Vec<_>>>()?;
        let mut slots: BTreeMap<&str, &mut Vec<Tensor>> =
            self.slots.by_param.iter_mut().map(|(name, slots)| (name.as_str(), slots)).collect();
        let mut updates = Vec::with_capacity(with_grads.len());
        for ((name, _, grad), value) in with_grads.iter().zip(values.iter_mut()) {
            let moments = slots.remove(name).expect("created above");
            let [m, v] = moments.as_mut_slice() else { unreachable!("two slots") };
            value.check_adamw_step(grad, m, v, t).map_err(|e| named(name, e))?;
            let weight_decay = if Self::decays(value.shape()) { self.config.weight_decay } else { 0.0 };
            let cfg = AdamWConfig { lr, weight_decay, ..self.config };
            updates.push(AdamWUpdate { param: value, grad, m, v, cfg });
        }
        match max_norm {
            Some(max_norm) => Tensor::adamw_step_all_clipped(&mut updates, t, max_norm),
            None => Tensor::adamw_step_all(&mut updates, t),
        }
        .map_err(|e| Error::invalid("AdamW::step", e.to_string()))
    }
}

impl Optimizer for AdamW {
    /// One step on every parameter that has a gradient, with learning rate `lr` (a schedule may
    /// change it every step).
    fn step(&mut self, params: &Params, lr: f64) -> Result<()> {
        self.update(params, lr, None)
    }

    /// With every gradient on one GPU, the norm is taken and applied inside the step, on the
    /// device ([`Tensor::adamw_step_all_clipped`]: no wait for the host); elsewhere
    /// [`clip_grad_norm`], then the step.
    fn step_clipped(&mut self, params: &Params, lr: f64, max_norm: f64) -> Result<()> {
        let devices: Vec<Device> = params.iter().filter_map(|(_, p)| p.grad().map(|g| g.device())).collect();
        match devices.first() {
            Some(&first @ Device::Cuda(_)) if devices.iter().all(|&d| d == first) => {
                self.update(params, lr, Some(max_norm))
            }
            _ => {
                clip_grad_norm(params, max_norm)?;
                self.update(params, lr, None)
            }
        }
    }

    fn slots(&self) -> &Slots {
        &self.slots
    }

    fn slots_mut(&mut self) -> &mut Slots {
        &mut self.slots
    }
}
