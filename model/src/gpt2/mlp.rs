//! The position-wise feed-forward network (F3).

use super::Gpt2Config;
use crate::nn::{Dropout, Init, Linear};
use autograd::{Params, Var};
use tensor::GeluApproximation;

/// `FFN(x) = GELU(x·W₁ + b₁)·W₂ + b₂`, GELU in GPT-2's tanh approximation, width `4·n_embd`.
pub struct Mlp {
    pub c_fc: Linear,
    pub c_proj: Linear,
    pub dropout: Dropout,
    pub gelu: GeluApproximation,
}

impl Mlp {
    pub fn new(params: &mut Params, init: &mut dyn Init, prefix: &str, cfg: &Gpt2Config) -> crate::Result<Self> {
        let (c, hidden) = (cfg.n_embd, cfg.mlp_width());
        let proj_std = cfg.initializer_range / (2.0 * cfg.n_layer as f64).sqrt();
        let gelu = if cfg.activation_function == "gelu" { GeluApproximation::Erf } else { GeluApproximation::Tanh };
        Ok(Self {
            c_fc: Linear::new(params, init, &format!("{prefix}.c_fc"), (c, hidden), cfg.initializer_range)?,
            c_proj: Linear::new(params, init, &format!("{prefix}.c_proj"), (hidden, c), proj_std)?,
            dropout: Dropout { p: cfg.resid_pdrop },
            gelu,
        })
    }

    /// `r + FFN(x)`: the block's output added onto the residual stream `r`. Where dropout does
    /// not act, one op (`Var::feed_forward_onto`), so the tensors inside it are kept only as the
    /// products and GELU read them (in bf16 alone on a GPU under bf16 products) and the second
    /// product adds `r` in its epilogue.
    pub fn forward_onto(&self, x: &Var, residual: &Var, rng: Option<&mut rand::rngs::StdRng>) -> crate::Result<Var> {
        let (fc, proj) = ((&self.c_fc.weight, &self.c_fc.bias), (&self.c_proj.weight, &self.c_proj.bias));
        if self.dropout.acts(&rng) {
            let y = x.feed_forward(fc, self.gelu, proj)?;
            return Ok(residual.add(&self.dropout.forward(&y, rng)?)?);
        }
        Ok(x.feed_forward_onto(fc, self.gelu, proj, residual)?)
    }
}
