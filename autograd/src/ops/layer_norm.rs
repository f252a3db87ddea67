//! Layer normalisation as one fused op with a hand-derived backward.

use crate::Var;
use tensor::Result;

impl Var {
    /// Over the last dim: `μ = mean(x)`, `σ² = mean((x − μ)²)`, `x̂ = (x − μ)/√(σ² + ε)`,
    /// `y = x̂ ⊙ γ + β`. Forward caches `μ` and `rstd = 1/√(σ² + ε)` per row.
    ///
    /// Backward, with `g = dy ⊙ γ` (per row, means over the last dim):
    /// `dx = rstd·(g − mean(g) − x̂·mean(g ⊙ x̂))`, `dγ = Σ_rows dy ⊙ x̂`, `dβ = Σ_rows dy`.
    pub fn layer_norm(&self, gamma: &Var, beta: &Var, eps: f64) -> Result<Var> {
        let (x, g) = (self.value(), gamma.value());
        let (y, mean, rstd) = x.layer_norm_forward(&g, &beta.value(), eps)?;
        Ok(Var::from_op("layer_norm", y, &[self, gamma, beta], move |dy| {
            let (dx, dg, db) = x.layer_norm_backward(&g, &mean, &rstd, dy)?;
            Ok(vec![Some(dx), Some(dg), Some(db)])
        }))
    }
}
