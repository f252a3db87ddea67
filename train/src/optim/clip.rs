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
    if let Some(coef) = clip_coefficient(norm, max_norm) {
        for (_, p) in params.iter() {
            if let Some(g) = p.grad() {
                p.set_grad(Some(g.mul_scalar(coef)?))?;
            }
        }
    }
    Ok(norm)
}

/// The factor `max_norm / (‖g‖ + 10⁻⁶)` by which clipping scales every gradient, when it is below 1
/// (none: the gradients stay as they are).
pub fn clip_coefficient(norm: f64, max_norm: f64) -> Option<f64> {
    let coef = max_norm / (norm + 1e-6);
    (coef < 1.0).then_some(coef)
}
