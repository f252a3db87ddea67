//! `Var`: a tensor that remembers how it was made. A node of the graph holds its value, its
//! gradient (for leaves), and — for results of ops — the inputs and the backward closure that
//! maps the output's gradient to the inputs' gradients (the chain rule, one op at a time).

use crate::no_grad::is_grad_enabled;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock, RwLockWriteGuard, TryLockError};
use tensor::{Error, Result, Tensor};

/// `dL/d(output) ↦ [dL/d(input₀), dL/d(input₁), …]` (`None` for an input with no gradient).
pub type BackwardFn = Box<dyn Fn(&Tensor) -> Result<Vec<Option<Tensor>>> + Send + Sync>;

/// [`BackwardFn`] also handed the sum so far of input₀'s gradient (what the ops after it have
/// sent it), which its gradient for input₀ must then include: an op whose kernel can add into
/// that sum as it writes its own contribution saves the separate pass that would add the two.
pub type AddingBackwardFn = Box<dyn Fn(&Tensor, Option<Tensor>) -> Result<Vec<Option<Tensor>>> + Send + Sync>;

pub(crate) enum Backward {
    Plain(BackwardFn),
    AddingToFirst(AddingBackwardFn),
}

pub(crate) struct OpRecord {
    pub(crate) name: &'static str,
    pub(crate) inputs: Vec<Var>,
    pub(crate) backward: Backward,
}

pub(crate) struct Node {
    pub(crate) id: usize,
    pub(crate) value: RwLock<Tensor>,
    pub(crate) grad: Mutex<Option<Tensor>>,
    pub(crate) requires_grad: bool,
    pub(crate) op: Option<OpRecord>,
    pub(crate) name: Option<String>,
}

/// A differentiable value: cheap to clone (shared), freed when the last clone drops.
#[derive(Clone)]
pub struct Var(pub(crate) Arc<Node>);

static NEXT_ID: AtomicUsize = AtomicUsize::new(0);

impl Var {
    fn node(value: Tensor, requires_grad: bool, op: Option<OpRecord>, name: Option<String>) -> Var {
        Var(Arc::new(Node {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            value: RwLock::new(value),
            grad: Mutex::new(None),
            requires_grad,
            op,
            name,
        }))
    }

    /// A leaf; with `requires_grad`, `backward()` fills its gradient.
    pub fn new(value: Tensor, requires_grad: bool) -> Var {
        Self::node(value, requires_grad, None, None)
    }

    /// A named leaf that requires a gradient: a model parameter.
    pub fn parameter(value: Tensor, name: impl Into<String>) -> Var {
        Self::node(value, true, None, Some(name.into()))
    }

    /// A leaf with no gradient (inputs, targets, masks).
    pub fn constant(value: Tensor) -> Var {
        Self::new(value, false)
    }

    /// The result of an op. Records `inputs` and `backward` only when some input needs a gradient
    /// and gradients are enabled (see [`crate::no_grad`]); otherwise the result is a constant and
    /// no graph is kept.
    pub fn from_op(
        name: &'static str,
        value: Tensor,
        inputs: &[&Var],
        backward: impl Fn(&Tensor) -> Result<Vec<Option<Tensor>>> + Send + Sync + 'static,
    ) -> Var {
        Self::recorded(name, value, inputs, Backward::Plain(Box::new(backward)))
    }

    /// [`Var::from_op`] whose backward is handed the gradient input₀ has received so far
    /// ([`AddingBackwardFn`]: `None` when nothing has reached it yet) and returns, for input₀,
    /// that sum with its own contribution added.
    pub fn from_op_adding_to_first(
        name: &'static str,
        value: Tensor,
        inputs: &[&Var],
        backward: impl Fn(&Tensor, Option<Tensor>) -> Result<Vec<Option<Tensor>>> + Send + Sync + 'static,
    ) -> Var {
        Self::recorded(name, value, inputs, Backward::AddingToFirst(Box::new(backward)))
    }

    fn recorded(name: &'static str, value: Tensor, inputs: &[&Var], backward: Backward) -> Var {
        if !is_grad_enabled() || !inputs.iter().any(|v| v.requires_grad()) {
            return Self::constant(value);
        }
        crate::profile::forward_op_done(name, || inputs.iter().map(|v| v.shape()).collect(), value.device());
        let op = OpRecord { name, inputs: inputs.iter().map(|&v| v.clone()).collect(), backward };
        Self::node(value, true, Some(op), None)
    }

    /// A new leaf with the same value and no history.
    pub fn detach(&self) -> Var {
        Self::constant(self.value())
    }

    pub fn id(&self) -> usize {
        self.0.id
    }

    pub fn name(&self) -> Option<&str> {
        self.0.name.as_deref()
    }

    pub fn requires_grad(&self) -> bool {
        self.0.requires_grad
    }

    pub fn is_leaf(&self) -> bool {
        self.0.op.is_none()
    }

    /// The name of the op that made this value (`None` for leaves).
    pub fn op_name(&self) -> Option<&'static str> {
        self.0.op.as_ref().map(|op| op.name)
    }

    /// The value (a cheap, shared handle).
    pub fn value(&self) -> Tensor {
        self.0.value.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn shape(&self) -> Vec<usize> {
        self.0.value.read().unwrap_or_else(|e| e.into_inner()).shape().to_vec()
    }

    /// The accumulated gradient of a leaf, if `backward` has reached it.
    pub fn grad(&self) -> Option<Tensor> {
        self.0.grad.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Replaces the gradient (e.g. after clipping, or to feed an optimizer known gradients).
    pub fn set_grad(&self, grad: Option<Tensor>) -> Result<()> {
        if let Some(g) = &grad {
            let shape = self.shape();
            if g.shape() != shape.as_slice() {
                return Err(Error::ShapeMismatch { op: "set_grad", lhs: shape, rhs: g.shape().to_vec() });
            }
        }
        *self.0.grad.lock().unwrap_or_else(|e| e.into_inner()) = grad;
        Ok(())
    }

    pub fn zero_grad(&self) {
        *self.0.grad.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }

    pub(crate) fn accumulate_grad(&self, g: Tensor) -> Result<()> {
        // A leaf's gradient has its value's dtype, though an op may hand on its input's gradient
        // in bf16 (for the products before it, on a GPU under bf16 products).
        let dtype = self.value().dtype();
        let g = if g.dtype() == dtype { g } else { g.to_dtype(dtype) };
        let mut slot = self.0.grad.lock().unwrap_or_else(|e| e.into_inner());
        *slot = Some(match slot.take() {
            Some(mut old) => {
                old.add_assign(&g)?;
                old
            }
            None => g,
        });
        Ok(())
    }

    /// Replaces a leaf's value (e.g. an optimizer step), keeping shape and dtype.
    pub fn set_value(&self, value: Tensor) -> Result<()> {
        self.update_value(|v| {
            if v.shape() != value.shape() || v.dtype() != value.dtype() {
                return Err(Error::invalid(
                    "set_value",
                    format!(
                        "new value {:?} {:?} does not match {:?} {:?}",
                        value.shape(),
                        value.dtype(),
                        v.shape(),
                        v.dtype()
                    ),
                ));
            }
            *v = value;
            Ok(())
        })
    }

    /// Write access to the value while the guard lives, for in-place updates of many values at
    /// once (a multi-tensor optimizer step holds one per parameter). An error, where waiting would
    /// deadlock, if the value is borrowed already (the same parameter twice in one update, say).
    pub fn value_mut(&self) -> Result<RwLockWriteGuard<'_, Tensor>> {
        match self.0.value.try_write() {
            Ok(guard) => Ok(guard),
            Err(TryLockError::Poisoned(e)) => Ok(e.into_inner()),
            // Named by id and name only: printing the Var would read its shape, which is locked.
            Err(TryLockError::WouldBlock) => Err(Error::invalid(
                "Var::value_mut",
                format!("Var #{} ({}) is borrowed already", self.id(), self.name().unwrap_or("unnamed")),
            )),
        }
    }

    /// Mutable access to the value, for in-place updates such as `Tensor::adamw_step`.
    pub fn update_value<R>(&self, f: impl FnOnce(&mut Tensor) -> R) -> R {
        f(&mut self.0.value.write().unwrap_or_else(|e| e.into_inner()))
    }
}

impl std::fmt::Debug for Var {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Var(#{} {} {:?}", self.id(), self.op_name().or(self.name()).unwrap_or("leaf"), self.shape())?;
        write!(f, "{})", if self.requires_grad() { ", requires_grad" } else { "" })
    }
}
