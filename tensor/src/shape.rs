//! Shapes: element counts, numpy broadcasting, and dimension indices that may count from the end.

use crate::{Error, Result};

/// Number of elements of a shape (1 for a scalar, shape `[]`). A shape too large to index
/// (see [`checked_elem_count`]) counts as `usize::MAX`, which no buffer can hold: it never wraps
/// to a small count that some data would match.
pub fn elem_count(shape: &[usize]) -> usize {
    checked_elem_count("elem_count", shape).unwrap_or(usize::MAX)
}

/// Number of elements of a shape whose every stride and element index fits in a `usize`: the
/// product of its non-zero sizes must not overflow (an empty shape such as `[2⁶³, 0]` still
/// counts as 0, but its first stride would overflow, so it is refused too). Every shape that
/// comes from a file or a flag goes through here before anything is allocated or indexed.
pub fn checked_elem_count(op: &'static str, shape: &[usize]) -> Result<usize> {
    let nonzero = shape.iter().filter(|&&d| d != 0).try_fold(1usize, |acc, &d| acc.checked_mul(d));
    match nonzero {
        Some(_) if shape.contains(&0) => Ok(0),
        Some(n) if n <= isize::MAX as usize => Ok(n),
        _ => Err(Error::invalid(op, format!("shape {shape:?} has more elements than a usize can count"))),
    }
}

/// Row-major strides of a dense tensor of this shape.
pub fn contiguous_strides(shape: &[usize]) -> Vec<usize> {
    let mut strides = vec![1; shape.len()];
    for i in (0..shape.len().saturating_sub(1)).rev() {
        strides[i] = strides[i + 1] * shape[i + 1];
    }
    strides
}

/// The numpy broadcast of two shapes: align from the right; sizes must be equal or one of them 1.
pub fn broadcast_shapes(op: &'static str, lhs: &[usize], rhs: &[usize]) -> Result<Vec<usize>> {
    let rank = lhs.len().max(rhs.len());
    let mut out = vec![0; rank];
    for i in 0..rank {
        let l = if i < rank - lhs.len() { 1 } else { lhs[i - (rank - lhs.len())] };
        let r = if i < rank - rhs.len() { 1 } else { rhs[i - (rank - rhs.len())] };
        out[i] = match (l, r) {
            (a, b) if a == b => a,
            (1, b) => b,
            (a, 1) => a,
            _ => return Err(Error::ShapeMismatch { op, lhs: lhs.to_vec(), rhs: rhs.to_vec() }),
        };
    }
    Ok(out)
}

/// A dimension index: a `usize`, or a signed integer where `-1` is the last dimension.
pub trait Dim: Copy {
    /// The dimension as an index `< rank`, or an error naming the op and shape.
    fn index(self, op: &'static str, shape: &[usize]) -> Result<usize>;
    /// Like [`Dim::index`] but allowing `rank` itself (for inserting a new dimension).
    fn index_for_insert(self, op: &'static str, shape: &[usize]) -> Result<usize>;
}

fn resolve(dim: i64, rank: usize, op: &'static str, shape: &[usize]) -> Result<usize> {
    let d = if dim < 0 { dim + rank as i64 } else { dim };
    if d < 0 || d >= rank as i64 {
        return Err(Error::DimOutOfRange { op, dim, shape: shape.to_vec() });
    }
    Ok(d as usize)
}

macro_rules! impl_dim {
    ($($t:ty),*) => {$(
        impl Dim for $t {
            fn index(self, op: &'static str, shape: &[usize]) -> Result<usize> {
                resolve(self as i64, shape.len(), op, shape)
            }
            fn index_for_insert(self, op: &'static str, shape: &[usize]) -> Result<usize> {
                resolve(self as i64, shape.len() + 1, op, shape)
            }
        }
    )*};
}
impl_dim!(usize, i32, i64, isize);

/// Resolves a list of dims, rejecting duplicates; returns them sorted.
pub fn resolve_dims<D: Dim>(op: &'static str, dims: &[D], shape: &[usize]) -> Result<Vec<usize>> {
    let mut out = dims.iter().map(|d| d.index(op, shape)).collect::<Result<Vec<_>>>()?;
    out.sort_unstable();
    if out.windows(2).any(|w| w[0] == w[1]) {
        return Err(Error::invalid(op, format!("repeated dim in {out:?} for shape {shape:?}")));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broadcasting_follows_numpy() {
        assert_eq!(broadcast_shapes("t", &[3, 1, 5], &[4, 1]).unwrap(), vec![3, 4, 5]);
        assert_eq!(broadcast_shapes("t", &[], &[2, 2]).unwrap(), vec![2, 2]);
        assert!(broadcast_shapes("t", &[3], &[4]).is_err());
    }

    #[test]
    fn element_counts_never_wrap() {
        assert_eq!(checked_elem_count("t", &[2, 3, 4]).unwrap(), 24);
        assert_eq!(checked_elem_count("t", &[]).unwrap(), 1);
        assert_eq!(checked_elem_count("t", &[5, 0, 7]).unwrap(), 0);
        // (2⁶¹ + 1)·8 = 2⁶⁴ + 8 wraps to 8 in a plain product.
        let wraps = [(1usize << 61) + 1, 8];
        assert_eq!(wraps.iter().fold(1usize, |a, &d| a.wrapping_mul(d)), 8);
        assert!(checked_elem_count("t", &wraps).unwrap_err().to_string().contains("more elements"));
        assert_eq!(elem_count(&wraps), usize::MAX);
        assert!(checked_elem_count("t", &[1 << 40, 1 << 40, 0]).is_err());
        assert!(checked_elem_count("t", &[1 << 62, 2]).is_err(), "past isize::MAX");
    }

    #[test]
    fn negative_dims_count_from_the_end() {
        assert_eq!((-1i32).index("t", &[2, 3, 4]).unwrap(), 2);
        assert!(3usize.index("t", &[2, 3, 4]).is_err());
        assert_eq!((-1i32).index_for_insert("t", &[2, 3]).unwrap(), 2);
    }
}
