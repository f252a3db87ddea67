//! Clipping by global gradient norm.

use autograd::Params;
use tensor::{Result, Tensor};

/// `‖g‖ = √(Σ over all parameters of Σ g²)`; if `‖g‖ > max_norm`, every gradient is scaled by
/// `max_norm / (‖g‖ + 10⁻⁶)` (PyTorch's `clip_grad_norm_`). Returns `‖g‖` before clipping.
///
/// The sums of squares are added where the gradients live and read once per device: on a GPU,
/// reading each parameter's sum would wait for the device once per parameter.
pub fn clip_grad_norm(params: &Params, max_norm: f64) -> Result<f64> {
    let mut sums: Vec<Tensor> = Vec::new(); // Σ g², one per device
    for (_, p) in params.iter() {
        if let Some(g) = p.grad() {
            let s = g.mul(&g)?.sum_all()?;
            match sums.iter_mut().find(|sum| sum.device() == s.device()) {
                Some(sum) => *sum = sum.add(&s)?,
                None => sums.push(s),
            }
        }
    }
    let mut sum_sq = 0.0;
    for s in &sums {
        sum_sq += s.to_scalar()?;
    }
    let norm = sum_sq.sqrt();
    let coef = max_norm / (norm + 1e-6);
    if coef < 1.0 {
        for (_, p) in params.iter() {
            if let Some(g) = p.grad() {
                p.set_grad(Some(g.mul_scalar(coef)?))?;
            }
        }
    }
    Ok(norm)
}
