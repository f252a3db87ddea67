//! One pre-LayerNorm Transformer block (F3).

use super::kv_cache::LayerCache;
use super::{CausalSelfAttention, Gpt2Config, Mlp};
use crate::nn::{Init, LayerNorm};
use autograd::{Params, Var};

/// `x ← x + Attention(LN₁(x))`, then `x ← x + FFN(LN₂(x))`: residual connections around each
/// sub-layer, normalisation before it (GPT-2's pre-LN arrangement).
pub struct Block {
    pub ln_1: LayerNorm,
    pub attn: CausalSelfAttention,
    pub ln_2: LayerNorm,
    pub mlp: Mlp,
}

impl Block {
    pub fn new(params: &mut Params, init: &mut dyn Init, prefix: &str, cfg: &Gpt2Config) -> crate::Result<Self> {
        let eps = cfg.layer_norm_epsilon;
        Ok(Self {
            ln_1: LayerNorm::new(params, init, &format!("{prefix}.ln_1"), cfg.n_embd, eps)?,
            attn: CausalSelfAttention::new(params, init, &format!("{prefix}.attn"), cfg)?,
            ln_2: LayerNorm::new(params, init, &format!("{prefix}.ln_2"), cfg.n_embd, eps)?,
            mlp: Mlp::new(params, init, &format!("{prefix}.mlp"), cfg)?,
        })
    }

    pub fn forward(
        &self,
        x: &Var,
        cache: Option<&mut LayerCache>,
        mut rng: Option<&mut rand::rngs::StdRng>,
    ) -> crate::Result<Var> {
        // Each norm's output is read only by its sub-layer's first linear layer (the attention's
        // qkv projection, the MLP's first layer): in bf16 alone on a GPU under bf16 products.
        // Each sub-layer adds its output onto the residual stream in its last product.
        let x = self.attn.forward_onto(&self.ln_1.forward_for_linear(x)?, x, cache, rng.as_deref_mut())?;
        self.mlp.forward_onto(&self.ln_2.forward_for_linear(&x)?, &x, rng)
    }
}
