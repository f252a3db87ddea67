//! Layout: how a tensor's logical elements map onto its storage. Element `(i₀, …, iₙ)` lives at
//! `offset + Σ iₖ·strides[k]`. Views (transpose, narrow, broadcast, …) only change the layout.

use crate::shape::{contiguous_strides, elem_count};
use crate::{Error, Result};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    shape: Vec<usize>,
    strides: Vec<usize>,
    offset: usize,
}

impl Layout {
    /// A dense row-major layout starting at element 0.
    pub fn contiguous(shape: &[usize]) -> Self {
        Self { shape: shape.to_vec(), strides: contiguous_strides(shape), offset: 0 }
    }

    /// A layout from explicit parts (for backends walking a sub-layout, e.g. the batch dims).
    pub fn from_parts(shape: &[usize], strides: &[usize], offset: usize) -> Self {
        Self { shape: shape.to_vec(), strides: strides.to_vec(), offset }
    }

    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    pub fn strides(&self) -> &[usize] {
        &self.strides
    }

    pub fn offset(&self) -> usize {
        self.offset
    }

    pub fn rank(&self) -> usize {
        self.shape.len()
    }

    pub fn elem_count(&self) -> usize {
        elem_count(&self.shape)
    }

    /// True when the elements sit densely in row-major order (sizes-1 dims may have any stride).
    pub fn is_contiguous(&self) -> bool {
        let mut expected = 1;
        for (&size, &stride) in self.shape.iter().zip(&self.strides).rev() {
            if size != 1 && stride != expected {
                return false;
            }
            expected *= size;
        }
        true
    }

    /// Reorders the dimensions: output dim `i` is input dim `dims[i]`.
    pub fn permute(&self, dims: &[usize]) -> Result<Self> {
        let mut seen = vec![false; self.rank()];
        if dims.len() != self.rank() || dims.iter().any(|&d| d >= self.rank() || std::mem::replace(&mut seen[d], true))
        {
            return Err(Error::invalid(
                "permute",
                format!("{dims:?} is not a permutation of the dims of shape {:?}", self.shape),
            ));
        }
        Ok(Self {
            shape: dims.iter().map(|&d| self.shape[d]).collect(),
            strides: dims.iter().map(|&d| self.strides[d]).collect(),
            offset: self.offset,
        })
    }

    /// Elements `start..start + len` along `dim`.
    pub fn narrow(&self, dim: usize, start: usize, len: usize) -> Result<Self> {
        if start + len > self.shape[dim] {
            return Err(Error::invalid(
                "narrow",
                format!(
                    "range {start}..{} exceeds size {} of dim {dim} in shape {:?}",
                    start + len,
                    self.shape[dim],
                    self.shape
                ),
            ));
        }
        let mut out = self.clone();
        out.shape[dim] = len;
        out.offset += start * self.strides[dim];
        Ok(out)
    }

    /// A view with this shape, repeating along broadcast dims through stride 0 (numpy rules).
    pub fn broadcast_to(&self, shape: &[usize]) -> Result<Self> {
        let err = || Error::ShapeMismatch { op: "broadcast_to", lhs: self.shape.clone(), rhs: shape.to_vec() };
        if shape.len() < self.rank() {
            return Err(err());
        }
        let lead = shape.len() - self.rank();
        let mut strides = vec![0; shape.len()];
        for (i, &size) in shape.iter().enumerate().skip(lead) {
            let (own, stride) = (self.shape[i - lead], self.strides[i - lead]);
            strides[i] = match own {
                s if s == size => stride,
                1 => 0,
                _ => return Err(err()),
            };
        }
        Ok(Self { shape: shape.to_vec(), strides, offset: self.offset })
    }

    /// A contiguous layout of a new shape over the same elements, if that needs no copy.
    pub fn reshape(&self, shape: &[usize]) -> Option<Self> {
        self.is_contiguous().then(|| Self { offset: self.offset, ..Self::contiguous(shape) })
    }

    /// Removes dim `dim`, which must have size 1.
    pub fn squeeze(&self, dim: usize) -> Result<Self> {
        if self.shape[dim] != 1 {
            return Err(Error::invalid(
                "squeeze",
                format!("dim {dim} of shape {:?} has size {}, not 1", self.shape, self.shape[dim]),
            ));
        }
        let mut out = self.clone();
        out.shape.remove(dim);
        out.strides.remove(dim);
        Ok(out)
    }

    /// Inserts a dim of size 1 at position `dim`.
    pub fn unsqueeze(&self, dim: usize) -> Self {
        let mut out = self.clone();
        let stride = if dim < self.rank() { self.strides[dim] * self.shape[dim] } else { 1 };
        out.shape.insert(dim, 1);
        out.strides.insert(dim, stride);
        out
    }

    /// The storage offset of every element, in row-major order of the logical index.
    pub fn offsets(&self) -> StridedOffsets<'_> {
        StridedOffsets::new(self)
    }
}

/// Iterator over storage offsets of a layout in logical row-major order: an odometer over the
/// multi-index that moves the offset by one stride per step.
pub struct StridedOffsets<'a> {
    layout: &'a Layout,
    index: Vec<usize>,
    next: Option<usize>,
}

impl<'a> StridedOffsets<'a> {
    fn new(layout: &'a Layout) -> Self {
        let next = (layout.elem_count() > 0).then_some(layout.offset);
        Self { layout, index: vec![0; layout.rank()], next }
    }
}

impl Iterator for StridedOffsets<'_> {
    type Item = usize;

    #[inline]
    fn next(&mut self) -> Option<usize> {
        let current = self.next?;
        let (shape, strides) = (&self.layout.shape, &self.layout.strides);
        let mut offset = current;
        let mut d = shape.len();
        self.next = loop {
            if d == 0 {
                break None;
            }
            d -= 1;
            self.index[d] += 1;
            offset += strides[d];
            if self.index[d] < shape[d] {
                break Some(offset);
            }
            offset -= strides[d] * self.index[d];
            self.index[d] = 0;
        };
        Some(current)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transposed_offsets_walk_columns() {
        let l = Layout::contiguous(&[2, 3]).permute(&[1, 0]).unwrap();
        assert_eq!(l.offsets().collect::<Vec<_>>(), vec![0, 3, 1, 4, 2, 5]);
        assert!(!l.is_contiguous());
    }

    #[test]
    fn broadcast_repeats_through_zero_strides() {
        let l = Layout::contiguous(&[3, 1]).broadcast_to(&[2, 3, 2]).unwrap();
        assert_eq!(l.strides(), &[0, 1, 0]);
        assert_eq!(l.offsets().collect::<Vec<_>>(), vec![0, 0, 1, 1, 2, 2, 0, 0, 1, 1, 2, 2]);
        assert!(Layout::contiguous(&[3]).broadcast_to(&[4]).is_err());
    }

    #[test]
    fn narrow_moves_the_offset() {
        let l = Layout::contiguous(&[4, 5]).narrow(1, 2, 2).unwrap();
        assert_eq!(l.offsets().collect::<Vec<_>>(), vec![2, 3, 7, 8, 12, 13, 17, 18]);
        assert!(Layout::contiguous(&[4]).narrow(0, 3, 2).is_err());
    }

    #[test]
    fn empty_and_scalar_layouts() {
        assert_eq!(Layout::contiguous(&[]).offsets().collect::<Vec<_>>(), vec![0]);
        assert_eq!(Layout::contiguous(&[0, 3]).offsets().count(), 0);
    }
}
