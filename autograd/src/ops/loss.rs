//! Losses (F6, F7) as fused ops with hand-derived gradients.

use crate::Var;
use tensor::{CmpOp, Error, Result, Tensor};

/// How per-element losses combine into the returned value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reduction {
    /// The average over counted elements (rows not ignored): the empirical risk `L(θ) = 1/N Σ ℓᵢ`.
    Mean,
    /// `Σ ℓᵢ`.
    Sum,
    /// The per-element losses themselves.
    None,
}

impl Reduction {
    /// Reduces per-element `losses` over `count` counted elements; returns the value and the
    /// weight each element's loss carries in it.
    pub(crate) fn apply(self, losses: &Tensor, count: usize) -> Result<(Tensor, f64)> {
        match self {
            Reduction::Mean => Ok((losses.sum_all()?.div_scalar(count.max(1) as f64)?, 1.0 / count.max(1) as f64)),
            Reduction::Sum => Ok((losses.sum_all()?, 1.0)),
            Reduction::None => Ok((losses.clone(), 1.0)),
        }
    }

    /// The upstream gradient of each element's loss, from the gradient of the reduced value.
    pub(crate) fn per_element_grad(self, g: &Tensor, weight: f64, shape: &[usize]) -> Result<Tensor> {
        match self {
            Reduction::None => Ok(g.clone()),
            _ => g.mul_scalar(weight)?.broadcast_to(shape)?.contiguous().reshape(shape),
        }
    }
}

/// The rows of a per-row loss: `x (…, C)` as `(rows, C)`, its `targets (…)` as `(rows)`, and
/// how many rows count (their target is not `ignore_index`).
pub(crate) struct TargetRows {
    pub x: Tensor,
    pub targets: Tensor,
    pub rows: usize,
    pub counted: usize,
}

/// [`TargetRows`] of `x` and `targets` for `op`, which refuses targets not shaped as `x` without
/// its last dim, and a scalar `x` (`no_last_dim` says what it lacks).
pub(crate) fn target_rows(
    op: &'static str,
    x: &Tensor,
    targets: &Tensor,
    ignore_index: Option<i64>,
    no_last_dim: &str,
) -> Result<TargetRows> {
    let channels = *x.shape().last().ok_or_else(|| Error::invalid(op, no_last_dim))?;
    if targets.shape() != &x.shape()[..x.rank() - 1] {
        return Err(Error::ShapeMismatch { op, lhs: x.shape().to_vec(), rhs: targets.shape().to_vec() });
    }
    let rows = x.elem_count() / channels.max(1);
    let counted = match ignore_index {
        Some(ii) => targets.to_f64_vec().iter().filter(|&&t| t as i64 != ii).count(),
        None => rows,
    };
    Ok(TargetRows { x: x.reshape(&[rows, channels])?, targets: targets.reshape(&[rows])?, rows, counted })
}

impl Var {
    /// Cross-entropy of logits `(…, C)` against class indices `(…)` (F6): per row
    /// `ℓᵢ = −log softmax(xᵢ)_{tᵢ} = log Σⱼ exp(xᵢⱼ) − xᵢ,tᵢ`, i.e. `H(p, q) = −Σ p log q` with `p`
    /// one-hot. Rows whose target is `ignore_index` are skipped (and not counted by `Mean`).
    /// Backward: `dxᵢ = dℓᵢ·(softmax(xᵢ) − onehot(tᵢ))`.
    pub fn cross_entropy(&self, targets: &Tensor, ignore_index: Option<i64>, reduction: Reduction) -> Result<Var> {
        let x = self.value();
        let TargetRows { x: x2, targets: t1, rows, counted } =
            target_rows("cross_entropy", &x, targets, ignore_index, "logits must have a class dim")?;
        let losses = x2.cross_entropy_rows(&t1, ignore_index)?;
        let (value, weight) = reduction.apply(&losses.reshape(targets.shape())?, counted)?;
        let out_shape = x.shape().to_vec();
        Ok(Var::from_op("cross_entropy", value, &[self], move |g| {
            let dl = reduction.per_element_grad(g, weight, t1.shape())?.reshape(&[rows])?;
            let dx = x2.cross_entropy_rows_backward(&t1, ignore_index, &dl, Some(&losses))?;
            Ok(vec![Some(dx.reshape(&out_shape)?)])
        }))
    }

    /// Binary cross-entropy on logits (F7), the stable form of `−[y log σ(x) + (1−y) log(1−σ(x))]`:
    /// `ℓ = max(x, 0) − x·y + log(1 + e^{−|x|})`. Backward: `dx = dℓ·(σ(x) − y)`.
    pub fn bce_with_logits(&self, targets: &Tensor, reduction: Reduction) -> Result<Var> {
        let x = self.value();
        x.expect_same_shape(targets, "bce_with_logits")?;
        let losses = x.relu()?.sub(&x.mul(targets)?)?.add(&x.abs()?.neg()?.exp()?.add_scalar(1.0)?.log()?)?;
        let (value, weight) = reduction.apply(&losses, x.elem_count())?;
        let targets = targets.clone();
        Ok(Var::from_op("bce_with_logits", value, &[self], move |g| {
            let dl = reduction.per_element_grad(g, weight, x.shape())?;
            Ok(vec![Some(dl.mul(&x.sigmoid()?.sub(&targets)?)?)])
        }))
    }

    /// Binary cross-entropy on probabilities `p = self ∈ (0, 1)` (F7):
    /// `ℓ = −[y log p + (1−y) log(1−p)]`. Backward: `dp = dℓ·(p − y) / (p(1 − p))`.
    pub fn binary_cross_entropy(&self, targets: &Tensor, reduction: Reduction) -> Result<Var> {
        let p = self.value();
        p.expect_same_shape(targets, "binary_cross_entropy")?;
        let outside = p.cmp_scalar(0.0, CmpOp::Le)?.to_f64_vec().iter().sum::<f64>()
            + p.cmp_scalar(1.0, CmpOp::Ge)?.to_f64_vec().iter().sum::<f64>();
        if outside > 0.0 {
            return Err(Error::invalid(
                "binary_cross_entropy",
                format!("{outside} probabilities outside (0, 1); use bce_with_logits"),
            ));
        }
        let one_minus_p = p.neg()?.add_scalar(1.0)?;
        let one_minus_y = targets.neg()?.add_scalar(1.0)?;
        let losses = targets.mul(&p.log()?)?.add(&one_minus_y.mul(&one_minus_p.log()?)?)?.neg()?;
        let (value, weight) = reduction.apply(&losses, p.elem_count())?;
        let targets = targets.clone();
        Ok(Var::from_op("binary_cross_entropy", value, &[self], move |g| {
            let dl = reduction.per_element_grad(g, weight, p.shape())?;
            Ok(vec![Some(dl.mul(&p.sub(&targets)?.div(&p.mul(&one_minus_p)?)?)?)])
        }))
    }

    /// Mean squared error `ℓ = (x − y)²`. Backward: `dx = dℓ·2(x − y)`.
    pub fn mse_loss(&self, targets: &Tensor, reduction: Reduction) -> Result<Var> {
        let x = self.value();
        x.expect_same_shape(targets, "mse_loss")?;
        let diff = x.sub(targets)?;
        let (value, weight) = reduction.apply(&diff.mul(&diff)?, x.elem_count())?;
        Ok(Var::from_op("mse_loss", value, &[self], move |g| {
            let dl = reduction.per_element_grad(g, weight, diff.shape())?;
            Ok(vec![Some(dl.mul(&diff.mul_scalar(2.0)?)?)])
        }))
    }
}
