//! Indexing and joining: index_select, gather, embedding lookup, one_hot, cat, stack.

use crate::storage::Storage;
use crate::{DType, Dim, Error, Result, Tensor};

impl Tensor {
    /// Integer ids as indices `< size`; errors name the op and the offending id.
    pub fn to_indices(&self, size: usize, op: &'static str) -> Result<Vec<usize>> {
        self.storage().indices(self.layout(), size, op)
    }

    /// The slices of `dim` named by the 1-D id tensor `ids` (u32 or i64), in that order.
    pub fn index_select<D: Dim>(&self, dim: D, ids: &Tensor) -> Result<Tensor> {
        let dim = dim.index("index_select", self.shape())?;
        if ids.rank() != 1 {
            return Err(Error::invalid("index_select", format!("ids must be 1-D, got shape {:?}", ids.shape())));
        }
        let idx = ids.to_indices(self.shape()[dim], "index_select")?;
        let mut shape = self.shape().to_vec();
        shape[dim] = idx.len();
        Ok(Tensor::from_storage(self.storage().index_select(self.layout(), dim, &idx)?, &shape))
    }

    /// The adjoint of `index_select`: zeros with `dim` of size `size`, and `out[.., ids[j], ..] +=
    /// self[.., j, ..]` (repeated ids accumulate).
    pub fn index_add<D: Dim>(&self, dim: D, ids: &Tensor, size: usize) -> Result<Tensor> {
        let dim = dim.index("index_add", self.shape())?;
        if ids.rank() != 1 || ids.elem_count() != self.shape()[dim] {
            return Err(Error::ShapeMismatch {
                op: "index_add",
                lhs: self.shape().to_vec(),
                rhs: ids.shape().to_vec(),
            });
        }
        let idx = ids.to_indices(size, "index_add")?;
        let mut shape = self.shape().to_vec();
        shape[dim] = size;
        Ok(Tensor::from_storage(self.storage().index_add(self.layout(), dim, &idx, size)?, &shape))
    }

    /// Embedding lookup: rows of the `(vocab, dim)` table `self` for ids of any shape; the result
    /// has shape `ids.shape + [dim]`.
    pub fn embedding(&self, ids: &Tensor) -> Result<Tensor> {
        let [vocab, dim] = self.shape() else {
            return Err(Error::invalid(
                "embedding",
                format!("table must be 2-D (vocab, dim), got shape {:?}", self.shape()),
            ));
        };
        let idx = ids.to_indices(*vocab, "embedding")?;
        let shape = [ids.shape(), &[*dim]].concat();
        Ok(Tensor::from_storage(self.storage().embedding(self.layout(), &idx)?, &shape))
    }

    /// `out[i][j][k] = self[i][index[i][j][k]][k]` (for `dim = 1`; likewise for any dim). `index`
    /// has the input's shape except along `dim`.
    pub fn gather<D: Dim>(&self, dim: D, index: &Tensor) -> Result<Tensor> {
        let dim = dim.index("gather", self.shape())?;
        self.check_index_shape("gather", dim, index.shape())?;
        let idx = index.to_indices(self.shape()[dim], "gather")?;
        Ok(Tensor::from_storage(self.storage().gather(self.layout(), dim, &idx, index.shape())?, index.shape()))
    }

    /// The adjoint of `gather`: zeros of `shape` with `out[i][index[i][j][k]][k] += self[i][j][k]`.
    pub fn scatter_add<D: Dim>(&self, dim: D, index: &Tensor, shape: &[usize]) -> Result<Tensor> {
        let dim = dim.index("scatter_add", shape)?;
        if index.shape() != self.shape() {
            return Err(Error::ShapeMismatch {
                op: "scatter_add",
                lhs: self.shape().to_vec(),
                rhs: index.shape().to_vec(),
            });
        }
        let out = Tensor::zeros(shape, self.dtype());
        out.check_index_shape("scatter_add", dim, index.shape())?;
        let idx = index.to_indices(shape[dim], "scatter_add")?;
        Ok(Tensor::from_storage(self.storage().scatter_add(self.layout(), dim, &idx, shape)?, shape))
    }

    fn check_index_shape(&self, op: &'static str, dim: usize, index_shape: &[usize]) -> Result<()> {
        let ok = index_shape.len() == self.rank()
            && index_shape.iter().zip(self.shape()).enumerate().all(|(d, (a, b))| d == dim || a == b);
        if ok {
            Ok(())
        } else {
            Err(Error::ShapeMismatch { op, lhs: self.shape().to_vec(), rhs: index_shape.to_vec() })
        }
    }

    /// `out[…, c] = 1` if `c == ids[…]` else 0: shape `ids.shape + [classes]`.
    pub fn one_hot(ids: &Tensor, classes: usize, dtype: DType) -> Result<Tensor> {
        let idx = ids.to_indices(classes, "one_hot")?;
        let values = idx.iter().flat_map(|&i| (0..classes).map(move |c| (c == i) as u32 as f64));
        let shape = [ids.shape(), &[classes]].concat();
        Ok(Tensor::from_storage(Storage::from_f64_iter(values, dtype, ids.device())?, &shape))
    }

    /// Joins tensors along an existing `dim`; every other dim must agree.
    pub fn cat<D: Dim>(tensors: &[&Tensor], dim: D) -> Result<Tensor> {
        let first = tensors.first().ok_or_else(|| Error::invalid("cat", "no tensors to concatenate"))?;
        let dim = dim.index("cat", first.shape())?;
        for t in tensors {
            first.same_dtype_device(t, "cat")?;
            let agree = t.rank() == first.rank()
                && t.shape().iter().zip(first.shape()).enumerate().all(|(d, (a, b))| d == dim || a == b);
            if !agree {
                return Err(Error::ShapeMismatch { op: "cat", lhs: first.shape().to_vec(), rhs: t.shape().to_vec() });
            }
        }
        let parts: Vec<_> = tensors.iter().map(|t| (t.storage(), t.layout())).collect();
        let mut shape = first.shape().to_vec();
        shape[dim] = tensors.iter().map(|t| t.shape()[dim]).sum();
        Ok(Tensor::from_storage(Storage::cat(&parts, dim)?, &shape))
    }

    /// The adjoint of `narrow`: a zero tensor whose `dim` has size `full`, with `self` placed at
    /// `start..start + len` along it.
    pub fn pad_narrow<D: Dim>(&self, dim: D, start: usize, full: usize) -> Result<Tensor> {
        let d = dim.index("pad_narrow", self.shape())?;
        let len = self.shape()[d];
        if start + len > full {
            return Err(Error::invalid(
                "pad_narrow",
                format!("{start}..{} does not fit in {full} (shape {:?})", start + len, self.shape()),
            ));
        }
        let piece = |n: usize| -> Result<Tensor> {
            let mut shape = self.shape().to_vec();
            shape[d] = n;
            Tensor::full_on(&shape, 0.0, self.dtype(), self.device())
        };
        let (before, after) = (piece(start)?, piece(full - start - len)?);
        Tensor::cat(&[&before, self, &after], d)
    }

    /// Joins tensors of equal shape along a new `dim`.
    pub fn stack<D: Dim>(tensors: &[&Tensor], dim: D) -> Result<Tensor> {
        let first = tensors.first().ok_or_else(|| Error::invalid("stack", "no tensors to stack"))?;
        let dim = dim.index_for_insert("stack", first.shape())?;
        let expanded = tensors.iter().map(|t| t.unsqueeze(dim)).collect::<Result<Vec<_>>>()?;
        Tensor::cat(&expanded.iter().collect::<Vec<_>>(), dim)
    }
}
