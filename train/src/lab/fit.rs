//! Power laws `y = a·x^b`, fitted by least squares on `ln y = ln a + b·ln x` (F17: how loss falls
//! with parameters and with compute).

/// A fitted power law with the standard error of its exponent.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PowerLaw {
    pub coefficient: f64,
    pub exponent: f64,
    /// Standard error of `exponent`: `sqrt(Σ rᵢ² / (n − 2) / Σ (uᵢ − ū)²)` with residuals `rᵢ` of
    /// the line in log space (`uᵢ = ln xᵢ`).
    pub exponent_stderr: f64,
    /// Fraction of the variance of `ln y` the line explains.
    pub r_squared: f64,
    pub points: usize,
}

impl PowerLaw {
    /// Fits `y = a·x^b` to the points with `x, y > 0`; `None` with fewer than three such points or
    /// when every `x` is the same.
    pub fn fit(points: &[(f64, f64)]) -> Option<Self> {
        let logs: Vec<(f64, f64)> =
            points.iter().filter(|(x, y)| *x > 0.0 && *y > 0.0).map(|(x, y)| (x.ln(), y.ln())).collect();
        let n = logs.len() as f64;
        if logs.len() < 3 {
            return None;
        }
        let (mean_u, mean_v) = (logs.iter().map(|p| p.0).sum::<f64>() / n, logs.iter().map(|p| p.1).sum::<f64>() / n);
        let s_uu: f64 = logs.iter().map(|(u, _)| (u - mean_u).powi(2)).sum();
        let s_uv: f64 = logs.iter().map(|(u, v)| (u - mean_u) * (v - mean_v)).sum();
        let s_vv: f64 = logs.iter().map(|(_, v)| (v - mean_v).powi(2)).sum();
        if s_uu <= 0.0 {
            return None;
        }
        let exponent = s_uv / s_uu;
        let intercept = mean_v - exponent * mean_u;
        let residual: f64 = logs.iter().map(|(u, v)| (v - intercept - exponent * u).powi(2)).sum();
        Some(Self {
            coefficient: intercept.exp(),
            exponent,
            exponent_stderr: (residual / (n - 2.0) / s_uu).sqrt(),
            r_squared: if s_vv > 0.0 { 1.0 - residual / s_vv } else { 1.0 },
            points: logs.len(),
        })
    }

    pub fn predict(&self, x: f64) -> f64 {
        self.coefficient * x.powf(self.exponent)
    }
}

/// The points no other point beats on both axes (less or equal `x` and lower `y`): the lowest `y`
/// reached for each budget `x`, the compute-efficient frontier. Sorted by `x`.
pub fn lower_frontier(points: &[(f64, f64)]) -> Vec<(f64, f64)> {
    let mut sorted = points.to_vec();
    sorted.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.total_cmp(&b.1)));
    let mut best = f64::INFINITY;
    sorted
        .into_iter()
        .filter(|&(_, y)| {
            let keep = y < best;
            best = best.min(y);
            keep
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recovers_an_exact_power_law() {
        let points: Vec<(f64, f64)> = [1e3f64, 3e3, 1e4, 3e4, 1e5].iter().map(|&x| (x, 7.0 * x.powf(-0.25))).collect();
        let fit = PowerLaw::fit(&points).unwrap();
        assert!((fit.exponent + 0.25).abs() < 1e-12);
        assert!((fit.coefficient - 7.0).abs() < 1e-9);
        assert!(fit.exponent_stderr < 1e-9 && (fit.r_squared - 1.0).abs() < 1e-12);
        assert!((fit.predict(1e6) - 7.0 * 1e6f64.powf(-0.25)).abs() < 1e-9);
    }

    #[test]
    fn standard_error_by_hand() {
        // ln-space points (0, 0), (1, 1), (2, 1): slope 1/2, residuals −1/6, 1/3, −1/6,
        // Σr² = 1/6, Σ(u − ū)² = 2 → stderr = sqrt((1/6) / 1 / 2) = sqrt(1/12).
        let e = std::f64::consts::E;
        let fit = PowerLaw::fit(&[(1.0, 1.0), (e, e), (e * e, e)]).unwrap();
        assert!((fit.exponent - 0.5).abs() < 1e-12);
        assert!((fit.exponent_stderr - (1.0f64 / 12.0).sqrt()).abs() < 1e-12);
        assert!((fit.r_squared - 0.75).abs() < 1e-12); // Σ(v − v̄)² = 2/3
    }

    #[test]
    fn degenerate_inputs_give_none() {
        assert!(PowerLaw::fit(&[(1.0, 1.0), (2.0, 0.5)]).is_none());
        assert!(PowerLaw::fit(&[(2.0, 1.0), (2.0, 0.5), (2.0, 0.7)]).is_none());
        assert!(PowerLaw::fit(&[(1.0, 1.0), (2.0, 0.0), (3.0, -1.0), (4.0, 0.2)]).is_none());
    }

    #[test]
    fn frontier_keeps_only_improvements() {
        let points = [(1.0, 5.0), (2.0, 6.0), (2.0, 4.0), (3.0, 4.5), (4.0, 3.0)];
        assert_eq!(lower_frontier(&points), vec![(1.0, 5.0), (2.0, 4.0), (4.0, 3.0)]);
    }
}
