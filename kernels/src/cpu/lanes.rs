//! Row reductions in a fixed order that vectorises: [`LANES`] running partial results (element `i`
//! goes to lane `i mod LANES`), combined pairwise at the end.
//!
//! A plain `Σ` in Rust adds one element at a time (the compiler may not reorder float additions),
//! a chain of dependent adds that runs at one add per 3–4 cycles. Sixteen independent lanes fill an
//! AVX-512 register (two AVX2 ones) and are as deterministic: the order is written here, not
//! chosen by the compiler, so results are the same on every CPU and thread count. The pairwise
//! combine is also at least as accurate as the sequential sum.

use crate::Float;

/// Partial results per reduction.
pub const LANES: usize = 16;

/// `Σᵢ f(xᵢ)`.
#[inline(always)]
pub fn sum_map<T: Float>(x: &[T], f: impl Fn(T) -> T) -> T {
    reduce(x, T::ZERO, |acc, v| acc + f(v), |a, b| a + b)
}

/// `Σᵢ xᵢ`.
#[inline(always)]
pub fn sum<T: Float>(x: &[T]) -> T {
    sum_map(x, |v| v)
}

/// `Σᵢ f(xᵢ, yᵢ)` over two slices of the same length.
#[inline(always)]
pub fn sum_zip<T: Float>(x: &[T], y: &[T], f: impl Fn(T, T) -> T) -> T {
    assert_eq!(x.len(), y.len(), "sum_zip: lengths differ");
    let mut acc = [T::ZERO; LANES];
    let (xc, yc) = (x.chunks_exact(LANES), y.chunks_exact(LANES));
    let (x_tail, y_tail) = (xc.remainder(), yc.remainder());
    for (xs, ys) in xc.zip(yc) {
        for i in 0..LANES {
            acc[i] += f(xs[i], ys[i]);
        }
    }
    for (i, (&a, &b)) in x_tail.iter().zip(y_tail).enumerate() {
        acc[i] += f(a, b);
    }
    combine(acc, |a, b| a + b)
}

/// `maxᵢ xᵢ` (`−∞` for an empty slice; NaN if any `xᵢ` is NaN, so a softmax of a row with a NaN
/// is NaN, never mistaken for a fully masked row).
///
/// The maximum does not depend on the order, so the tail and the lanes are folded one after the
/// other at the end: LLVM vectorises this form into full-width compares, while the sums' form (the
/// tail into the lanes, then the pairwise combine) came out as shuffled 4-wide ones.
#[inline(always)]
pub fn max<T: Float>(x: &[T]) -> T {
    let mut acc = [T::NEG_INFINITY; LANES];
    let chunks = x.chunks_exact(LANES);
    let tail = chunks.remainder();
    for chunk in chunks {
        for (acc, &v) in acc.iter_mut().zip(chunk) {
            *acc = acc.max(v);
        }
    }
    tail.iter().chain(&acc).fold(T::NEG_INFINITY, |m, &v| m.max(v))
}

/// Folds `x` into [`LANES`] accumulators with `step`, then combines them pairwise with `join`.
#[inline(always)]
fn reduce<T: Float>(x: &[T], init: T, step: impl Fn(T, T) -> T, join: impl Fn(T, T) -> T) -> T {
    let mut acc = [init; LANES];
    let chunks = x.chunks_exact(LANES);
    let tail = chunks.remainder();
    for chunk in chunks {
        for i in 0..LANES {
            acc[i] = step(acc[i], chunk[i]);
        }
    }
    for (i, &v) in tail.iter().enumerate() {
        acc[i] = step(acc[i], v);
    }
    combine(acc, join)
}

/// Pairwise: lanes `i` and `i + half` first, halving until one is left.
#[inline(always)]
fn combine<T: Float>(mut acc: [T; LANES], join: impl Fn(T, T) -> T) -> T {
    let mut half = LANES / 2;
    while half > 0 {
        for i in 0..half {
            acc[i] = join(acc[i], acc[i + half]);
        }
        half /= 2;
    }
    acc[0]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reductions_match_their_definitions() {
        for n in [0usize, 1, 5, 16, 17, 100, 385] {
            let x: Vec<f64> = (0..n).map(|i| ((i * 37 % 101) as f64 - 50.0) / 7.0).collect();
            let y: Vec<f64> = (0..n).map(|i| (i as f64).sin()).collect();
            let exact: f64 = x.iter().sum();
            assert!((sum(&x) - exact).abs() < 1e-12, "sum, n = {n}");
            assert!((sum_map(&x, |v| v * v) - x.iter().map(|v| v * v).sum::<f64>()).abs() < 1e-10);
            let dot: f64 = x.iter().zip(&y).map(|(a, b)| a * b).sum();
            assert!((sum_zip(&x, &y, |a, b| a * b) - dot).abs() < 1e-12, "dot, n = {n}");
            assert_eq!(max(&x), x.iter().cloned().fold(f64::NEG_INFINITY, f64::max), "max, n = {n}");
            // One NaN anywhere, in any lane or the tail, makes the maximum NaN.
            for at in [0, n / 2, n.saturating_sub(1)].into_iter().filter(|&at| at < n) {
                let mut with_nan = x.clone();
                with_nan[at] = f64::NAN;
                assert!(max(&with_nan).is_nan(), "n = {n}, NaN at {at}");
            }
        }
    }

    #[test]
    fn the_order_is_fixed_so_the_result_is_too() {
        // f32 values whose sum depends on the order: the lane sum is reproducible and equals the
        // same order spelled out by hand for 32 elements (lane i holds x[i] + x[i + 16]).
        let x: Vec<f32> = (0..32).map(|i| 1.0 + (i as f32) * 1e-7 * if i % 2 == 0 { 1e4 } else { -1.0 }).collect();
        let mut lanes: Vec<f32> = (0..16).map(|i| x[i] + x[i + 16]).collect();
        while lanes.len() > 1 {
            let half = lanes.len() / 2;
            lanes = (0..half).map(|i| lanes[i] + lanes[i + half]).collect();
        }
        assert_eq!(sum(&x).to_bits(), lanes[0].to_bits());
    }
}
