//! AdaGrad (Duchi et al. 2011): per-parameter learning rates shrinking with the gradients seen.

use super::{with_l2, Optimizer, Slots};
use autograd::Params;
use tensor::Result;

/// With `g ← g + λθ`: `s ← s + g²`, `θ ← θ − η·g / (√s + ε)` (PyTorch's `Adagrad`, no lr decay).
pub struct AdaGrad {
    pub eps: f64,
    pub weight_decay: f64,
    slots: Slots,
}

impl AdaGrad {
    pub fn new(eps: f64, weight_decay: f64) -> Self {
        Self { eps, weight_decay, slots: Slots::new(&["sum"]) }
    }
}

impl Optimizer for AdaGrad {
    fn step(&mut self, params: &Params, lr: f64) -> Result<()> {
        self.slots.steps += 1;
        for (name, p) in params.iter() {
            let Some(g) = p.grad() else { continue };
            let theta = p.value();
            let g = with_l2(g, &theta, self.weight_decay)?;
            let sum = &mut self.slots.get(name, &theta)[0];
            *sum = sum.add(&g.mul(&g)?)?;
            p.set_value(theta.sub(&g.div(&sum.sqrt()?.add_scalar(self.eps)?)?.mul_scalar(lr)?)?)?;
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
