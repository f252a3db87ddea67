//! Views: new layouts over the same storage, no data moved (reshape copies only when the data is
//! not contiguous).

use crate::shape::checked_elem_count;
use crate::{Dim, Error, Result, Tensor};

impl Tensor {
    /// The same elements in a new shape. Zero-copy on contiguous data; otherwise copies first.
    pub fn reshape(&self, shape: &[usize]) -> Result<Tensor> {
        if checked_elem_count("reshape", shape)? != self.elem_count() {
            return Err(Error::ShapeMismatch { op: "reshape", lhs: self.shape().to_vec(), rhs: shape.to_vec() });
        }
        match self.layout().reshape(shape) {
            Some(layout) => Ok(self.with_layout(layout)),
            None => self.contiguous().reshape(shape),
        }
    }

    /// All elements as one dimension.
    pub fn flatten_all(&self) -> Result<Tensor> {
        self.reshape(&[self.elem_count()])
    }

    /// Output dim `i` is input dim `dims[i]`.
    pub fn permute<D: Dim>(&self, dims: &[D]) -> Result<Tensor> {
        let dims = dims.iter().map(|d| d.index("permute", self.shape())).collect::<Result<Vec<_>>>()?;
        Ok(self.with_layout(self.layout().permute(&dims)?))
    }

    /// Swaps two dims.
    pub fn transpose<D: Dim>(&self, a: D, b: D) -> Result<Tensor> {
        let (a, b) = (a.index("transpose", self.shape())?, b.index("transpose", self.shape())?);
        let mut dims: Vec<usize> = (0..self.rank()).collect();
        dims.swap(a, b);
        Ok(self.with_layout(self.layout().permute(&dims)?))
    }

    /// Swaps the last two dims (the matrix transpose of every matrix in a batch).
    pub fn t(&self) -> Result<Tensor> {
        if self.rank() < 2 {
            return Err(Error::invalid("t", format!("needs rank ≥ 2, got shape {:?}", self.shape())));
        }
        self.transpose(-2, -1)
    }

    /// Elements `start..start + len` along `dim`.
    pub fn narrow<D: Dim>(&self, dim: D, start: usize, len: usize) -> Result<Tensor> {
        let dim = dim.index("narrow", self.shape())?;
        Ok(self.with_layout(self.layout().narrow(dim, start, len)?))
    }

    /// Splits `dim` into consecutive pieces of the given sizes (which must add up to the dim).
    pub fn split<D: Dim>(&self, sizes: &[usize], dim: D) -> Result<Vec<Tensor>> {
        let d = dim.index("split", self.shape())?;
        if sizes.iter().sum::<usize>() != self.shape()[d] {
            return Err(Error::invalid(
                "split",
                format!("sizes {sizes:?} do not add up to dim {d} of shape {:?}", self.shape()),
            ));
        }
        let mut start = 0;
        sizes
            .iter()
            .map(|&len| {
                let piece = self.narrow(d, start, len);
                start += len;
                piece
            })
            .collect()
    }

    /// A view repeating along broadcast dims (numpy rules, stride 0).
    pub fn broadcast_to(&self, shape: &[usize]) -> Result<Tensor> {
        if shape == self.shape() {
            return Ok(self.clone());
        }
        checked_elem_count("broadcast_to", shape)?;
        Ok(self.with_layout(self.layout().broadcast_to(shape)?))
    }

    /// Removes `dim`, which must have size 1.
    pub fn squeeze<D: Dim>(&self, dim: D) -> Result<Tensor> {
        let dim = dim.index("squeeze", self.shape())?;
        Ok(self.with_layout(self.layout().squeeze(dim)?))
    }

    /// Inserts a dim of size 1 at `dim` (`-1` appends).
    pub fn unsqueeze<D: Dim>(&self, dim: D) -> Result<Tensor> {
        let dim = dim.index_for_insert("unsqueeze", self.shape())?;
        Ok(self.with_layout(self.layout().unsqueeze(dim)))
    }
}
