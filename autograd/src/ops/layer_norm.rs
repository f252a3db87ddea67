//! Layer normalisation as one fused op with a hand-derived backward.

use crate::Var;
use tensor::{Result, Tensor};

/// A layer norm's forward: `(x, γ, β, ε) → (y, μ, rstd)`.
type Forward = fn(&Tensor, &Tensor, &Tensor, f64) -> Result<(Tensor, Tensor, Tensor)>;

impl Var {
    /// Over the last dim: `μ = mean(x)`, `σ² = mean((x − μ)²)`, `x̂ = (x − μ)/√(σ² + ε)`,
    /// `y = x̂ ⊙ γ + β`. Forward caches `μ` and `rstd = 1/√(σ² + ε)` per row.
    ///
    /// Backward, with `g = dy ⊙ γ` (per row, means over the last dim):
    /// `dx = rstd·(g − mean(g) − x̂·mean(g ⊙ x̂))`, `dγ = Σ_rows dy ⊙ x̂`, `dβ = Σ_rows dy`.
    pub fn layer_norm(&self, gamma: &Var, beta: &Var, eps: f64) -> Result<Var> {
        self.layer_norm_by(gamma, beta, eps, Tensor::layer_norm_forward)
    }

    /// [`Var::layer_norm`] for an output that only linear layers read (a pre-LN Transformer's
    /// sub-layer input): on a GPU under bf16 products it is kept in bf16 alone
    /// ([`Tensor::layer_norm_forward_as_operand`]); the backward, which reads `x`, `μ` and `rstd`
    /// but never `y`, is the same.
    pub fn layer_norm_as_operand(&self, gamma: &Var, beta: &Var, eps: f64) -> Result<Var> {
        self.layer_norm_by(gamma, beta, eps, Tensor::layer_norm_forward_as_operand)
    }

    /// The op, with `forward` giving `(y, μ, rstd)`. Its backward adds dx to the gradient x has
    /// received already, if any ([`Tensor::layer_norm_backward_added_to`]): in a pre-LN block x is
    /// the residual stream, whose skip connection's gradient arrives first.
    fn layer_norm_by(&self, gamma: &Var, beta: &Var, eps: f64, forward: Forward) -> Result<Var> {
        let (x, g) = (self.value(), gamma.value());
        let (y, mean, rstd) = forward(&x, &g, &beta.value(), eps)?;
        Ok(Var::from_op_adding_to_first("layer_norm", y, &[self, gamma, beta], move |dy, sum| {
            let (dx, dg, db) = match sum {
                Some(sum) => x.layer_norm_backward_added_to(&g, &mean, &rstd, dy, sum)?,
                None => x.layer_norm_backward(&g, &mean, &rstd, dy)?,
            };
            Ok(vec![Some(dx), Some(dg), Some(db)])
        }))
    }
}
