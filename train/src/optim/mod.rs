//! Optimizers (F8) and what steers them: the update `θ ← θ − η·(direction from the gradients)`,
//! learning-rate schedules, gradient clipping. State is kept by parameter name so it can be saved
//! in a checkpoint and restored exactly.

mod adagrad;
mod adam;
mod adamw;
mod clip;
mod schedule;
mod sgd;

pub use adagrad::AdaGrad;
pub use adam::Adam;
pub use adamw::AdamW;
pub use clip::{clip_coefficient, clip_grad_norm};
pub use schedule::Schedule;
pub use sgd::Sgd;

use autograd::Params;
use std::collections::BTreeMap;
use tensor::{Result, Tensor};

/// What the trainer needs of an optimizer.
pub trait Optimizer {
    /// One update of every parameter that has a gradient, with learning rate `lr`.
    fn step(&mut self, params: &Params, lr: f64) -> Result<()>;
    /// [`Optimizer::step`] after clipping the global gradient norm to `max_norm`
    /// ([`clip_grad_norm`]).
    fn step_clipped(&mut self, params: &Params, lr: f64, max_norm: f64) -> Result<()> {
        clip_grad_norm(params, max_norm)?;
        self.step(params, lr)
    }
    /// The step count and per-parameter state.
    fn slots(&self) -> &Slots;
    fn slots_mut(&mut self) -> &mut Slots;

    /// Steps taken so far.
    fn steps(&self) -> u64 {
        self.slots().steps
    }
    /// The state tensors by name (`"<slot>.<parameter name>"`), for checkpoints.
    fn state(&self) -> Vec<(String, Tensor)> {
        self.slots().export()
    }
    /// Restores what [`Optimizer::state`] returned, after `steps` steps.
    fn load_state(&mut self, state: BTreeMap<String, Tensor>, steps: u64) -> Result<()> {
        self.slots_mut().steps = steps;
        self.slots_mut().import(state)
    }
}

/// `g + λθ`: the gradient of `L + (λ/2)‖θ‖²` (L2 regularisation, F9), or `g` itself when `λ = 0`.
pub(crate) fn with_l2(g: Tensor, theta: &Tensor, weight_decay: f64) -> Result<Tensor> {
    if weight_decay == 0.0 {
        return Ok(g);
    }
    g.add(&theta.mul_scalar(weight_decay)?)
}

/// An optimizer's step count and its per-parameter state slots (`"m"`, `"v"`, `"momentum"`, …)
/// keyed by parameter name.
#[derive(Default, Clone)]
pub struct Slots {
    pub steps: u64,
    pub(crate) names: Vec<&'static str>,
    pub(crate) by_param: BTreeMap<String, Vec<Tensor>>,
}

impl Slots {
    pub(crate) fn new(names: &[&'static str]) -> Self {
        Self { steps: 0, names: names.to_vec(), by_param: BTreeMap::new() }
    }

    /// The slots of `param`, zero-initialised like `like` on first use.
    pub(crate) fn get(&mut self, param: &str, like: &Tensor) -> &mut Vec<Tensor> {
        let n = self.names.len();
        // One buffer per slot (`vec![t; n]` would share one storage, copied on the first write).
        self.by_param.entry(param.to_string()).or_insert_with(|| (0..n).map(|_| like.zeros_like()).collect())
    }

    /// Moves every slot to `device` (after a resume onto a GPU, say).
    pub fn to_device(&mut self, device: tensor::Device) -> Result<()> {
        for t in self.by_param.values_mut().flatten() {
            *t = t.to_device(device)?;
        }
        Ok(())
    }

    pub(crate) fn export(&self) -> Vec<(String, Tensor)> {
        self.by_param
            .iter()
            .flat_map(|(p, ts)| self.names.iter().zip(ts).map(move |(s, t)| (format!("{s}.{p}"), t.clone())))
            .collect()
    }

    pub(crate) fn import(&mut self, mut state: BTreeMap<String, Tensor>) -> Result<()> {
        let mut by_param: BTreeMap<String, Vec<Tensor>> = BTreeMap::new();
        let params: Vec<String> =
            state.keys().filter_map(|k| k.strip_prefix(&format!("{}.", self.names[0])).map(str::to_string)).collect();
        for p in params {
            let slots = self
                .names
                .iter()
                .map(|s| {
                    state
                        .remove(&format!("{s}.{p}"))
                        .ok_or_else(|| tensor::Error::invalid("optimizer state", format!("missing {s}.{p}")))
                })
                .collect::<Result<Vec<_>>>()?;
            by_param.insert(p, slots);
        }
        if let Some(extra) = state.keys().next() {
            return Err(tensor::Error::invalid("optimizer state", format!("unexpected entry {extra}")));
        }
        self.by_param = by_param;
        Ok(())
    }
}
