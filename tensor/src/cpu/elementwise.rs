//! Elementwise ops on the CPU: unary maps, broadcasting binary ops, comparisons and `where`.
//! Binary operands arrive with layouts already broadcast to the output shape (stride 0 repeats).

use super::{contiguous_cow, float_zeros, map_compute, map_float, map_float2, CpuStorage, PARALLEL_MIN_ELEMS};
use crate::dtype::{Element, FloatElement};
use crate::op::{BinaryOp, CmpOp, UnaryOp};
use crate::{Error, Layout, Result};
use kernels::cpu::elementwise as ew;
use kernels::cpu::simd::widest;
use rayon::prelude::*;

/// Evaluates `$body` with `$f` bound to a closure computing the unary `$op`, one match arm per
/// op, so each loop is compiled for one op with no branch inside (and vectorises).
macro_rules! with_unary_fn {
    ($op:expr, $f:ident => $body:expr) => {
        with_unary_fn!(@arms $op, $f => $body, [Neg, Exp, Log, Sqrt, Tanh, Sigmoid, Relu, Abs],
            [Gelu, AddScalar, MulScalar, DivScalar, PowScalar])
    };
    (@arms $op:expr, $f:ident => $body:expr, [$($unit:ident),*], [$($with:ident),*]) => {
        match $op {
            $(UnaryOp::$unit => {
                let $f = |x| UnaryOp::$unit.apply(x);
                $body
            })*
            $(UnaryOp::$with(p) => {
                let $f = move |x| UnaryOp::$with(p).apply(x);
                $body
            })*
        }
    };
}

/// [`with_unary_fn`] for binary ops.
macro_rules! with_binary_fn {
    ($op:expr, $f:ident => $body:expr) => {
        with_binary_fn!(@arms $op, $f => $body, [Add, Sub, Mul, Div, Pow, Maximum, Minimum])
    };
    (@arms $op:expr, $f:ident => $body:expr, [$($name:ident),*]) => {
        match $op {
            $(BinaryOp::$name => {
                let $f = |x, y| BinaryOp::$name.apply(x, y);
                $body
            })*
        }
    };
}

impl CpuStorage {
    pub fn unary(&self, layout: &Layout, op: UnaryOp) -> Result<Self> {
        if let UnaryOp::Gelu(approx) = op {
            return self.gelu(layout, approx);
        }
        Ok(map_float!(op.name(), self, layout.shape(), |v| with_unary_fn!(op, f => map_compute(v, layout, f))))
    }

    pub fn binary(&self, lhs: &Layout, rhs_storage: &Self, rhs: &Layout, op: BinaryOp) -> Result<Self> {
        Ok(map_float2!(op.name(), self, rhs_storage, lhs.shape(), |a, b| with_binary_fn!(op, f => {
            zip_map(a, lhs, b, rhs, f)
        })))
    }

    /// `self ← self + rhs` in place over all of `self` (dense); `rhs` any layout of the same shape.
    pub fn add_assign(&mut self, rhs_storage: &Self, rhs: &Layout) -> Result<()> {
        match (self, rhs_storage) {
            (CpuStorage::F32(a), CpuStorage::F32(b)) => add_in_place(a.make_mut(), b, rhs),
            (CpuStorage::F64(a), CpuStorage::F64(b)) => add_in_place(a.make_mut(), b, rhs),
            (CpuStorage::BF16(a), CpuStorage::BF16(b)) => add_in_place(a.make_mut(), b, rhs),
            (CpuStorage::F16(a), CpuStorage::F16(b)) => add_in_place(a.make_mut(), b, rhs),
            (l, r) if l.dtype() != r.dtype() => {
                return Err(Error::DTypeMismatch { op: "add_assign", lhs: l.dtype(), rhs: r.dtype() })
            }
            (l, _) => return Err(super::unsupported("add_assign", l.dtype(), rhs.shape())),
        }
        Ok(())
    }

    /// `1` where `lhs ⋈ rhs`, else `0`, as u32. Works for every dtype (compared as stored).
    pub fn cmp(&self, lhs: &Layout, rhs_storage: &Self, rhs: &Layout, op: CmpOp) -> Result<Self> {
        let out = match (self, rhs_storage) {
            (CpuStorage::F32(a), CpuStorage::F32(b)) => cmp_map(a, lhs, b, rhs, op),
            (CpuStorage::F64(a), CpuStorage::F64(b)) => cmp_map(a, lhs, b, rhs, op),
            (CpuStorage::BF16(a), CpuStorage::BF16(b)) => cmp_map(a, lhs, b, rhs, op),
            (CpuStorage::F16(a), CpuStorage::F16(b)) => cmp_map(a, lhs, b, rhs, op),
            (CpuStorage::U32(a), CpuStorage::U32(b)) => cmp_map(a, lhs, b, rhs, op),
            (CpuStorage::I64(a), CpuStorage::I64(b)) => cmp_map(a, lhs, b, rhs, op),
            (l, r) => return Err(Error::DTypeMismatch { op: op.name(), lhs: l.dtype(), rhs: r.dtype() }),
        };
        Ok(CpuStorage::U32(out.into()))
    }

    /// `out = mask ≠ 0 ? on_true : on_false`, all three layouts broadcast to the output shape.
    pub fn where_cond(
        &self,
        mask: &Layout,
        (t, t_layout): (&Self, &Layout),
        (f, f_layout): (&Self, &Layout),
    ) -> Result<Self> {
        let CpuStorage::U32(m) = self else {
            return Err(Error::invalid(
                "where_cond",
                format!("mask must be u32, got {:?} (shape {:?})", self.dtype(), mask.shape()),
            ));
        };
        Ok(map_float2!("where_cond", t, f, t_layout.shape(), |a, b| {
            mask.offsets()
                .zip(t_layout.offsets().zip(f_layout.offsets()))
                .map(|(mo, (to, fo))| if m[mo] != 0 { a[to] } else { b[fo] })
                .collect()
        }))
    }
}

/// `out[i] = f(a[i], b[i])` over two layouts of the same shape, computing in the compute type.
fn zip_map<T: FloatElement>(
    a: &[T],
    la: &Layout,
    b: &[T],
    lb: &Layout,
    f: impl Fn(T::Compute, T::Compute) -> T::Compute + Sync,
) -> Vec<T> {
    let g = |x: T, y: T| T::from_compute(f(x.to_compute(), y.to_compute()));
    if la.elem_count() == 0 {
        return Vec::new();
    }
    let dense_zip = |a: &[T], b: &[T]| {
        let mut out = float_zeros::<T>(a.len());
        ew::zip(a, b, &mut out, g);
        out
    };
    if la.is_contiguous() && lb.is_contiguous() {
        return dense_zip(&contiguous_cow(a, la), &contiguous_cow(b, lb));
    }
    if lb.strides().iter().all(|&s| s == 0) {
        // A broadcast scalar on the right: the common `x op c` case.
        let y = b[lb.offset()].to_compute();
        return map_compute(a, la, |x| f(x, y));
    }
    // General case: walk the leading dims, and the longest trailing block that is dense in both
    // operands (a broadcast bias is dense along its own dims) as slices.
    let inner = dense_suffix(la, lb);
    if inner.1 < MIN_DENSE_BLOCK {
        // No useful common dense block (e.g. one operand transposed): make both dense first.
        return dense_zip(&contiguous_cow(a, la), &contiguous_cow(b, lb));
    }
    let outer_shape = &la.shape()[..la.rank() - inner.0];
    let out_a = Layout::from_parts(outer_shape, &la.strides()[..outer_shape.len()], la.offset());
    let out_b = Layout::from_parts(outer_shape, &lb.strides()[..outer_shape.len()], lb.offset());
    let starts: Vec<(usize, usize)> = out_a.offsets().zip(out_b.offsets()).collect();
    let mut out = float_zeros::<T>(la.elem_count());
    let fill = |(chunk, &(i, j)): (&mut [T], &(usize, usize))| {
        widest(
            #[inline(always)]
            || ew::zip_loop(&a[i..i + inner.1], &b[j..j + inner.1], chunk, &g),
        )
    };
    if out.len() >= PARALLEL_MIN_ELEMS {
        out.par_chunks_mut(inner.1).zip(starts.par_iter()).for_each(fill);
    } else {
        out.chunks_mut(inner.1).zip(starts.iter()).for_each(fill);
    }
    out
}

/// `a[i] ← a[i] + b[i]`, computing in the compute type (the same rounding as `add`).
fn add_in_place<T: FloatElement>(a: &mut [T], b: &[T], lb: &Layout) {
    let b = contiguous_cow(b, lb);
    ew::update(a, &b, |x: T, y: T| T::from_compute(x.to_compute() + y.to_compute()));
}

/// Below this many elements per dense block, walking blocks costs more than copying operands.
const MIN_DENSE_BLOCK: usize = 32;

/// `(dims, elements)` of the longest run of trailing dims along which both layouts are dense
/// (row-major with unit innermost stride).
fn dense_suffix(la: &Layout, lb: &Layout) -> (usize, usize) {
    let (mut dims, mut elems) = (0, 1);
    for d in (0..la.rank()).rev() {
        if la.strides()[d] != elems || lb.strides()[d] != elems {
            break;
        }
        elems *= la.shape()[d];
        dims += 1;
    }
    (dims, elems)
}

fn cmp_map<T: Element>(a: &[T], la: &Layout, b: &[T], lb: &Layout, op: CmpOp) -> Vec<u32> {
    la.offsets().zip(lb.offsets()).map(|(i, j)| op.apply(a[i], b[j]) as u32).collect()
}
