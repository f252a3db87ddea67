//! Token (or position) embedding table.

use super::{param, Fresh, Init};
use autograd::{Params, Var};
use tensor::Tensor;

/// `y[…] = E[ids[…]]`: row lookup in a `[vocab, dim]` table.
pub struct Embedding {
    pub weight: Var,
}

impl Embedding {
    pub fn new(
        params: &mut Params,
        init: &mut dyn Init,
        prefix: &str,
        dims: (usize, usize),
        std: f64,
    ) -> crate::Result<Self> {
        Ok(Self { weight: param(params, init, prefix, "weight", &[dims.0, dims.1], Fresh::Normal { std })? })
    }

    /// `ids (…) → (…, dim)`.
    pub fn forward(&self, ids: &Tensor) -> crate::Result<Var> {
        Ok(self.weight.embedding(ids)?)
    }
}
