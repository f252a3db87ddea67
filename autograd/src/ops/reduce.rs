//! Reductions and their derivatives. Every reduction's gradient broadcasts the output gradient
//! back over the reduced dims (the adjoint of summing is copying).

use crate::Var;
use tensor::shape::resolve_dims;
use tensor::{Dim, Result, Tensor};

/// `g` (the gradient of a reduction over `dims`) broadcast back to `shape`.
fn expand(g: &Tensor, shape: &[usize], dims: &[usize]) -> Result<Tensor> {
    let kept: Vec<usize> = shape.iter().enumerate().map(|(d, &s)| if dims.contains(&d) { 1 } else { s }).collect();
    g.reshape(&kept)?.broadcast_to(shape)?.contiguous().reshape(shape)
}

impl Var {
    /// `z = Σ_dims x`; `dx = dz` broadcast over the reduced dims.
    pub fn sum<D: Dim>(&self, dims: &[D], keepdim: bool) -> Result<Var> {
        let x = self.value();
        let dims = resolve_dims("sum", dims, x.shape())?;
        let z = x.sum(&dims, keepdim)?;
        let shape = x.shape().to_vec();
        Ok(Var::from_op("sum", z, &[self], move |g| Ok(vec![Some(expand(g, &shape, &dims)?)])))
    }

    /// `z = Σ x` over every element (rank 0).
    pub fn sum_all(&self) -> Result<Var> {
        let all: Vec<usize> = (0..self.shape().len()).collect();
        self.sum(&all, false)
    }

    /// `z = (1/n) Σ_dims x`; `dx = dz / n` broadcast.
    pub fn mean<D: Dim>(&self, dims: &[D], keepdim: bool) -> Result<Var> {
        let x = self.value();
        let dims = resolve_dims("mean", dims, x.shape())?;
        let z = x.mean(&dims, keepdim)?;
        let n = (x.elem_count() / z.elem_count().max(1)) as f64;
        let shape = x.shape().to_vec();
        Ok(Var::from_op("mean", z, &[self], move |g| Ok(vec![Some(expand(&g.div_scalar(n)?, &shape, &dims)?)])))
    }

    /// Mean of every element (rank 0).
    pub fn mean_all(&self) -> Result<Var> {
        let all: Vec<usize> = (0..self.shape().len()).collect();
        self.mean(&all, false)
    }

    /// `z = max_dims x`; `dx = dz ⊙ [x = z] / #{x = z}` (ties share the gradient, as PyTorch's amax).
    pub fn max<D: Dim>(&self, dims: &[D], keepdim: bool) -> Result<Var> {
        self.extreme(dims, keepdim, "max", |x, d| x.max(d, true))
    }

    /// `z = min_dims x`; gradient as for [`Var::max`].
    pub fn min<D: Dim>(&self, dims: &[D], keepdim: bool) -> Result<Var> {
        self.extreme(dims, keepdim, "min", |x, d| x.min(d, true))
    }

    fn extreme<D: Dim>(
        &self,
        dims: &[D],
        keepdim: bool,
        name: &'static str,
        reduce: fn(&Tensor, &[usize]) -> Result<Tensor>,
    ) -> Result<Var> {
        let x = self.value();
        let dims = resolve_dims(name, dims, x.shape())?;
        let kept = reduce(&x, &dims)?;
        let hits = x.eq(&kept)?.to_dtype(x.dtype());
        let share = hits.div(&hits.sum(&dims, true)?)?;
        let z = if keepdim {
            kept
        } else {
            kept.reshape(
                &x.shape().iter().enumerate().filter(|(d, _)| !dims.contains(d)).map(|(_, &s)| s).collect::<Vec<_>>(),
            )?
        };
        let shape = x.shape().to_vec();
        Ok(Var::from_op(name, z, &[self], move |g| Ok(vec![Some(expand(g, &shape, &dims)?.mul(&share)?)])))
    }

    /// `z = Σ(x − x̄)² / (n − correction)` over `dims`; `dx = dz ⊙ 2(x − x̄) / (n − correction)`.
    pub fn var<D: Dim>(&self, dims: &[D], keepdim: bool, correction: usize) -> Result<Var> {
        let x = self.value();
        let dims = resolve_dims("var", dims, x.shape())?;
        let z = x.var(&dims, keepdim, correction)?;
        let n = x.elem_count() / z.elem_count().max(1);
        let centred = x.sub(&x.mean(&dims, true)?)?;
        let shape = x.shape().to_vec();
        Ok(Var::from_op("var", z, &[self], move |g| {
            let scale = 2.0 / (n - correction) as f64;
            Ok(vec![Some(expand(g, &shape, &dims)?.mul(&centred)?.mul_scalar(scale)?)])
        }))
    }
}
