//! Adam (Kingma & Ba 2015) with L2 weight decay added to the gradient (PyTorch's `Adam`).

use super::{with_l2, Optimizer, Slots};
use autograd::Params;
use tensor::Result;

/// With `g ← g + λθ`: `m ← β₁m + (1 − β₁)g`, `v ← β₂v + (1 − β₂)g²`,
/// `θ ← θ − (η/(1 − β₁ᵗ))·m / (√v/√(1 − β₂ᵗ) + ε)`. Unlike AdamW, the decay passes through the
/// adaptive scaling (so it is weaker for parameters with large gradients).
pub struct Adam {
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    pub weight_decay: f64,
    slots: Slots,
}

impl Adam {
    pub fn new(beta1: f64, beta2: f64, eps: f64, weight_decay: f64) -> Self {
        Self { beta1, beta2, eps, weight_decay, slots: Slots::new(&["m", "v"]) }
    }
}

impl Optimizer for Adam {
    fn step(&mut self, params: &Params, lr: f64) -> Result<()> {
        self.slots.steps += 1;
        let t = self.slots.steps as i32;
        let (bias1, bias2) = (1.0 - self.beta1.powi(t), 1.0 - self.beta2.powi(t));
        for (name, p) in params.iter() {
            let Some(g) = p.grad() else { continue };
            let theta = p.value();
            let g = with_l2(g, &theta, self.weight_decay)?;
            let slots = self.slots.get(name, &theta);
            slots[0] = slots[0].mul_scalar(self.beta1)?.add(&g.mul_scalar(1.0 - self.beta1)?)?;
            slots[1] = slots[1].mul_scalar(self.beta2)?.add(&g.mul(&g)?.mul_scalar(1.0 - self.beta2)?)?;
            let denom = slots[1].sqrt()?.div_scalar(bias2.sqrt())?.add_scalar(self.eps)?;
            p.set_value(theta.sub(&slots[0].div(&denom)?.mul_scalar(lr / bias1)?)?)?;
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
