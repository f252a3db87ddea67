//! Stochastic gradient descent with momentum (Polyak, or Nesterov) and L2 weight decay.

use super::{with_l2, Optimizer, Slots};
use autograd::Params;
use tensor::Result;

/// PyTorch's SGD. With `g ← g + λθ` (L2 regularisation, F9):
/// without momentum `θ ← θ − η·g`; with momentum μ, `b ← μ·b + g` (`b = g` on the first step) and
/// `θ ← θ − η·b`, or for Nesterov `θ ← θ − η·(g + μ·b)`.
pub struct Sgd {
    pub momentum: f64,
    pub nesterov: bool,
    pub weight_decay: f64,
    slots: Slots,
}

impl Sgd {
    pub fn new(momentum: f64, nesterov: bool, weight_decay: f64) -> Self {
        Self { momentum, nesterov, weight_decay, slots: Slots::new(&["momentum"]) }
    }
}

impl Optimizer for Sgd {
    fn step(&mut self, params: &Params, lr: f64) -> Result<()> {
        self.slots.steps += 1;
        for (name, p) in params.iter() {
            let Some(g) = p.grad() else { continue };
            let theta = p.value();
            let g = with_l2(g, &theta, self.weight_decay)?;
            let direction = if self.momentum != 0.0 {
                let first = self.slots.steps == 1 || !self.slots.by_param.contains_key(name);
                let slot = &mut self.slots.get(name, &theta)[0];
                *slot = if first { g.clone() } else { slot.mul_scalar(self.momentum)?.add(&g)? };
                if self.nesterov {
                    g.add(&slot.mul_scalar(self.momentum)?)?
                } else {
                    slot.clone()
                }
            } else {
                g
            };
            p.set_value(theta.sub(&direction.mul_scalar(lr)?)?)?;
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
