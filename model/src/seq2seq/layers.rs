//! The encoder and decoder layers (post-LN, as in the paper): every sub-layer is wrapped as
//! `LayerNorm(x + Sublayer(x))`, the feed-forward sub-layer being `FFN(x) = max(0, x·W₁ + b₁)·W₂ + b₂`.

use super::attention::MultiHeadAttention;
use super::Seq2SeqConfig;
use crate::nn::{Dense, Init, LayerNorm};
use autograd::{Params, Var};
use tensor::Tensor;

/// `FFN(x) = max(0, x·W₁ + b₁)·W₂ + b₂`.
struct FeedForward {
    fc1: Dense,
    fc2: Dense,
}

impl FeedForward {
    fn new(params: &mut Params, init: &mut dyn Init, prefix: &str, cfg: &Seq2SeqConfig) -> crate::Result<Self> {
        let std = cfg.init_std();
        Ok(Self {
            fc1: Dense::new(params, init, &format!("{prefix}.fc1"), (cfg.d_model, cfg.d_ff), std)?,
            fc2: Dense::new(params, init, &format!("{prefix}.fc2"), (cfg.d_ff, cfg.d_model), std)?,
        })
    }

    fn forward(&self, x: &Var) -> crate::Result<Var> {
        self.fc2.forward(&self.fc1.forward(x)?.relu()?)
    }
}

fn norm(params: &mut Params, init: &mut dyn Init, prefix: &str, name: &str, d: usize) -> crate::Result<LayerNorm> {
    LayerNorm::new(params, init, &format!("{prefix}.{name}"), d, 1e-5)
}

/// `A = LN₁(X + MultiHead(X, X))`, `Y = LN₂(A + FFN(A))`; padded source keys are masked.
pub struct EncoderLayer {
    self_attn: MultiHeadAttention,
    norm1: LayerNorm,
    ffn: FeedForward,
    norm2: LayerNorm,
}

impl EncoderLayer {
    pub fn new(params: &mut Params, init: &mut dyn Init, prefix: &str, cfg: &Seq2SeqConfig) -> crate::Result<Self> {
        let (d, h, std) = (cfg.d_model, cfg.n_head, cfg.init_std());
        Ok(Self {
            self_attn: MultiHeadAttention::new(params, init, &format!("{prefix}.self_attn"), d, h, std)?,
            norm1: norm(params, init, prefix, "norm1", d)?,
            ffn: FeedForward::new(params, init, prefix, cfg)?,
            norm2: norm(params, init, prefix, "norm2", d)?,
        })
    }

    /// `x (B, S, d)`, `src_keep (B, 1, 1, S)`.
    pub fn forward(&self, x: &Var, src_keep: &Tensor) -> crate::Result<Var> {
        let a = self.norm1.forward(&x.add(&self.self_attn.forward(x, x, false, Some(src_keep))?)?)?;
        self.norm2.forward(&a.add(&self.ffn.forward(&a)?)?)
    }
}

/// `A = LN₁(Y + MaskedMultiHead(Y, Y))`, `C = LN₂(A + MultiHead(A, Memory))`, `Z = LN₃(C + FFN(C))`:
/// position `t` sees target positions `≤ t` and every unpadded source position.
pub struct DecoderLayer {
    self_attn: MultiHeadAttention,
    norm1: LayerNorm,
    cross_attn: MultiHeadAttention,
    norm2: LayerNorm,
    ffn: FeedForward,
    norm3: LayerNorm,
}

impl DecoderLayer {
    pub fn new(params: &mut Params, init: &mut dyn Init, prefix: &str, cfg: &Seq2SeqConfig) -> crate::Result<Self> {
        let (d, h, std) = (cfg.d_model, cfg.n_head, cfg.init_std());
        Ok(Self {
            self_attn: MultiHeadAttention::new(params, init, &format!("{prefix}.self_attn"), d, h, std)?,
            norm1: norm(params, init, prefix, "norm1", d)?,
            cross_attn: MultiHeadAttention::new(params, init, &format!("{prefix}.cross_attn"), d, h, std)?,
            norm2: norm(params, init, prefix, "norm2", d)?,
            ffn: FeedForward::new(params, init, prefix, cfg)?,
            norm3: norm(params, init, prefix, "norm3", d)?,
        })
    }

    /// `y (B, T, d)`, encoder output `memory (B, S, d)`, `src_keep (B, 1, 1, S)`.
    pub fn forward(&self, y: &Var, memory: &Var, src_keep: &Tensor) -> crate::Result<Var> {
        let a = self.norm1.forward(&y.add(&self.self_attn.forward(y, y, true, None)?)?)?;
        let c = self.norm2.forward(&a.add(&self.cross_attn.forward(&a, memory, false, Some(src_keep))?)?)?;
        self.norm3.forward(&c.add(&self.ffn.forward(&c)?)?)
    }
}
