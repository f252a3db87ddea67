//! The whole GPT-2: embeddings → blocks → LayerNorm → tied LM head; checkpoints in HF format.

use super::{Block, Gpt2Config, KvCache};
use crate::checkpoint::{read_safetensors, write_atomically, write_safetensors, CheckpointInit};
use crate::nn::{Dropout, Embedding, Init, LayerNorm, RandomInit};
use crate::{ModelError, Result};
use autograd::{no_grad, Params, Reduction, Var};
use std::path::Path;
use tensor::{DType, Tensor};

/// The file names HF transformers uses in a checkpoint folder.
pub const WEIGHTS_FILE: &str = "model.safetensors";
pub const CONFIG_FILE: &str = "config.json";
/// Label value that `loss` ignores (PyTorch's `ignore_index` default).
pub const IGNORE_INDEX: i64 = -100;

pub struct Gpt2 {
    pub config: Gpt2Config,
    /// Every parameter by its HF name (`transformer.h.0.attn.c_attn.weight`, …), in model order.
    pub params: Params,
    pub wte: Embedding,
    pub wpe: Embedding,
    pub drop: Dropout,
    pub h: Vec<Block>,
    pub ln_f: LayerNorm,
}

impl Gpt2 {
    /// Builds the model, taking each parameter from `init` (fresh or from a checkpoint).
    pub fn new(config: Gpt2Config, init: &mut dyn Init) -> Result<Self> {
        config.validate()?;
        let mut params = Params::new();
        let p = "transformer";
        let std = config.initializer_range;
        let wte = Embedding::new(&mut params, init, &format!("{p}.wte"), (config.vocab_size, config.n_embd), std)?;
        let wpe = Embedding::new(&mut params, init, &format!("{p}.wpe"), (config.n_positions, config.n_embd), std)?;
        let h = (0..config.n_layer)
            .map(|i| Block::new(&mut params, init, &format!("{p}.h.{i}"), &config))
            .collect::<Result<Vec<_>>>()?;
        let ln_f = LayerNorm::new(&mut params, init, &format!("{p}.ln_f"), config.n_embd, config.layer_norm_epsilon)?;
        Ok(Self { drop: Dropout { p: config.embd_pdrop }, config, params, wte, wpe, h, ln_f })
    }

    /// A freshly initialised model: weights `N(0, initializer_range²)`, residual projections scaled
    /// by `1/√(2·n_layer)`, biases 0, LayerNorm gains 1.
    pub fn random(config: Gpt2Config, seed: u64, dtype: DType) -> Result<Self> {
        Self::new(config, &mut RandomInit::new(seed, dtype))
    }

    /// Logits `(B, T, vocab)` for token ids `(B, T)`. With `rng`, dropout is on (training).
    pub fn forward(&self, ids: &Tensor, rng: Option<&mut rand::rngs::StdRng>) -> Result<Var> {
        self.head(&self.hidden_states(ids, None, rng)?)
    }

    /// The mean next-token cross-entropy of the logits of `ids (B, T)` against aligned `targets
    /// (B, T)` (as [`Gpt2::loss`] of [`Gpt2::forward`]), with the LM head and the loss fused: on
    /// a GPU under bf16 products the logits then exist only in bf16 (see
    /// `Var::classifier_cross_entropy`). With `rng`, dropout is on (training).
    pub fn forward_loss(&self, ids: &Tensor, targets: &Tensor, rng: Option<&mut rand::rngs::StdRng>) -> Result<Var> {
        let h = self.hidden_states(ids, None, rng)?;
        Ok(h.classifier_cross_entropy(&self.wte.weight, targets, Some(IGNORE_INDEX))?)
    }

    /// Logits for the new ids `(B, T_new)` only, attending over everything in `cache` too, and
    /// appending the new positions to it. No gradients (decoding).
    pub fn forward_cached(&self, ids: &Tensor, cache: &mut KvCache) -> Result<Tensor> {
        no_grad(|| Ok(self.head(&self.hidden_states(ids, Some(cache), None)?)?.value()))
    }

    /// The LM head, which shares the token embedding: `logits = h·E_tokᵀ`.
    fn head(&self, h: &Var) -> Result<Var> {
        Ok(h.matmul(&self.wte.weight.t()?)?)
    }

    /// The final layer norm's output `(B, T, C)`: what the LM head reads.
    fn hidden_states(
        &self,
        ids: &Tensor,
        mut cache: Option<&mut KvCache>,
        mut rng: Option<&mut rand::rngs::StdRng>,
    ) -> Result<Var> {
        let [_, t] = ids.shape() else {
            return Err(ModelError::Config(format!("gpt2: ids must have shape (batch, time), got {:?}", ids.shape())));
        };
        let start = cache.as_ref().map_or(0, |c| c.len());
        if start + t > self.config.n_positions {
            return Err(ModelError::Config(format!(
                "gpt2: {} positions exceed the context length n_positions = {}",
                start + t,
                self.config.n_positions
            )));
        }
        let positions = Tensor::arange(start as f64, (start + t) as f64, 1.0, DType::I64)?;
        // x = E_tok[ids] + E_pos[positions]
        let x = self.wte.forward(ids)?.add(&self.wpe.forward(&positions)?)?;
        let mut x = self.drop.forward(&x, rng.as_deref_mut())?;
        for (i, block) in self.h.iter().enumerate() {
            let layer_cache = cache.as_deref_mut().map(|c| &mut c.layers[i]);
            x = block.forward(&x, layer_cache, rng.as_deref_mut())?;
        }
        self.ln_f.forward(&x)
    }

    /// The attention probabilities of every layer, each `(B, n_head, T, T)`, for ids `(B, T)`.
    pub fn attention_maps(&self, ids: &Tensor) -> Result<Vec<Tensor>> {
        no_grad(|| {
            let t = ids.shape().get(1).copied().unwrap_or(0);
            if ids.rank() != 2 || t > self.config.n_positions {
                return Err(ModelError::Config(format!(
                    "gpt2: ids must be (batch, time ≤ {}), got {:?}",
                    self.config.n_positions,
                    ids.shape()
                )));
            }
            let positions = Tensor::arange(0.0, t as f64, 1.0, DType::I64)?;
            let mut x = self.wte.forward(ids)?.add(&self.wpe.forward(&positions)?)?;
            let mut maps = Vec::with_capacity(self.h.len());
            for block in &self.h {
                maps.push(block.attn.probabilities(&block.ln_1.forward(&x)?)?);
                x = block.forward(&x, None, None)?;
            }
            Ok(maps)
        })
    }

    /// Mean next-token cross-entropy (F6, F10) of logits `(B, T, V)` against targets `(B, T)`
    /// already aligned (`targets[t]` is the token after position `t`); `-100` positions are ignored.
    pub fn loss(&self, logits: &Var, targets: &Tensor) -> Result<Var> {
        Ok(logits.cross_entropy(targets, Some(IGNORE_INDEX), Reduction::Mean)?)
    }

    /// Loads an HF-format folder (`config.json` + `model.safetensors`), parameters in `dtype`.
    /// Accepts GPT2LMHeadModel files (`transformer.` names, with or without `lm_head.weight`) and
    /// GPT2Model files (no prefix); any other tensor, or a missing or mis-shaped one, is an error.
    pub fn load(dir: &Path, dtype: DType) -> Result<Self> {
        let config = Gpt2Config::load(&dir.join(CONFIG_FILE))?;
        let path = dir.join(WEIGHTS_FILE);
        let mut init = CheckpointInit::new(&path, read_safetensors(&path)?, "transformer", dtype);
        let model = Self::new(config, &mut init)?;
        // Causal-mask buffers of older files, and the tied head, carry no parameters of their own.
        let ignorable =
            |n: &str| n.ends_with(".attn.bias") || n.ends_with(".attn.masked_bias") || n == "lm_head.weight";
        if let Some(name) = init.unused(ignorable).first() {
            return Err(ModelError::mismatch(&path, name, "is not a parameter of this GPT-2 (unexpected tensor)"));
        }
        Ok(model)
    }

    /// Saves `config.json` and `model.safetensors` into `dir` (created if needed), each written
    /// atomically, with the names HF transformers writes for a GPT2LMHeadModel.
    pub fn save(&self, dir: &Path) -> Result<()> {
        std::fs::create_dir_all(dir).map_err(|e| ModelError::io(dir, e))?;
        let tensors: Vec<(String, Tensor)> = self.params.iter().map(|(n, v)| (n.to_string(), v.value())).collect();
        let metadata = std::collections::HashMap::from([("format".to_string(), "pt".to_string())]);
        write_safetensors(&dir.join(WEIGHTS_FILE), &tensors, Some(metadata))?;
        let mut config = self.config.clone();
        config.dtype = Some(match tensors.first().map(|(_, t)| t.dtype()) {
            Some(DType::F64) => "float64".into(),
            Some(DType::BF16) => "bfloat16".into(),
            Some(DType::F16) => "float16".into(),
            _ => "float32".into(),
        });
        write_atomically(&dir.join(CONFIG_FILE), config.to_json().as_bytes())
    }
}
