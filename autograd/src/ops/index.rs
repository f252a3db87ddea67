//! Indexing ops and their derivatives: each reads elements by index, so its gradient adds the
//! output gradient back at those indices (scatter-add).

use crate::Var;
use tensor::{Dim, Result, Tensor};

impl Var {
    /// `z = x[.., ids, ..]` along `dim`; `dx[.., ids[j], ..] += dz[.., j, ..]`.
    pub fn index_select<D: Dim>(&self, dim: D, ids: &Tensor) -> Result<Var> {
        let x = self.value();
        let d = dim.index("index_select", x.shape())?;
        let z = x.index_select(d, ids)?;
        let (ids, size) = (ids.clone(), x.shape()[d]);
        Ok(Var::from_op("index_select", z, &[self], move |g| Ok(vec![Some(g.index_add(d, &ids, size)?)])))
    }

    /// Embedding lookup `z[…] = table[ids[…]]` with `self` the `(vocab, dim)` table;
    /// `dtable[ids[i]] += dz[i]` (an id used twice collects both rows).
    pub fn embedding(&self, ids: &Tensor) -> Result<Var> {
        let table = self.value();
        let z = table.embedding(ids)?;
        let (vocab, dim) = (table.shape()[0], table.shape()[1]);
        let flat_ids = ids.flatten_all()?;
        Ok(Var::from_op("embedding", z, &[self], move |g| {
            let rows = g.reshape(&[flat_ids.elem_count(), dim])?;
            Ok(vec![Some(rows.index_add(0, &flat_ids, vocab)?)])
        }))
    }

    /// `z[i][j][k] = x[i][index[i][j][k]][k]` (dim 1); `dx[i][index[i][j][k]][k] += dz[i][j][k]`.
    pub fn gather<D: Dim>(&self, dim: D, index: &Tensor) -> Result<Var> {
        let x = self.value();
        let d = dim.index("gather", x.shape())?;
        let z = x.gather(d, index)?;
        let (index, shape) = (index.clone(), x.shape().to_vec());
        Ok(Var::from_op("gather", z, &[self], move |g| Ok(vec![Some(g.scatter_add(d, &index, &shape)?)])))
    }

    /// `z = mask ? a : b` (mask a u32 tensor, all broadcast); `da = mask ? dz : 0`, `db = mask ? 0 : dz`.
    pub fn where_cond(mask: &Tensor, a: &Var, b: &Var) -> Result<Var> {
        let z = mask.where_cond(&a.value(), &b.value())?;
        let (mask, sa, sb) = (mask.clone(), a.shape(), b.shape());
        Ok(Var::from_op("where", z, &[a, b], move |g| {
            let zero = g.zeros_like();
            Ok(vec![
                Some(mask.where_cond(g, &zero)?.sum_to_shape(&sa)?),
                Some(mask.where_cond(&zero, g)?.sum_to_shape(&sb)?),
            ])
        }))
    }

    /// `z = mask ? value : x`; `dx = mask ? 0 : dz` (filled positions do not depend on x).
    pub fn masked_fill(&self, mask: &Tensor, value: f64) -> Result<Var> {
        let z = self.value().masked_fill(mask, value)?;
        let mask = mask.clone();
        Ok(Var::from_op("masked_fill", z, &[self], move |g| {
            Ok(vec![Some(mask.where_cond(&g.zeros_like(), g)?.sum_to_shape(g.shape())?)])
        }))
    }

    /// Lower triangle (`col ≤ row + diagonal`) of the last two dims; `dx = tril(dz)`.
    pub fn tril(&self, diagonal: i64) -> Result<Var> {
        let z = self.value().tril(diagonal)?;
        Ok(Var::from_op("tril", z, &[self], move |g| Ok(vec![Some(g.tril(diagonal)?)])))
    }

    /// Upper triangle (`col ≥ row + diagonal`) of the last two dims; `dx = triu(dz)`.
    pub fn triu(&self, diagonal: i64) -> Result<Var> {
        let z = self.value().triu(diagonal)?;
        Ok(Var::from_op("triu", z, &[self], move |g| Ok(vec![Some(g.triu(diagonal)?)])))
    }
}
