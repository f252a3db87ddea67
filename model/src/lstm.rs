//! The LSTM language model (F12): Embedding → LSTM → Linear, trained with cross-entropy on the
//! next token.

use crate::gpt2::IGNORE_INDEX;
use crate::nn::{Embedding, Linear, Lstm, RandomInit};
use autograd::{Params, Reduction, Var};
use tensor::{DType, Tensor};

/// Sizes of an [`LstmLm`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LstmConfig {
    pub vocab_size: usize,
    pub n_embd: usize,
    pub hidden: usize,
}

pub struct LstmLm {
    pub config: LstmConfig,
    pub params: Params,
    pub embedding: Embedding,
    pub lstm: Lstm,
    pub head: Linear,
}

impl LstmLm {
    /// Fresh weights drawn with `seed`.
    pub fn random(config: LstmConfig, seed: u64, dtype: DType) -> crate::Result<Self> {
        let (mut params, mut init) = (Params::new(), RandomInit::new(seed, dtype));
        let LstmConfig { vocab_size, n_embd, hidden } = config;
        let embedding = Embedding::new(&mut params, &mut init, "embedding", (vocab_size, n_embd), 0.1)?;
        let lstm = Lstm::new(&mut params, &mut init, "lstm", n_embd, hidden)?;
        let head = Linear::new(&mut params, &mut init, "head", (hidden, vocab_size), 1.0 / (hidden as f64).sqrt())?;
        Ok(Self { config, params, embedding, lstm, head })
    }

    /// `ids (B, T) → logits (B, T, V)`: `head(LSTM(E[ids]))`.
    pub fn forward(&self, ids: &Tensor) -> crate::Result<Var> {
        self.head.forward(&self.lstm.forward(&self.embedding.forward(ids)?)?)
    }

    /// Mean cross-entropy of `logits` against `targets (B, T)` (`-100` = no loss there).
    pub fn loss(&self, logits: &Var, targets: &Tensor) -> crate::Result<Var> {
        Ok(logits.cross_entropy(targets, Some(IGNORE_INDEX), Reduction::Mean)?)
    }
}
