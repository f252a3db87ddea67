//! Fused neural-network ops: softmax, layer norm, GELU backward, cross-entropy. The
//! backward functions live here too because autograd calls them; their formulas are on the
//! kernels in `kernels::cpu`.

use crate::op::GeluApproximation;
use crate::{Dim, Error, Result, Tensor};

impl Tensor {
    /// `softmax(x)ᵢ = exp(xᵢ − max x) / Σⱼ exp(xⱼ − max x)` along `dim` (numerically stable).
    pub fn softmax<D: Dim>(&self, dim: D) -> Result<Tensor> {
        self.along_last_dim("softmax", dim, |x| x.storage().softmax_last_dim(x.layout(), false))
    }

    /// `log_softmax(x)ᵢ = xᵢ − max x − log Σⱼ exp(xⱼ − max x)` along `dim`.
    pub fn log_softmax<D: Dim>(&self, dim: D) -> Result<Tensor> {
        self.along_last_dim("log_softmax", dim, |x| x.storage().softmax_last_dim(x.layout(), true))
    }

    /// Backward of (log-)softmax along `dim` given its output `self` and upstream `dy`:
    /// softmax `dx = y ⊙ (dy − Σ dy ⊙ y)`, log-softmax `dx = dy − exp(y)·Σ dy`.
    pub fn softmax_backward<D: Dim>(&self, dy: &Tensor, dim: D, log: bool) -> Result<Tensor> {
        self.expect_same_shape(dy, "softmax_backward")?;
        let d = dim.index("softmax_backward", self.shape())?;
        let last = self.rank() - 1;
        let (y, g) = (self.transpose(d, last)?.contiguous(), dy.transpose(d, last)?.contiguous());
        let storage = y.storage().softmax_last_dim_backward(y.layout(), g.storage(), g.layout(), log)?;
        Tensor::from_storage(storage, y.shape()).transpose(d, last)
    }

    /// Runs a last-dim kernel along any dim by swapping it to the end and back.
    fn along_last_dim<D: Dim>(
        &self,
        op: &'static str,
        dim: D,
        f: impl Fn(&Tensor) -> Result<crate::storage::Storage>,
    ) -> Result<Tensor> {
        if self.rank() == 0 {
            return Err(Error::invalid(op, "needs rank ≥ 1, got a scalar"));
        }
        let d = dim.index(op, self.shape())?;
        let last = self.rank() - 1;
        let x = self.transpose(d, last)?.contiguous();
        Tensor::from_storage(f(&x)?, x.shape()).transpose(d, last)
    }

    /// Layer norm over the last dim: `y = (x − μ)/√(σ² + ε) ⊙ γ + β` (biased σ², as PyTorch).
    pub fn layer_norm(&self, gamma: &Tensor, beta: &Tensor, eps: f64) -> Result<Tensor> {
        Ok(self.layer_norm_forward(gamma, beta, eps)?.0)
    }

    /// Layer norm returning `(y, μ, rstd)`, `μ` and `rstd = 1/√(σ² + ε)` of shape `x.shape[..-1]`:
    /// what backward needs.
    pub fn layer_norm_forward(&self, gamma: &Tensor, beta: &Tensor, eps: f64) -> Result<(Tensor, Tensor, Tensor)> {
        let cols = *self.shape().last().ok_or_else(|| Error::invalid("layer_norm", "needs rank ≥ 1, got a scalar"))?;
        for p in [gamma, beta] {
            self.same_dtype_device(p, "layer_norm")?;
            if p.shape() != [cols] {
                return Err(Error::ShapeMismatch {
                    op: "layer_norm",
                    lhs: self.shape().to_vec(),
                    rhs: p.shape().to_vec(),
                });
            }
        }
        let x = self.contiguous();
        let (y, mean, rstd) = x.storage().layer_norm(
            x.layout(),
            (gamma.storage(), gamma.layout()),
            (beta.storage(), beta.layout()),
            eps,
        )?;
        let rows_shape = &self.shape()[..self.rank() - 1];
        Ok((
            Tensor::from_storage(y, self.shape()),
            Tensor::from_storage(mean, rows_shape),
            Tensor::from_storage(rstd, rows_shape),
        ))
    }

    /// Layer-norm backward from `x = self`, `γ`, the cached `μ`, `rstd` and upstream `dy`: `(dx, dγ, dβ)`.
    pub fn layer_norm_backward(
        &self,
        gamma: &Tensor,
        mean: &Tensor,
        rstd: &Tensor,
        dy: &Tensor,
    ) -> Result<(Tensor, Tensor, Tensor)> {
        self.expect_same_shape(dy, "layer_norm_backward")?;
        let (x, dy) = (self.contiguous(), dy.contiguous());
        let (dx, dg, db) = x.storage().layer_norm_backward(
            x.layout(),
            (gamma.storage(), gamma.layout()),
            (mean.storage(), mean.layout()),
            (rstd.storage(), rstd.layout()),
            (dy.storage(), dy.layout()),
        )?;
        Ok((
            Tensor::from_storage(dx, self.shape()),
            Tensor::from_storage(dg, gamma.shape()),
            Tensor::from_storage(db, gamma.shape()),
        ))
    }

    /// `dx = dy ⊙ gelu′(x)` with `x = self`.
    pub fn gelu_backward(&self, dy: &Tensor, approx: GeluApproximation) -> Result<Tensor> {
        self.expect_same_shape(dy, "gelu_backward")?;
        let storage = self.storage().gelu_backward(self.layout(), dy.storage(), dy.layout(), approx)?;
        Ok(Tensor::from_storage(storage, self.shape()))
    }

    /// Targets as class indices: `None` for `ignore_index`, errors for other out-of-range ids.
    fn class_targets(
        &self,
        targets: &Tensor,
        ignore_index: Option<i64>,
        op: &'static str,
    ) -> Result<Vec<Option<usize>>> {
        let [rows, classes] = self.shape() else {
            return Err(Error::invalid(
                op,
                format!("logits must be 2-D (rows, classes), got shape {:?}", self.shape()),
            ));
        };
        if targets.shape() != [*rows] {
            return Err(Error::ShapeMismatch { op, lhs: self.shape().to_vec(), rhs: targets.shape().to_vec() });
        }
        if targets.dtype().is_float() {
            return Err(Error::invalid(
                op,
                format!("targets must be u32 or i64 class indices, got {:?}", targets.dtype()),
            ));
        }
        targets
            .to_f64_vec()
            .into_iter()
            .map(|t| {
                let t = t as i64;
                if Some(t) == ignore_index {
                    Ok(None)
                } else if t < 0 || t as usize >= *classes {
                    Err(Error::IndexOutOfRange { op, index: t, size: *classes })
                } else {
                    Ok(Some(t as usize))
                }
            })
            .collect()
    }

    /// Per-row cross-entropy `lossᵢ = log Σⱼ exp(xᵢⱼ) − xᵢ,tᵢ` of `(rows, classes)` logits;
    /// rows whose target equals `ignore_index` give 0.
    pub fn cross_entropy_rows(&self, targets: &Tensor, ignore_index: Option<i64>) -> Result<Tensor> {
        let t = self.class_targets(targets, ignore_index, "cross_entropy")?;
        let x = self.with_dense_rows();
        Ok(Tensor::from_storage(x.storage().cross_entropy(x.layout(), &t)?, &[t.len()]))
    }

    /// Backward of [`Tensor::cross_entropy_rows`]: `dxᵢ = dlossᵢ·(softmax(xᵢ) − onehot(tᵢ))`. The
    /// forward's `losses`, when given, spare the GPU a pass over the logits (`log Σ exp = lossᵢ +
    /// xᵢ,tᵢ`).
    pub fn cross_entropy_rows_backward(
        &self,
        targets: &Tensor,
        ignore_index: Option<i64>,
        dloss: &Tensor,
        losses: Option<&Tensor>,
    ) -> Result<Tensor> {
        let t = self.class_targets(targets, ignore_index, "cross_entropy_backward")?;
        let x = self.with_dense_rows();
        let losses = losses.map(|l| (l.storage(), l.layout()));
        let (storage, layout) =
            x.storage().cross_entropy_backward(x.layout(), &t, (dloss.storage(), dloss.layout()), losses)?;
        Ok(Tensor::from_storage_with_layout(storage, layout))
    }

    /// This matrix if its rows are dense runs (at any stride: a product's padded output), else a
    /// contiguous copy: what the row-wise kernels read.
    fn with_dense_rows(&self) -> Tensor {
        if self.layout().row_stride().is_some() {
            self.clone()
        } else {
            self.contiguous()
        }
    }

    /// A `ShapeMismatch` error naming `op` unless both tensors have the same shape.
    pub fn expect_same_shape(&self, other: &Tensor, op: &'static str) -> Result<()> {
        if self.shape() != other.shape() {
            return Err(Error::ShapeMismatch { op, lhs: self.shape().to_vec(), rhs: other.shape().to_vec() });
        }
        Ok(())
    }
}
