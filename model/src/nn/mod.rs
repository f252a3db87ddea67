//! Layers: each owns its parameters (registered by name in a [`autograd::Params`]) and has a
//! `forward` that reads like the formula in its doc comment.

mod dense;
mod dropout;
mod embedding;
mod layer_norm;
mod linear;
mod lstm;
mod positional;

pub use dense::Dense;
pub use dropout::Dropout;
pub use embedding::Embedding;
pub use layer_norm::LayerNorm;
pub use linear::Linear;
pub use lstm::Lstm;
pub use positional::sinusoidal_positions;

use autograd::Params;
use tensor::{DType, Tensor};

/// Where a layer's parameters come from: fresh initial values, or a checkpoint's tensors.
pub trait Init {
    /// The tensor for parameter `name` of `shape`, given how a fresh one would be initialised.
    fn tensor(&mut self, name: &str, shape: &[usize], fresh: Fresh) -> crate::Result<Tensor>;
}

/// How a freshly initialised parameter is drawn.
#[derive(Debug, Clone, Copy)]
pub enum Fresh {
    Normal { std: f64 },
    Zeros,
    Ones,
}

/// Registers a parameter named `prefix.name` in `params`.
pub(crate) fn param(
    params: &mut Params,
    init: &mut dyn Init,
    prefix: &str,
    name: &str,
    shape: &[usize],
    fresh: Fresh,
) -> crate::Result<autograd::Var> {
    let full = if prefix.is_empty() { name.to_string() } else { format!("{prefix}.{name}") };
    let value = init.tensor(&full, shape, fresh)?;
    Ok(params.add(full, value)?)
}

/// Fresh parameters from a seeded RNG, in a given dtype.
pub struct RandomInit {
    pub rng: rand::rngs::StdRng,
    pub dtype: DType,
}

impl RandomInit {
    pub fn new(seed: u64, dtype: DType) -> Self {
        Self { rng: tensor::rng(seed), dtype }
    }
}

impl Init for RandomInit {
    fn tensor(&mut self, _name: &str, shape: &[usize], fresh: Fresh) -> crate::Result<Tensor> {
        Ok(match fresh {
            Fresh::Normal { std } => Tensor::randn(shape, 0.0, std, self.dtype, &mut self.rng),
            Fresh::Zeros => Tensor::zeros(shape, self.dtype),
            Fresh::Ones => Tensor::ones(shape, self.dtype),
        })
    }
}
