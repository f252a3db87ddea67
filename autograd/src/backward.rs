//! `backward()`: reverse-mode differentiation. Order the graph so every node comes after its
//! inputs, then walk it backwards, handing each node's gradient to its op's backward closure and
//! summing what flows into each input (a value used twice receives both contributions).

use crate::no_grad::no_grad;
use crate::profile;
use crate::var::Backward;
use crate::Var;
use std::collections::{HashMap, HashSet};
use tensor::{DType, Device, Error, Result, Tensor};

impl Var {
    /// `dL/dθ` for every leaf θ that requires a gradient, where `L = self` is a one-element tensor;
    /// the gradients are added to the leaves' `grad()` (call `zero_grad` between steps).
    pub fn backward(&self) -> Result<()> {
        let value = self.value();
        if value.elem_count() != 1 {
            return Err(Error::invalid(
                "backward",
                format!("needs a one-element output, got shape {:?}; use backward_with_grad", value.shape()),
            ));
        }
        self.backward_with_grad(&value.ones_like())
    }

    /// Backward from a non-scalar output with a given upstream gradient `dL/d(self)`.
    pub fn backward_with_grad(&self, grad: &Tensor) -> Result<()> {
        let value = self.value();
        if grad.shape() != value.shape() || grad.dtype() != value.dtype() {
            return Err(Error::invalid(
                "backward",
                format!(
                    "upstream gradient {:?} {:?} does not match the output {:?} {:?}",
                    grad.shape(),
                    grad.dtype(),
                    value.shape(),
                    value.dtype()
                ),
            ));
        }
        if !self.requires_grad() {
            return Err(Error::invalid("backward", "the output does not depend on anything that requires a gradient"));
        }
        self.propagate(grad, Propagation::IntoLeaves).map(|_| ())
    }

    /// `dL/dv` for every node `v` of the graph behind `self` (by [`Var::id`]), from the upstream
    /// gradient `grad`, leaving every leaf's `grad()` as it is: for showing a graph with its
    /// gradients ([`Var::to_dot_with_values`]).
    pub(crate) fn gradients_of_every_node(&self, grad: &Tensor) -> Result<HashMap<usize, Tensor>> {
        self.propagate(grad, Propagation::Collect)
    }

    /// The chain rule through the graph in reverse topological order, summing what flows into each
    /// input. `IntoLeaves` adds each leaf's gradient to its `grad()` and frees every other as soon
    /// as it is used; `Collect` returns every node's gradient instead.
    fn propagate(&self, grad: &Tensor, how: Propagation) -> Result<HashMap<usize, Tensor>> {
        no_grad(|| {
            let mut grads: HashMap<usize, Tensor> = HashMap::from([(self.id(), grad.clone())]);
            let mut collected = HashMap::new();
            for var in topological_order(self).iter().rev() {
                let Some(g) = grads.remove(&var.id()) else { continue };
                if how == Propagation::Collect {
                    collected.insert(var.id(), g.clone());
                }
                let Some(op) = &var.0.op else {
                    if how == Propagation::IntoLeaves {
                        let device = g.device();
                        let shape = g.shape().to_vec();
                        profile::time_backward("leaf grad", || vec![shape], device, || var.accumulate_grad(g))?;
                    }
                    continue;
                };
                let shapes = || op.inputs.iter().map(Var::shape).collect();
                let input_grads = profile::time_backward(op.name, shapes, g.device(), || match &op.backward {
                    Backward::Plain(backward) => backward(&g),
                    Backward::AddingToFirst(backward) => {
                        // The sum so far of input₀'s gradient goes to the op, which returns it with its
                        // own contribution added.
                        let first = op.inputs.first().filter(|v| v.requires_grad());
                        let sum = first.and_then(|v| grads.remove(&v.id()));
                        let had_sum = sum.is_some();
                        let input_grads = backward(&g, sum)?;
                        if had_sum && input_grads.first().is_none_or(Option::is_none) {
                            return Err(Error::invalid(op.name, "backward dropped the gradient its first input had"));
                        }
                        Ok(input_grads)
                    }
                })?;
                for (input, ig) in op.inputs.iter().zip(input_grads) {
                    let Some(ig) = ig.filter(|_| input.requires_grad()) else {
                        continue;
                    };
                    if ig.shape() != input.shape().as_slice() {
                        return Err(Error::invalid(
                            op.name,
                            format!(
                                "backward produced a gradient of shape {:?} for an input of shape {:?}",
                                ig.shape(),
                                input.shape()
                            ),
                        ));
                    }
                    let summed = match grads.remove(&input.id()) {
                        Some(prev) => {
                            let shapes = || vec![ig.shape().to_vec()];
                            profile::time_backward("accumulate", shapes, ig.device(), || sum_of(prev, &ig))?
                        }
                        None => ig,
                    };
                    grads.insert(input.id(), summed);
                }
            }
            Ok(collected)
        })
    }
}

/// `prev + ig`, in place where it can be ([`Tensor::add_assign`]). A GPU sums f32 only: bf16
/// gradients that meet there (two readers of a tensor kept in bf16 alone) are summed in f32.
fn sum_of(mut prev: Tensor, ig: &Tensor) -> Result<Tensor> {
    let on_gpu = matches!(prev.device(), Device::Cuda(_));
    if on_gpu && (prev.dtype() == DType::BF16 || ig.dtype() == DType::BF16) {
        let mut sum = prev.to_dtype(DType::F32);
        sum.add_assign(&ig.to_dtype(DType::F32))?;
        return Ok(sum);
    }
    prev.add_assign(ig)?;
    Ok(prev)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Propagation {
    IntoLeaves,
    Collect,
}

/// Every node that requires a gradient and `root` depends on, each after all of its inputs
/// (iterative depth-first post-order, so deep graphs do not overflow the stack).
pub(crate) fn topological_order(root: &Var) -> Vec<Var> {
    let mut order = Vec::new();
    let mut seen = HashSet::new();
    let mut stack: Vec<(Var, bool)> = vec![(root.clone(), false)];
    while let Some((var, inputs_done)) = stack.pop() {
        if inputs_done {
            order.push(var);
            continue;
        }
        if !seen.insert(var.id()) {
            continue;
        }
        stack.push((var.clone(), true));
        if let Some(op) = &var.0.op {
            for input in op.inputs.iter().filter(|v| v.requires_grad() && !seen.contains(&v.id())) {
                stack.push((input.clone(), false));
            }
        }
    }
    order
}
