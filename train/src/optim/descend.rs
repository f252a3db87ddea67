//! One step of gradient descent as the small trainers (classify, bert-pretrain, translate-train)
//! take it: gradients of a fresh loss, a stop on a non-finite loss, clipping, the update.

use super::{clip_grad_norm, Optimizer};
use crate::error::{Result, TrainError};
use autograd::{Params, Var};

/// Zeroes the gradients, back-propagates the loss that `loss` builds, clips the global gradient
/// norm to `max_norm` and updates `params` with learning rate `lr`. Returns the loss; a NaN or
/// infinite loss stops with an error naming `step` (the parameters are left untouched).
pub fn descend(
    params: &Params,
    optimizer: &mut dyn Optimizer,
    lr: f64,
    max_norm: f64,
    step: u64,
    loss: impl FnOnce() -> Result<Var>,
) -> Result<f64> {
    params.zero_grad();
    let loss = loss()?;
    let value = loss.value().to_scalar()?;
    if !value.is_finite() {
        return Err(TrainError::Invalid(format!("the loss became {value} at step {step}; stopping")));
    }
    loss.backward()?;
    clip_grad_norm(params, max_norm)?;
    optimizer.step(params, lr)?;
    Ok(value)
}
