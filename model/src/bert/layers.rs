//! BERT's embeddings and its post-LN encoder layer (Devlin et al. 2019; F10, F11).

use super::BertConfig;
use crate::nn::{Dense, Embedding, Init, LayerNorm};
use autograd::{AttentionMask, Params, Var};
use tensor::{DType, Tensor};

/// `E = LN(E_tok[ids] + E_pos[0..T] + E_type[token_type_ids])`.
pub struct BertEmbeddings {
    pub word: Embedding,
    pub position: Embedding,
    pub token_type: Embedding,
    pub layer_norm: LayerNorm,
}

impl BertEmbeddings {
    pub fn new(params: &mut Params, init: &mut dyn Init, prefix: &str, cfg: &BertConfig) -> crate::Result<Self> {
        let (h, std) = (cfg.hidden_size, cfg.initializer_range);
        Ok(Self {
            word: Embedding::new(params, init, &format!("{prefix}.word_embeddings"), (cfg.vocab_size, h), std)?,
            position: Embedding::new(
                params,
                init,
                &format!("{prefix}.position_embeddings"),
                (cfg.max_position_embeddings, h),
                std,
            )?,
            token_type: Embedding::new(
                params,
                init,
                &format!("{prefix}.token_type_embeddings"),
                (cfg.type_vocab_size, h),
                std,
            )?,
            layer_norm: LayerNorm::new(params, init, &format!("{prefix}.LayerNorm"), h, cfg.layer_norm_eps)?,
        })
    }

    pub fn forward(&self, ids: &Tensor, token_type_ids: &Tensor) -> crate::Result<Var> {
        let t = ids.shape()[1];
        let positions = Tensor::arange(0.0, t as f64, 1.0, DType::I64)?;
        let x = self
            .word
            .forward(ids)?
            .add(&self.position.forward(&positions)?)?
            .add(&self.token_type.forward(token_type_ids)?)?;
        self.layer_norm.forward(&x)
    }
}

/// One encoder layer, layer norm after each residual (post-LN):
/// `A = LN₁(X + MultiHead(X, mask))`, `Y = LN₂(A + GELU(A·W₁ᵀ + b₁)·W₂ᵀ + b₂)`.
pub struct BertLayer {
    pub query: Dense,
    pub key: Dense,
    pub value: Dense,
    pub attention_output: Dense,
    pub attention_norm: LayerNorm,
    pub intermediate: Dense,
    pub output: Dense,
    pub output_norm: LayerNorm,
    pub n_head: usize,
}

impl BertLayer {
    pub fn new(params: &mut Params, init: &mut dyn Init, prefix: &str, cfg: &BertConfig) -> crate::Result<Self> {
        let (h, ff, std, eps) = (cfg.hidden_size, cfg.intermediate_size, cfg.initializer_range, cfg.layer_norm_eps);
        let dense = |params: &mut Params, init: &mut dyn Init, name: &str, dims| {
            Dense::new(params, init, &format!("{prefix}.{name}"), dims, std)
        };
        Ok(Self {
            query: dense(params, init, "attention.self.query", (h, h))?,
            key: dense(params, init, "attention.self.key", (h, h))?,
            value: dense(params, init, "attention.self.value", (h, h))?,
            attention_output: dense(params, init, "attention.output.dense", (h, h))?,
            attention_norm: LayerNorm::new(params, init, &format!("{prefix}.attention.output.LayerNorm"), h, eps)?,
            intermediate: dense(params, init, "intermediate.dense", (h, ff))?,
            output: dense(params, init, "output.dense", (ff, h))?,
            output_norm: LayerNorm::new(params, init, &format!("{prefix}.output.LayerNorm"), h, eps)?,
            n_head: cfg.num_attention_heads,
        })
    }

    /// `x (B, T, H)`; `keep (B, 1, 1, T)`: 1 for real tokens, 0 for padding keys.
    pub fn forward(&self, x: &Var, keep: &Tensor) -> crate::Result<Var> {
        let shape = x.shape();
        let (b, t, c) = (shape[0], shape[1], shape[2]);
        let (nh, d) = (self.n_head, c / self.n_head);
        let heads =
            |dense: &Dense| -> crate::Result<Var> { Ok(dense.forward(x)?.reshape(&[b, t, nh, d])?.transpose(1, 2)?) };
        let (q, k, v) = (heads(&self.query)?, heads(&self.key)?, heads(&self.value)?);
        let mask = AttentionMask { causal: false, keep: Some(keep), dropout: None };
        let context = Var::scaled_dot_product_attention(&q, &k, &v, mask)?.transpose(1, 2)?.reshape(&[b, t, c])?;
        let a = self.attention_norm.forward(&x.add(&self.attention_output.forward(&context)?)?)?;
        let hidden = self.intermediate.forward(&a)?.gelu(tensor::GeluApproximation::Erf)?;
        self.output_norm.forward(&a.add(&self.output.forward(&hidden)?)?)
    }
}
