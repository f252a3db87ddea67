//! `autograd`: reverse-mode automatic differentiation over tensors, in the spirit of micrograd.
//!
//! A [`Var`] wraps a `Tensor`. Each op computes its value and records a closure that maps the
//! output's gradient to its inputs' gradients (the op's derivative, written next to its forward
//! code in `ops/`). [`Var::backward`] orders the graph and runs those closures from the output
//! back to the leaves, summing gradients where a value was used more than once.
//!
//! ```
//! use autograd::Var;
//! use tensor::{DType, Tensor};
//! // z = x·y + x  →  dz/dx = y + 1, dz/dy = x
//! let x = Var::new(Tensor::full(&[], 3.0, DType::F64), true);
//! let y = Var::new(Tensor::full(&[], 4.0, DType::F64), true);
//! let z = x.mul(&y)?.add(&x)?;
//! z.backward()?;
//! assert_eq!(x.grad().unwrap().to_scalar()?, 5.0);
//! assert_eq!(y.grad().unwrap().to_scalar()?, 3.0);
//! # Ok::<(), tensor::Error>(())
//! ```

mod backward;
mod dot;
pub mod gradcheck;
mod no_grad;
mod ops;
mod params;
pub mod profile;
mod var;

pub use gradcheck::{gradcheck, GradcheckConfig, GradcheckReport};
pub use no_grad::{is_grad_enabled, no_grad};
pub use ops::{fused_attention, AttentionMask, Reduction};
pub use params::Params;
pub use var::{AddingBackwardFn, BackwardFn, Var};
