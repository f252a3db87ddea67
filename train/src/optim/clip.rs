//! Clipping by global gradient norm.

use autograd::Params;
use tensor::Result;

/// `‖g‖ = √(Σ over all parameters of Σ g²)`; if `‖g‖ > max_norm`, every gradient is scaled by
/// `max_norm / (‖g‖ + 10⁻⁶)` (PyTorch's `clip_grad_norm_`). Returns `‖g‖` before clipping.
pub fn clip_grad_norm(params: &Params, max_norm: f64) -> Result<f64> {
    let mut sum_sq = 0.0;
    for (_, p) in params.iter() {
        if let Some(g) = p.grad() {
            sum_sq += g.mul(&g)?.sum_all()?.to_scalar()?;
        }
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
