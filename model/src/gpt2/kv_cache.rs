//! The key/value cache for incremental decoding: each layer keeps the keys and values of every
//! position seen so far, so a new token costs one position of work, not the whole prefix.

use autograd::Var;

/// One layer's cached keys and values, `(B, H, S, D)` each.
#[derive(Default)]
pub struct LayerCache {
    keys: Option<Var>,
    values: Option<Var>,
}

impl LayerCache {
    /// Appends the new positions' keys and values and returns all of them.
    pub fn append(&mut self, k: &Var, v: &Var) -> crate::Result<(Var, Var)> {
        let k = match &self.keys {
            Some(old) => Var::cat(&[old, k], 2)?,
            None => k.clone(),
        };
        let v = match &self.values {
            Some(old) => Var::cat(&[old, v], 2)?,
            None => v.clone(),
        };
        // Cached values are data, not graph: decoding runs without gradients.
        self.keys = Some(k.detach());
        self.values = Some(v.detach());
        Ok((k, v))
    }

    /// Positions cached so far.
    pub fn len(&self) -> usize {
        self.keys.as_ref().map_or(0, |k| k.shape()[2])
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The cache of a whole model: one [`LayerCache`] per block.
pub struct KvCache {
    pub layers: Vec<LayerCache>,
}

impl KvCache {
    pub fn new(n_layer: usize) -> Self {
        Self { layers: (0..n_layer).map(|_| LayerCache::default()).collect() }
    }

    /// Positions cached so far (the position of the next token).
    pub fn len(&self) -> usize {
        self.layers.first().map_or(0, LayerCache::len)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
