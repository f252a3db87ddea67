//! Layer normalisation over the last axis of a row-major `(rows, cols)` buffer.

pub mod cuda;

use crate::cpu::lanes;
use crate::cpu::rows_per_task;
use crate::cpu::simd::widest;
use crate::Float;
use rayon::prelude::*;

/// Forward, per row: `μ = mean(x)`, `σ² = mean((x − μ)²)` (biased, as PyTorch),
/// `rstd = 1/√(σ² + ε)`, `x̂ = (x − μ)·rstd`, `y = x̂ ⊙ γ + β`.
/// Caches `μ` and `rstd` per row in `mean` and `rstd`: exactly what backward needs.
#[allow(clippy::too_many_arguments)]
pub fn layer_norm_rows<T: Float>(
    x: &[T],
    gamma: &[T],
    beta: &[T],
    eps: T,
    y: &mut [T],
    mean: &mut [T],
    rstd: &mut [T],
    cols: usize,
) {
    let rows_per = rows_per_task(cols);
    y.par_chunks_mut(rows_per * cols)
        .zip(x.par_chunks(rows_per * cols))
        .zip(mean.par_chunks_mut(rows_per).zip(rstd.par_chunks_mut(rows_per)))
        .for_each(|((y, x), (mean, rstd))| {
            widest(
                #[inline(always)]
                || {
                    for (((y, x), mu), rs) in y.chunks_exact_mut(cols).zip(x.chunks_exact(cols)).zip(mean).zip(rstd) {
                        (*mu, *rs) = normalize_row(x, gamma, beta, eps, y);
                    }
                },
            )
        });
}

/// One row: `y = (x − μ)·rstd ⊙ γ + β`; returns `(μ, rstd)`.
#[inline(always)]
fn normalize_row<T: Float>(x: &[T], gamma: &[T], beta: &[T], eps: T, y: &mut [T]) -> (T, T) {
    let n = T::from_f64(x.len() as f64);
    let m = lanes::sum(x) / n;
    let var = lanes::sum_map(x, |v| (v - m) * (v - m)) / n;
    let r = T::ONE / (var + eps).sqrt();
    for (((y, &x), &g), &b) in y.iter_mut().zip(x).zip(gamma).zip(beta) {
        *y = (x - m) * r * g + b;
    }
    (m, r)
}

/// Backward. With `x̂ = (x − μ)·rstd` and `g = dy ⊙ γ`, per row:
/// `dx = rstd·(g − mean(g) − x̂·mean(g ⊙ x̂))`; over all rows: `dγ = Σ dy ⊙ x̂`, `dβ = Σ dy`.
/// `dgamma` and `dbeta` are overwritten.
#[allow(clippy::too_many_arguments)]
pub fn layer_norm_backward_rows<T: Float>(
    x: &[T],
    gamma: &[T],
    mean: &[T],
    rstd: &[T],
    dy: &[T],
    dx: &mut [T],
    dgamma: &mut [T],
    dbeta: &mut [T],
    cols: usize,
) {
    let rows_per = rows_per_task(cols);
    let chunk = rows_per * cols;
    dx.par_chunks_mut(chunk)
        .zip(x.par_chunks(chunk).zip(dy.par_chunks(chunk)))
        .zip(mean.par_chunks(rows_per).zip(rstd.par_chunks(rows_per)))
        .for_each(|((dx, (x, dy)), (mean, rstd))| {
            widest(
                #[inline(always)]
                || {
                    let rows = dx.chunks_exact_mut(cols).zip(x.chunks_exact(cols)).zip(dy.chunks_exact(cols));
                    for (((dx, x), dy), (&mu, &rs)) in rows.zip(mean.iter().zip(rstd)) {
                        row_backward(x, gamma, dy, (mu, rs), dx);
                    }
                },
            )
        });
    // dγ, dβ: column sums over rows. Partial sums per fixed chunk of rows, added up in chunk order,
    // so the result is bit-for-bit the same however rayon schedules the chunks (reproducible runs).
    let partials: Vec<(Vec<T>, Vec<T>)> = x
        .par_chunks(chunk)
        .zip(dy.par_chunks(chunk))
        .zip(mean.par_chunks(rows_per).zip(rstd.par_chunks(rows_per)))
        .map(|((x, dy), (mean, rstd))| {
            widest(
                #[inline(always)]
                || column_sums(x, dy, mean, rstd, cols),
            )
        })
        .collect();
    let (mut dg, mut db) = (vec![T::ZERO; cols], vec![T::ZERO; cols]);
    for (pg, pb) in partials {
        dg.iter_mut().zip(pg).for_each(|(a, b)| *a += b);
        db.iter_mut().zip(pb).for_each(|(a, b)| *a += b);
    }
    dgamma.copy_from_slice(&dg);
    dbeta.copy_from_slice(&db);
}

/// `(Σ dy ⊙ x̂, Σ dy)` over the rows of one chunk, per column.
#[inline(always)]
fn column_sums<T: Float>(x: &[T], dy: &[T], mean: &[T], rstd: &[T], cols: usize) -> (Vec<T>, Vec<T>) {
    let (mut dg, mut db) = (vec![T::ZERO; cols], vec![T::ZERO; cols]);
    for (((x, dy), &mu), &rs) in x.chunks_exact(cols).zip(dy.chunks_exact(cols)).zip(mean).zip(rstd) {
        for (((dg, db), &x), &dy) in dg.iter_mut().zip(db.iter_mut()).zip(x).zip(dy) {
            *dg += dy * (x - mu) * rs;
            *db += dy;
        }
    }
    (dg, db)
}

/// The `dx` part of [`layer_norm_backward_rows`] for one row. `g = dy ⊙ γ` is written into `dx`
/// first and read back from there, so no scratch row is needed.
#[inline(always)]
fn row_backward<T: Float>(x: &[T], gamma: &[T], dy: &[T], (mu, rs): (T, T), dx: &mut [T]) {
    let n = T::from_f64(x.len() as f64);
    for ((g, &dy), &w) in dx.iter_mut().zip(dy).zip(gamma) {
        *g = dy * w;
    }
    let g_mean = lanes::sum(dx) / n;
    let gx_mean = lanes::sum_zip(dx, x, |g, x| g * (x - mu) * rs) / n;
    for (g, &x) in dx.iter_mut().zip(x) {
        *g = rs * (*g - g_mean - (x - mu) * rs * gx_mean);
    }
}

/// The reference for [`layer_norm_rows`] and [`layer_norm_backward_rows`], as plain loops in f64 —
/// what the tests and `emergent bench kernels` compare the kernels against. Forward per row:
/// `x̂ = (x − μ)/√(σ² + ε)`, `y = x̂ ⊙ γ + β`; given `dy`, backward: `g = dy ⊙ γ`,
/// `dx = rstd·(g − mean(g) − x̂·mean(g ⊙ x̂))`, `dγ = Σ_rows dy ⊙ x̂`, `dβ = Σ_rows dy`.
/// Returns `[y, dx, dγ, dβ]`.
pub fn layer_norm_naive(x: &[f64], gamma: &[f64], beta: &[f64], dy: &[f64], eps: f64) -> [Vec<f64>; 4] {
    let cols = gamma.len();
    let (mut y, mut dx, mut dg, mut db) = (vec![], vec![], vec![0.0; cols], vec![0.0; cols]);
    for (row, dyr) in x.chunks(cols).zip(dy.chunks(cols)) {
        let n = cols as f64;
        let mu = row.iter().sum::<f64>() / n;
        let rs = 1.0 / (row.iter().map(|v| (v - mu).powi(2)).sum::<f64>() / n + eps).sqrt();
        let xhat: Vec<f64> = row.iter().map(|v| (v - mu) * rs).collect();
        y.extend(xhat.iter().zip(gamma).zip(beta).map(|((h, g), b)| h * g + b));
        let gy: Vec<f64> = dyr.iter().zip(gamma).map(|(d, g)| d * g).collect();
        let (gm, gxm) = (gy.iter().sum::<f64>() / n, gy.iter().zip(&xhat).map(|(a, h)| a * h).sum::<f64>() / n);
        dx.extend(gy.iter().zip(&xhat).map(|(a, h)| rs * (a - gm - h * gxm)));
        for c in 0..cols {
            dg[c] += dyr[c] * xhat[c];
            db[c] += dyr[c];
        }
    }
    [y, dx, dg, db]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalised_rows_have_zero_mean_unit_variance() {
        let x = [1.0f64, 2.0, 3.0, 4.0, -5.0, 0.5, 0.25, 8.0];
        let (mut y, mut mean, mut rstd) = ([0.0; 8], [0.0; 2], [0.0; 2]);
        layer_norm_rows(&x, &[1.0; 4], &[0.0; 4], 0.0, &mut y, &mut mean, &mut rstd, 4);
        assert!((mean[0] - 2.5).abs() < 1e-15);
        assert!((rstd[0] - 1.0 / 1.25f64.sqrt()).abs() < 1e-15);
        for row in y.chunks(4) {
            let m: f64 = row.iter().sum::<f64>() / 4.0;
            let v: f64 = row.iter().map(|v| (v - m) * (v - m)).sum::<f64>() / 4.0;
            assert!(m.abs() < 1e-15 && (v - 1.0).abs() < 1e-14);
        }
    }

    /// Against the loops, at shapes whose rows span several parallel chunks (`rows_per_task`) with a
    /// partial last one, and widths that are not a multiple of a vector: every chunk's partial dγ/dβ
    /// must reach the sums.
    #[test]
    fn every_chunk_of_rows_reaches_the_result() {
        let mut seed = 1u64;
        let mut next = move || {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (seed >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
        };
        for cols in [37, 48, 768] {
            let rows = 2 * rows_per_task(cols) + 3;
            let x: Vec<f64> = (0..rows * cols).map(|_| next() * 3.0).collect();
            let dy: Vec<f64> = (0..rows * cols).map(|_| next()).collect();
            let g: Vec<f64> = (0..cols).map(|_| 1.0 + next() * 0.5).collect();
            let b: Vec<f64> = (0..cols).map(|_| next()).collect();
            let [want_y, want_dx, want_dg, want_db] = layer_norm_naive(&x, &g, &b, &dy, 1e-5);
            let (mut y, mut mean, mut rstd) = (vec![0.0; rows * cols], vec![0.0; rows], vec![0.0; rows]);
            layer_norm_rows(&x, &g, &b, 1e-5, &mut y, &mut mean, &mut rstd, cols);
            let (mut dx, mut dg, mut db) = (vec![0.0; rows * cols], vec![0.0; cols], vec![0.0; cols]);
            layer_norm_backward_rows(&x, &g, &mean, &rstd, &dy, &mut dx, &mut dg, &mut db, cols);
            for (name, got, want) in
                [("y", &y, &want_y), ("dx", &dx, &want_dx), ("dγ", &dg, &want_dg), ("dβ", &db, &want_db)]
            {
                let worst =
                    got.iter().zip(want.iter()).map(|(a, b)| (a - b).abs() / (1.0 + b.abs())).fold(0.0, f64::max);
                assert!(worst < 1e-10, "{name} at {rows} × {cols}: off by {worst}");
            }
        }
    }
}
