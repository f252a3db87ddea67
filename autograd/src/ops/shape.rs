//! Shape ops and their derivatives: each moves elements without changing them, so its gradient
//! moves the gradient back the inverse way.

use crate::Var;
use tensor::{Dim, Error, Result, Tensor};

impl Var {
    /// `z = reshape(x)`; `dx = reshape(dz, x.shape)`.
    pub fn reshape(&self, shape: &[usize]) -> Result<Var> {
        let xs = self.shape();
        let z = self.value().reshape(shape)?;
        Ok(Var::from_op("reshape", z, &[self], move |g| Ok(vec![Some(g.reshape(&xs)?)])))
    }

    /// `z = permute(x, p)`; `dx = permute(dz, p⁻¹)`.
    pub fn permute<D: Dim>(&self, dims: &[D]) -> Result<Var> {
        let z = self.value().permute(dims)?;
        let shape = self.shape();
        let p: Vec<usize> = dims.iter().map(|d| d.index("permute", &shape)).collect::<Result<_>>()?;
        let mut inverse = vec![0; p.len()];
        p.iter().enumerate().for_each(|(i, &d)| inverse[d] = i);
        Ok(Var::from_op("permute", z, &[self], move |g| Ok(vec![Some(g.permute(&inverse)?)])))
    }

    /// `z = xᵀ` over dims `a`, `b`; `dx = dzᵀ` over the same dims.
    pub fn transpose<D: Dim>(&self, a: D, b: D) -> Result<Var> {
        let shape = self.shape();
        let (a, b) = (a.index("transpose", &shape)?, b.index("transpose", &shape)?);
        let z = self.value().transpose(a, b)?;
        Ok(Var::from_op("transpose", z, &[self], move |g| Ok(vec![Some(g.transpose(a, b)?)])))
    }

    /// The matrix transpose of the last two dims.
    pub fn t(&self) -> Result<Var> {
        if self.shape().len() < 2 {
            return Err(Error::invalid("t", format!("needs rank ≥ 2, got shape {:?}", self.shape())));
        }
        self.transpose(-2, -1)
    }

    /// `z = x[.., start..start+len, ..]`; `dx` is `dz` placed back at `start`, zeros elsewhere.
    pub fn narrow<D: Dim>(&self, dim: D, start: usize, len: usize) -> Result<Var> {
        let x = self.value();
        let d = dim.index("narrow", x.shape())?;
        let z = x.narrow(d, start, len)?;
        let shape = x.shape().to_vec();
        Ok(Var::from_op("narrow", z, &[self], move |g| Ok(vec![Some(g.pad_narrow(d, start, shape[d])?)])))
    }

    /// Splits `dim` into pieces of `sizes` (views through `narrow`).
    pub fn split<D: Dim>(&self, sizes: &[usize], dim: D) -> Result<Vec<Var>> {
        let d = dim.index("split", &self.shape())?;
        if sizes.iter().sum::<usize>() != self.shape()[d] {
            return Err(Error::invalid(
                "split",
                format!("sizes {sizes:?} do not add up to dim {d} of shape {:?}", self.shape()),
            ));
        }
        let starts = sizes.iter().scan(0, |acc, &s| {
            let start = *acc;
            *acc += s;
            Some(start)
        });
        starts.zip(sizes).map(|(start, &len)| self.narrow(d, start, len)).collect()
    }

    /// `z = broadcast(x)`; `dx = Σ dz` over the broadcast dims.
    pub fn broadcast_to(&self, shape: &[usize]) -> Result<Var> {
        let xs = self.shape();
        let z = self.value().broadcast_to(shape)?;
        Ok(Var::from_op("broadcast_to", z, &[self], move |g| Ok(vec![Some(g.sum_to_shape(&xs)?)])))
    }

    /// Removes a size-1 dim; `dx = unsqueeze(dz)`.
    pub fn squeeze<D: Dim>(&self, dim: D) -> Result<Var> {
        let xs = self.shape();
        let z = self.value().squeeze(dim)?;
        Ok(Var::from_op("squeeze", z, &[self], move |g| Ok(vec![Some(g.reshape(&xs)?)])))
    }

    /// Inserts a size-1 dim; `dx = squeeze(dz)`.
    pub fn unsqueeze<D: Dim>(&self, dim: D) -> Result<Var> {
        let xs = self.shape();
        let z = self.value().unsqueeze(dim)?;
        Ok(Var::from_op("unsqueeze", z, &[self], move |g| Ok(vec![Some(g.reshape(&xs)?)])))
    }

    /// A dense copy; `dx = dz`.
    pub fn contiguous(&self) -> Result<Var> {
        let z = self.value().contiguous();
        Ok(Var::from_op("contiguous", z, &[self], |g| Ok(vec![Some(g.clone())])))
    }

    /// `z = [x₀ | x₁ | …]` along `dim`; `dxᵢ` is the slice of `dz` where `xᵢ` landed.
    pub fn cat<D: Dim>(vars: &[&Var], dim: D) -> Result<Var> {
        let values: Vec<Tensor> = vars.iter().map(|v| v.value()).collect();
        let z = Tensor::cat(&values.iter().collect::<Vec<_>>(), dim)?;
        let d = dim.index("cat", values[0].shape())?;
        let sizes: Vec<usize> = values.iter().map(|v| v.shape()[d]).collect();
        Ok(Var::from_op("cat", z, vars, move |g| {
            Ok(g.split(&sizes, d)?.into_iter().map(|p| Some(p.contiguous())).collect())
        }))
    }

    /// Stacks equal-shaped vars along a new `dim` (unsqueeze each, then cat).
    pub fn stack<D: Dim>(vars: &[&Var], dim: D) -> Result<Var> {
        let first = vars.first().ok_or_else(|| Error::invalid("stack", "no vars to stack"))?;
        let d = dim.index_for_insert("stack", &first.shape())?;
        let expanded = vars.iter().map(|v| v.unsqueeze(d)).collect::<Result<Vec<_>>>()?;
        Var::cat(&expanded.iter().collect::<Vec<_>>(), d)
    }
}
