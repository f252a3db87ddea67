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

    /// A row-major layout whose rows (runs of the last dim) start `row_stride ≥ last dim` apart:
    /// a product's output with padded rows.
    pub fn rows_apart(shape: &[usize], row_stride: usize) -> Self {
        let mut padded = shape.to_vec();
        if let Some(last) = padded.last_mut() {
            *last = row_stride;
        }
        let mut strides = contiguous_strides(&padded);
        if let Some(last) = strides.last_mut() {
            *last = 1;
        }
        Self { shape: shape.to_vec(), strides, offset: 0 }
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

    /// The storage offset of the last element (of a non-empty layout).
    pub fn last_offset(&self) -> usize {
        self.offset + self.shape.iter().zip(&self.strides).map(|(&n, &s)| n.saturating_sub(1) * s).sum::<usize>()
    }

    /// For a matrix whose rows are dense runs (unit column stride), the stride of its rows: what a
    /// row-wise kernel needs to read it in place.
    pub fn row_stride(&self) -> Option<usize> {
        let [rows, cols] = self.shape[..] else { return None };
        let [row_stride, col_stride] = self.strides[..] else { return None };
        let dense_rows = col_stride == 1 || cols <= 1;
        let row_stride = if rows <= 1 { cols } else { row_stride };
        (dense_rows && row_stride >= cols).then_some(row_stride)
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

    /// A layout of a new shape over the same elements in the same row-major order, if that needs
    /// no copy (PyTorch's `view` rule). The dims split into chunks that each walk memory with one
    /// stride pattern (dim `i` and `i + 1` are in one chunk when `strides[i] = shape[i+1]·strides[i+1]`);
    /// each run of new dims must cover whole chunks, and inside a chunk the new strides are the
    /// chunk's innermost stride times the row-major strides of those new dims. So `(m, n)` rows
    /// `ld` apart (strides `[ld, 1]`) reshape to `(b, m/b, n)` (strides `[m/b·ld, ld, 1]`) and back,
    /// but not to `(m·n)`.
    pub fn reshape(&self, shape: &[usize]) -> Option<Self> {
        if elem_count(shape) != self.elem_count() {
            return None;
        }
        if self.is_contiguous() || self.elem_count() == 0 {
            return Some(Self { offset: self.offset, ..Self::contiguous(shape) });
        }
        let mut strides = vec![0; shape.len()];
        // Walk both shapes from the innermost dim: `new_dim` is the next new dim to place.
        let mut new_dim = shape.len();
        let (mut chunk_elems, mut chunk_stride) = (1, *self.strides.last()?);
        for old in (0..self.rank()).rev() {
            chunk_elems *= self.shape[old];
            let chunk_ends = old == 0 || {
                let (size, stride) = (self.shape[old - 1], self.strides[old - 1]);
                size != 1 && stride != chunk_elems * chunk_stride
            };
            if !chunk_ends {
                continue;
            }
            let mut placed = 1;
            while new_dim > 0 && (placed < chunk_elems || shape[new_dim - 1] == 1) {
                new_dim -= 1;
                strides[new_dim] = placed * chunk_stride;
                placed *= shape[new_dim];
            }
            if placed != chunk_elems {
                return None;
            }
            if old > 0 {
                (chunk_elems, chunk_stride) = (1, self.strides[old - 1]);
            }
        }
        (new_dim == 0).then(|| Self { shape: shape.to_vec(), strides, offset: self.offset })
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
    fn reshape_views_rows_with_a_stride() {
        // (6, 5) rows 8 apart, as a product's output with padded rows.
        let rows = Layout::from_parts(&[6, 5], &[8, 1], 3);
        let batched = rows.reshape(&[2, 3, 5]).unwrap();
        assert_eq!((batched.strides(), batched.offset()), (&[24, 8, 1][..], 3));
        assert_eq!(batched.reshape(&[6, 5]).unwrap(), rows);
        assert_eq!(rows.reshape(&[6, 1, 5, 1]).unwrap().strides(), &[8, 5, 1, 1]);
        assert!(rows.reshape(&[30]).is_none() && rows.reshape(&[3, 10]).is_none());
        assert!(Layout::contiguous(&[2, 3]).permute(&[1, 0]).unwrap().reshape(&[6]).is_none());
    }

    #[test]
    fn rows_apart_pad_each_row_and_row_wise_kernels_read_them_in_place() {
        let padded = Layout::rows_apart(&[2, 3, 5], 8);
        assert_eq!(padded.strides(), &[24, 8, 1]);
        assert_eq!(padded.last_offset(), 24 + 2 * 8 + 4);
        assert_eq!(padded.reshape(&[6, 5]).unwrap().row_stride(), Some(8));
        assert_eq!(Layout::contiguous(&[4, 5]).row_stride(), Some(5));
        // A single row has no stride of its own; columns read with a stride are no dense rows,
        // and neither are rows that overlap.
        assert_eq!(Layout::from_parts(&[1, 5], &[0, 1], 3).row_stride(), Some(5));
        assert_eq!(Layout::contiguous(&[4, 5]).permute(&[1, 0]).unwrap().row_stride(), None);
        assert_eq!(Layout::from_parts(&[4, 5], &[3, 1], 0).row_stride(), None);
        assert_eq!(Layout::rows_apart(&[2, 3, 5], 8).row_stride(), None, "rank 3");
    }

    /// Every reshape that succeeds walks the same storage offsets in the same order.
    #[test]
    fn reshape_keeps_the_element_order() {
        let shapes: [&[usize]; 9] =
            [&[24], &[2, 12], &[4, 6], &[2, 3, 4], &[6, 4], &[2, 2, 6], &[1, 24], &[3, 8], &[2, 3, 2, 2]];
        let padded = Layout::from_parts(&[2, 3, 4], &[18, 6, 1], 1);
        let layouts = [
            Layout::contiguous(&[2, 3, 4]),
            padded.clone(),
            padded.permute(&[1, 0, 2]).unwrap(),
            Layout::contiguous(&[4, 3, 2]).permute(&[2, 1, 0]).unwrap(),
            Layout::contiguous(&[3, 1]).broadcast_to(&[2, 3, 4]).unwrap(),
            Layout::contiguous(&[2, 3, 6]).narrow(2, 1, 4).unwrap(),
        ];
        for layout in &layouts {
            for shape in shapes {
                if let Some(view) = layout.reshape(shape) {
                    assert_eq!(view.shape(), shape);
                    let (got, want) = (view.offsets().collect::<Vec<_>>(), layout.offsets().collect::<Vec<_>>());
                    assert_eq!(got, want, "{layout:?} → {shape:?}");
                }
            }
        }
        let views = |layout: &Layout| shapes.iter().filter(|s| layout.reshape(s).is_some()).count();
        assert_eq!(views(&layouts[0]), shapes.len());
        // Rows of 4 that start 6 apart: any shape that keeps the rows of 4 ((6, 4), (2, 3, 4), (2, 3, 2, 2)).
        assert_eq!(views(&padded), 3);
    }

    #[test]
    fn empty_and_scalar_layouts() {
        assert_eq!(Layout::contiguous(&[]).offsets().collect::<Vec<_>>(), vec![0]);
        assert_eq!(Layout::contiguous(&[0, 3]).offsets().count(), 0);
    }
}
