//! Softmax and log-softmax over the last axis of a row-major `(rows, cols)` buffer, forward and
//! backward, one pass per row, rows in parallel.

pub mod cuda;

use crate::cpu::lanes;
use crate::cpu::rows_per_task;
use crate::cpu::simd::widest;
use crate::Float;
use rayon::prelude::*;

/// `y = softmax(x)` per row: `yᵢ = exp(xᵢ − m) / Σⱼ exp(xⱼ − m)` with `m = maxⱼ xⱼ`, so no `exp`
/// overflows. A row that is entirely `−∞` (fully masked) gives zeros instead of NaN.
pub fn softmax_rows<T: Float>(x: &[T], y: &mut [T], cols: usize) {
    for_each_row(
        x,
        y,
        cols,
        #[inline(always)]
        |x, y| {
            y.copy_from_slice(x);
            softmax_in_place(y);
        },
    );
}

/// One row's softmax, in place (see [`softmax_rows`]). The exponentials are one loop and their
/// sum another (in [`lanes`]), so both vectorise.
#[inline(always)]
pub fn softmax_in_place<T: Float>(row: &mut [T]) {
    let max = lanes::max(row);
    if max == T::NEG_INFINITY {
        row.fill(T::ZERO);
        return;
    }
    for v in row.iter_mut() {
        *v = (*v - max).exp();
    }
    let inv = T::ONE / lanes::sum(row);
    row.iter_mut().for_each(|v| *v *= inv);
}

/// Softmax backward: `dx = y ⊙ (dy − Σⱼ dyⱼ·yⱼ)` per row (the Jacobian `diag(y) − y·yᵀ` applied to dy).
pub fn softmax_backward_rows<T: Float>(y: &[T], dy: &[T], dx: &mut [T], cols: usize) {
    for_each_row_pair(
        y,
        dy,
        dx,
        cols,
        #[inline(always)]
        |y, dy, dx| {
            dx.copy_from_slice(dy);
            softmax_backward_in_place(y, dx);
        },
    );
}

/// One row's softmax backward, in place: `g ← y ⊙ (g − Σⱼ gⱼ·yⱼ)` (see [`softmax_backward_rows`]).
#[inline(always)]
pub fn softmax_backward_in_place<T: Float>(y: &[T], g: &mut [T]) {
    let dot = lanes::sum_zip(y, g, |y, g| y * g);
    for (g, &y) in g.iter_mut().zip(y) {
        *g = y * (*g - dot);
    }
}

/// `y = log_softmax(x)` per row: `yᵢ = xᵢ − m − log Σⱼ exp(xⱼ − m)`, `m = maxⱼ xⱼ`.
pub fn log_softmax_rows<T: Float>(x: &[T], y: &mut [T], cols: usize) {
    for_each_row(
        x,
        y,
        cols,
        #[inline(always)]
        |x, y| {
            let lse = log_sum_exp(x);
            for (y, &x) in y.iter_mut().zip(x) {
                *y = x - lse;
            }
        },
    );
}

/// Log-softmax backward: `dx = dy − softmax(x)·Σⱼ dyⱼ = dy − exp(y)·Σⱼ dyⱼ` per row.
pub fn log_softmax_backward_rows<T: Float>(y: &[T], dy: &[T], dx: &mut [T], cols: usize) {
    for_each_row_pair(
        y,
        dy,
        dx,
        cols,
        #[inline(always)]
        |y, dy, dx| {
            let sum = lanes::sum(dy);
            for ((dx, &y), &dy) in dx.iter_mut().zip(y).zip(dy) {
                *dx = dy - y.exp() * sum;
            }
        },
    );
}

/// Runs `f(x_row, y_row)` for every row, rows in parallel, each chunk compiled wide (callers mark
/// `f` `#[inline(always)]` so it is compiled wide too).
fn for_each_row<T: Float>(x: &[T], y: &mut [T], cols: usize, f: impl Fn(&[T], &mut [T]) + Sync) {
    let chunk = rows_per_task(cols) * cols;
    y.par_chunks_mut(chunk).zip(x.par_chunks(chunk)).for_each(|(y, x)| {
        widest(
            #[inline(always)]
            || {
                for (y, x) in y.chunks_exact_mut(cols).zip(x.chunks_exact(cols)) {
                    f(x, y);
                }
            },
        )
    });
}

/// Runs `f(y_row, dy_row, dx_row)` for every row, rows in parallel, each chunk compiled wide.
fn for_each_row_pair<T: Float>(y: &[T], dy: &[T], dx: &mut [T], cols: usize, f: impl Fn(&[T], &[T], &mut [T]) + Sync) {
    let chunk = rows_per_task(cols) * cols;
    dx.par_chunks_mut(chunk).zip(y.par_chunks(chunk).zip(dy.par_chunks(chunk))).for_each(|(dx, (y, dy))| {
        widest(
            #[inline(always)]
            || {
                for ((dx, y), dy) in dx.chunks_exact_mut(cols).zip(y.chunks_exact(cols)).zip(dy.chunks_exact(cols)) {
                    f(y, dy, dx);
                }
            },
        )
    });
}

/// `log Σⱼ exp(xⱼ)`, computed as `m + log Σⱼ exp(xⱼ − m)`.
#[inline(always)]
pub fn log_sum_exp<T: Float>(x: &[T]) -> T {
    let max = lanes::max(x);
    if max == T::NEG_INFINITY {
        return max;
    }
    let sum = lanes::sum_map(x, |x| (x - max).exp());
    max + sum.ln()
}

/// The reference for [`softmax_rows`]: per row of `cols`, `yᵢ = e^(xᵢ − max x) / Σⱼ e^(xⱼ − max x)`,
/// as plain loops in f64 — what the tests and `emergent bench kernels` compare the kernel against.
pub fn softmax_rows_naive(x: &[f64], cols: usize) -> Vec<f64> {
    let mut y = Vec::with_capacity(x.len());
    for row in x.chunks(cols) {
        let top = row.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let sum: f64 = row.iter().map(|v| (v - top).exp()).sum();
        y.extend(row.iter().map(|v| (v - top).exp() / sum));
    }
    y
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn softmax_matches_definition_and_is_shift_invariant() {
        let x = [1.0f64, 2.0, 3.0, 1000.0, 1001.0, 1002.0];
        let mut y = [0.0; 6];
        softmax_rows(&x, &mut y, 3);
        let e: Vec<f64> = [1.0f64, 2.0, 3.0].iter().map(|v| v.exp()).collect();
        let s: f64 = e.iter().sum();
        for i in 0..3 {
            assert!((y[i] - e[i] / s).abs() < 1e-15);
            assert!((y[i + 3] - y[i]).abs() < 1e-15, "large inputs must not overflow");
        }
    }

    #[test]
    fn fully_masked_row_gives_zeros() {
        let x = [f32::NEG_INFINITY; 4];
        let mut y = [1.0f32; 4];
        softmax_rows(&x, &mut y, 4);
        assert_eq!(y, [0.0; 4]);
    }

    #[test]
    fn a_nan_makes_its_whole_row_nan_as_in_pytorch() {
        // One NaN among values (in a lane and in the tail), a row of NaN only, a NaN beside masked
        // (−∞) entries; the fully masked row and the clean row are untouched by their neighbours.
        let cols = 37;
        let mut x: Vec<f32> = (0..5 * cols).map(|i| ((i * 7 % 11) as f32 - 5.0) / 3.0).collect();
        x[3] = f32::NAN;
        x[cols + 36] = f32::NAN;
        x[2 * cols..3 * cols].fill(f32::NAN);
        x[3 * cols..4 * cols].fill(f32::NEG_INFINITY);
        x[3 * cols + 20] = f32::NAN;
        x[4 * cols..].fill(f32::NEG_INFINITY);
        let (mut y, mut ly) = (vec![0.0; 5 * cols], vec![0.0; 5 * cols]);
        softmax_rows(&x, &mut y, cols);
        log_softmax_rows(&x, &mut ly, cols);
        for out in [&y, &ly] {
            assert!(out[..4 * cols].iter().all(|v| v.is_nan()), "rows with a NaN");
        }
        assert_eq!(&y[4 * cols..], &[0.0; 37][..], "the fully masked row");
        assert!(log_sum_exp(&x[..cols]).is_nan() && log_sum_exp(&x[2 * cols..3 * cols]).is_nan());
        assert_eq!(log_sum_exp(&x[4 * cols..]), f32::NEG_INFINITY);
    }

    #[test]
    fn log_softmax_is_log_of_softmax() {
        let x = [0.3f64, -1.2, 2.5, 0.0, 4.0, -3.0];
        let (mut y, mut ly) = ([0.0; 6], [0.0; 6]);
        softmax_rows(&x, &mut y, 3);
        log_softmax_rows(&x, &mut ly, 3);
        for (a, b) in y.iter().zip(&ly) {
            assert!((a.ln() - b).abs() < 1e-14);
        }
    }

    /// Against the formulas as loops in f64, at shapes whose rows span several parallel chunks with
    /// a partial last one: `y = e^(x − max)/Σ`, `dx = y ⊙ (dy − Σ dy ⊙ y)`, and the log versions
    /// `log y = x − logsumexp(x)`, `dx = dy − e^(log y)·Σ dy`.
    #[test]
    fn every_chunk_of_rows_matches_the_formulas() {
        for cols in [37, 1000, 20_000] {
            let rows = 2 * rows_per_task(cols) + 3;
            let x: Vec<f64> = (0..rows * cols).map(|i| ((i * 7919 % 1013) as f64 / 101.3 - 5.0).sin() * 4.0).collect();
            let dy: Vec<f64> = (0..rows * cols).map(|i| ((i * 104_729 % 997) as f64 / 99.7).cos()).collect();
            let (mut y, mut ly, mut dx, mut ldx) =
                (vec![0.0; x.len()], vec![0.0; x.len()], vec![0.0; x.len()], vec![0.0; x.len()]);
            softmax_rows(&x, &mut y, cols);
            log_softmax_rows(&x, &mut ly, cols);
            softmax_backward_rows(&y, &dy, &mut dx, cols);
            log_softmax_backward_rows(&ly, &dy, &mut ldx, cols);
            let mut worst = 0f64;
            for r in 0..rows {
                let (xr, dyr) = (&x[r * cols..(r + 1) * cols], &dy[r * cols..(r + 1) * cols]);
                let want_y = softmax_rows_naive(xr, cols);
                let dot: f64 = dyr.iter().zip(&want_y).map(|(d, y)| d * y).sum();
                let total: f64 = dyr.iter().sum();
                for c in 0..cols {
                    let i = r * cols + c;
                    let gaps = [
                        y[i] - want_y[c],
                        ly[i] - want_y[c].ln(),
                        dx[i] - want_y[c] * (dyr[c] - dot),
                        ldx[i] - (dyr[c] - want_y[c] * total),
                    ];
                    worst = gaps.iter().fold(worst, |w, g| w.max(g.abs()));
                }
            }
            assert!(worst < 1e-10, "{rows} × {cols}: off by {worst}");
        }
    }
}
