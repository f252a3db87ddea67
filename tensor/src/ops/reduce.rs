//! Reductions over any set of dims, with `keepdim`.

use crate::op::ReduceOp;
use crate::shape::{elem_count, resolve_dims};
use crate::{Dim, Error, Result, Tensor};

impl Tensor {
    /// Reduces `dims` with `op`; with `keepdim` the reduced dims stay as size 1.
    pub fn reduce<D: Dim>(&self, dims: &[D], keepdim: bool, op: ReduceOp) -> Result<Tensor> {
        let dims = resolve_dims(op.name(), dims, self.shape())?;
        let storage = self.storage().reduce(self.layout(), &dims, op)?;
        let shape: Vec<usize> = if keepdim {
            self.shape().iter().enumerate().map(|(d, &s)| if dims.contains(&d) { 1 } else { s }).collect()
        } else {
            self.shape().iter().enumerate().filter(|(d, _)| !dims.contains(d)).map(|(_, &s)| s).collect()
        };
        Ok(Tensor::from_storage(storage, &shape))
    }

    /// `Σ` over `dims`.
    pub fn sum<D: Dim>(&self, dims: &[D], keepdim: bool) -> Result<Tensor> {
        self.reduce(dims, keepdim, ReduceOp::Sum)
    }

    /// `Σ` over every element: a rank-0 tensor.
    pub fn sum_all(&self) -> Result<Tensor> {
        let all: Vec<usize> = (0..self.rank()).collect();
        self.sum(&all, false)
    }

    /// True when no element is NaN or ±∞, on any device: `Σᵢ 0·xᵢ` is exactly 0 then, and NaN
    /// otherwise (`0·∞` and `0·NaN` are NaN). Integer tensors are always finite.
    pub fn all_finite(&self) -> Result<bool> {
        if !self.dtype().is_float() {
            return Ok(true);
        }
        Ok(self.mul_scalar(0.0)?.sum_all()?.to_scalar()? == 0.0)
    }

    /// `(1/n)·Σ` over `dims`, `n` the number of reduced elements.
    pub fn mean<D: Dim>(&self, dims: &[D], keepdim: bool) -> Result<Tensor> {
        let sum = self.sum(dims, keepdim)?;
        let n = self.elem_count() / sum.elem_count().max(1);
        sum.div_scalar(n as f64)
    }

    /// Mean of every element: a rank-0 tensor.
    pub fn mean_all(&self) -> Result<Tensor> {
        self.sum_all()?.div_scalar(self.elem_count() as f64)
    }

    pub fn max<D: Dim>(&self, dims: &[D], keepdim: bool) -> Result<Tensor> {
        self.reduce(dims, keepdim, ReduceOp::Max)
    }

    pub fn min<D: Dim>(&self, dims: &[D], keepdim: bool) -> Result<Tensor> {
        self.reduce(dims, keepdim, ReduceOp::Min)
    }

    /// Index (i64) of the first maximum along `dim`.
    pub fn argmax<D: Dim>(&self, dim: D, keepdim: bool) -> Result<Tensor> {
        self.reduce(&[dim], keepdim, ReduceOp::ArgMax)
    }

    /// Index (i64) of the first minimum along `dim`.
    pub fn argmin<D: Dim>(&self, dim: D, keepdim: bool) -> Result<Tensor> {
        self.reduce(&[dim], keepdim, ReduceOp::ArgMin)
    }

    /// Variance over `dims`: `Σ(x − x̄)² / (n − correction)`; `correction = 1` is the unbiased
    /// estimator (PyTorch's default), `0` the population variance layer norm uses.
    pub fn var<D: Dim>(&self, dims: &[D], keepdim: bool, correction: usize) -> Result<Tensor> {
        let mean = self.mean(dims, true)?;
        let centred = self.sub(&mean)?;
        let sq = centred.mul(&centred)?.sum(dims, keepdim)?;
        let n = self.elem_count() / sq.elem_count().max(1);
        if n <= correction {
            return Err(Error::invalid(
                "var",
                format!("{n} elements per group of shape {:?} with correction {correction}", self.shape()),
            ));
        }
        sq.div_scalar((n - correction) as f64)
    }

    /// `Σ` over every dim but the last, `(…, n) → (n)`: a linear layer's bias gradient from its
    /// output gradient `self`. On a GPU under bf16 matrix products, the pass that sums also rounds
    /// `self` into the bf16 copy that the layer's two backward products read, so the gradient is
    /// read once for all three.
    pub fn bias_grad(&self) -> Result<Tensor> {
        let Some(&n) = self.shape().last() else {
            return Err(Error::invalid("bias_grad", "needs a gradient of rank ≥ 1, got a scalar"));
        };
        Ok(Tensor::from_storage(self.storage().bias_grad(self.layout())?, &[n]))
    }

    /// Sums away broadcast dims so the result has `shape`: the adjoint of `broadcast_to(shape)`,
    /// used for the gradient of every broadcasting op.
    pub fn sum_to_shape(&self, shape: &[usize]) -> Result<Tensor> {
        if self.shape() == shape {
            return Ok(self.clone());
        }
        let lead = self.rank().checked_sub(shape.len()).ok_or_else(|| Error::ShapeMismatch {
            op: "sum_to_shape",
            lhs: self.shape().to_vec(),
            rhs: shape.to_vec(),
        })?;
        let mut dims: Vec<usize> = (0..lead).collect();
        for (i, &s) in shape.iter().enumerate() {
            let own = self.shape()[lead + i];
            if s == 1 && own != 1 {
                dims.push(lead + i);
            } else if s != own {
                return Err(Error::ShapeMismatch {
                    op: "sum_to_shape",
                    lhs: self.shape().to_vec(),
                    rhs: shape.to_vec(),
                });
            }
        }
        debug_assert_eq!(
            elem_count(shape) * dims.iter().map(|&d| self.shape()[d]).product::<usize>(),
            self.elem_count()
        );
        self.sum(&dims, true)?.reshape(shape)
    }
}
