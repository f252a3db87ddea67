//! The whole encoder-decoder: embeddings and positions, the two stacks, the tied output layer;
//! teacher-forced training, greedy and beam-search decoding, checkpoints as model folders.

use super::{DecoderLayer, EncoderLayer};
use crate::beam::{beam_search, BeamConfig, Hypothesis};
use crate::checkpoint::{read_safetensors, save_model_folder, CheckpointInit};
use crate::gpt2::{CONFIG_FILE, IGNORE_INDEX, WEIGHTS_FILE};
use crate::nn::{sinusoidal_positions, Embedding, Init, RandomInit};
use crate::{ModelError, Result};
use autograd::{no_grad, Params, Reduction, Var};
use serde::{Deserialize, Serialize};
use std::path::Path;
use tensor::{CmpOp, DType, Tensor};

/// Sizes and special tokens, as written to `config.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Seq2SeqConfig {
    /// One vocabulary for source and target (their embedding is shared).
    pub vocab_size: usize,
    pub d_model: usize,
    pub n_head: usize,
    pub n_encoder_layers: usize,
    pub n_decoder_layers: usize,
    /// Width of the feed-forward sub-layers.
    pub d_ff: usize,
    /// Longest source or target sequence (positions of the sinusoidal table).
    pub max_len: usize,
    pub pad_id: u32,
    pub bos_id: u32,
    pub eos_id: u32,
    #[serde(default = "model_type")]
    pub model_type: String,
}

fn model_type() -> String {
    "transformer-seq2seq".into()
}

impl Seq2SeqConfig {
    /// A config with `d_ff = 4·d_model` and the given special ids.
    pub fn new(
        vocab_size: usize,
        d_model: usize,
        n_head: usize,
        layers: usize,
        max_len: usize,
        specials: [u32; 3],
    ) -> Self {
        let [pad_id, bos_id, eos_id] = specials;
        Self {
            vocab_size,
            d_model,
            n_head,
            n_encoder_layers: layers,
            n_decoder_layers: layers,
            d_ff: 4 * d_model,
            max_len,
            pad_id,
            bos_id,
            eos_id,
            model_type: model_type(),
        }
    }

    /// Standard deviation of fresh weights: `1/√d_model` (close to Xavier's for square layers).
    pub fn init_std(&self) -> f64 {
        1.0 / (self.d_model as f64).sqrt()
    }

    fn validate(&self) -> Result<()> {
        let specials = [self.pad_id, self.bos_id, self.eos_id];
        let layers = self.n_encoder_layers.min(self.n_decoder_layers);
        if self.d_model == 0
            || self.n_head == 0
            || !self.d_model.is_multiple_of(self.n_head)
            || self.max_len == 0
            || self.d_ff == 0
            || layers == 0
        {
            return Err(ModelError::Config(format!(
                "seq2seq: d_model must be a positive multiple of n_head, and d_ff, max_len and the layer counts \
                 positive; got {self:?}"
            )));
        }
        let (d, ff, layers) =
            (self.d_model as f64, self.d_ff as f64, (self.n_encoder_layers + self.n_decoder_layers) as f64);
        crate::config_checks::plausible_size(
            "seq2seq",
            self.vocab_size as f64 * d + layers * (8.0 * d * d + 2.0 * d * ff),
        )?;
        if specials.iter().any(|&s| s as usize >= self.vocab_size) {
            return Err(ModelError::Config(format!(
                "seq2seq: special ids {specials:?} outside the vocabulary of {}",
                self.vocab_size
            )));
        }
        Ok(())
    }
}

pub struct Transformer {
    pub config: Seq2SeqConfig,
    pub params: Params,
    pub embedding: Embedding,
    pub encoder: Vec<EncoderLayer>,
    pub decoder: Vec<DecoderLayer>,
    positions: Tensor,
}

impl Transformer {
    pub fn new(config: Seq2SeqConfig, init: &mut dyn Init) -> Result<Self> {
        config.validate()?;
        let mut params = Params::new();
        let (v, d) = (config.vocab_size, config.d_model);
        let embedding = Embedding::new(&mut params, init, "embedding", (v, d), config.init_std())?;
        let encoder = (0..config.n_encoder_layers)
            .map(|i| EncoderLayer::new(&mut params, init, &format!("encoder.layers.{i}"), &config))
            .collect::<Result<Vec<_>>>()?;
        let decoder = (0..config.n_decoder_layers)
            .map(|i| DecoderLayer::new(&mut params, init, &format!("decoder.layers.{i}"), &config))
            .collect::<Result<Vec<_>>>()?;
        let positions = sinusoidal_positions(config.max_len, d, DType::F32)?;
        Ok(Self { config, params, embedding, encoder, decoder, positions })
    }

    pub fn random(config: Seq2SeqConfig, seed: u64) -> Result<Self> {
        Self::new(config, &mut RandomInit::new(seed, DType::F32))
    }

    /// `E[ids]·√d + PE[0..T]` for ids `(B, T)`.
    fn embed(&self, ids: &Tensor) -> Result<Var> {
        let t = ids.shape()[1];
        if t > self.config.max_len {
            return Err(ModelError::Config(format!("seq2seq: {t} tokens exceed max_len {}", self.config.max_len)));
        }
        let x = self.embedding.forward(ids)?.mul_scalar((self.config.d_model as f64).sqrt())?;
        // The table is not a parameter: it stays on the host, and its rows go where the model is.
        let pe = Var::constant(self.positions.narrow(0, 0, t)?.to_device(x.value().device())?);
        Ok(x.add(&pe)?)
    }

    /// `(B, 1, 1, S)`: 1 where the source has a token, 0 at padding.
    pub fn source_keep(&self, src: &Tensor) -> Result<Tensor> {
        let (b, s) = (src.shape()[0], src.shape()[1]);
        Ok(src.cmp_scalar(self.config.pad_id as f64, CmpOp::Ne)?.reshape(&[b, 1, 1, s])?)
    }

    /// The encoder's output `(B, S, d)` for source ids `(B, S)`.
    pub fn encode(&self, src: &Tensor, keep: &Tensor) -> Result<Var> {
        let mut x = self.embed(src)?;
        for layer in &self.encoder {
            x = layer.forward(&x, keep)?;
        }
        Ok(x)
    }

    /// Next-token logits `(B, T, V)` for decoder inputs `(B, T)` (BOS then the target so far):
    /// the decoder stack, then the shared embedding as the output layer, `z·Eᵀ`.
    pub fn decode(&self, tgt_in: &Tensor, memory: &Var, keep: &Tensor) -> Result<Var> {
        let mut y = self.embed(tgt_in)?;
        for layer in &self.decoder {
            y = layer.forward(&y, memory, keep)?;
        }
        Ok(y.matmul(&self.embedding.weight.t()?)?)
    }

    /// Teacher forcing: logits for every position of `tgt_in` given the whole source.
    pub fn forward(&self, src: &Tensor, tgt_in: &Tensor) -> Result<Var> {
        let keep = self.source_keep(src)?;
        self.decode(tgt_in, &self.encode(src, &keep)?, &keep)
    }

    /// Mean cross-entropy against `targets (B, T)` (−100 at padding).
    pub fn loss(&self, logits: &Var, targets: &Tensor) -> Result<Var> {
        Ok(logits.cross_entropy(targets, Some(IGNORE_INDEX), Reduction::Mean)?)
    }

    /// Greedy decoding of every source row: start from BOS, append the most likely token until EOS
    /// or `max_new` tokens (the decoder re-reads the prefix each step: no cache, outputs are short).
    /// Returns each row's tokens without BOS and EOS.
    pub fn greedy(&self, src: &Tensor, max_new: usize) -> Result<Vec<Vec<u32>>> {
        no_grad(|| {
            let b = src.shape()[0];
            let keep = self.source_keep(src)?;
            let memory = self.encode(src, &keep)?;
            let mut rows: Vec<Vec<u32>> = vec![vec![self.config.bos_id]; b];
            let mut done = vec![false; b];
            for _ in 0..max_new.min(self.config.max_len - 1) {
                let t = rows[0].len();
                let ids: Vec<i64> = rows.iter().flatten().map(|&i| i64::from(i)).collect();
                let logits = self.decode(&Tensor::from_vec(ids, &[b, t])?, &memory, &keep)?.value();
                let next = logits.narrow(1, t - 1, 1)?.argmax(-1, false)?.to_vec::<i64>()?;
                for ((row, finished), &id) in rows.iter_mut().zip(&mut done).zip(&next) {
                    // A finished row keeps being fed padding; its output is cut at EOS below.
                    row.push(if *finished { self.config.pad_id } else { id as u32 });
                    *finished |= id as u32 == self.config.eos_id;
                }
                if done.iter().all(|&d| d) {
                    break;
                }
            }
            Ok(rows.into_iter().map(|r| self.strip(&r)).collect())
        })
    }

    /// Beam search (F14) for one source sequence `(1, S)`: the best hypotheses, best first, their
    /// tokens without BOS and EOS.
    pub fn beam(&self, src: &Tensor, width: usize, max_new: usize, length_penalty: f64) -> Result<Vec<Hypothesis>> {
        no_grad(|| {
            let keep = self.source_keep(src)?;
            let memory = self.encode(src, &keep)?.value();
            let (s, d, width) = (memory.shape()[1], memory.shape()[2], width.max(1));
            // The encoder's output and mask repeated once for as many hypotheses as can be live;
            // each step takes the first n rows (a view).
            let memory_w = Var::constant(memory.broadcast_to(&[width, s, d])?.contiguous());
            let keep_w = keep.broadcast_to(&[width, 1, 1, s])?.contiguous();
            let cfg = BeamConfig {
                width,
                max_new_tokens: max_new.min(self.config.max_len - 1),
                eos: Some(self.config.eos_id),
                length_penalty,
            };
            let mut hyps =
                beam_search(&[self.config.bos_id], &cfg, |prefixes: &[Vec<u32>]| -> Result<Vec<Vec<f64>>> {
                    // Live hypotheses extend together, so all prefixes have one length.
                    let (n, t) = (prefixes.len(), prefixes[0].len());
                    let ids: Vec<i64> = prefixes.iter().flatten().map(|&i| i64::from(i)).collect();
                    let (memory_n, keep_n) = (memory_w.narrow(0, 0, n)?, keep_w.narrow(0, 0, n)?);
                    let logits = self.decode(&Tensor::from_vec(ids, &[n, t])?, &memory_n, &keep_n)?.value();
                    let log_probs = logits.narrow(1, t - 1, 1)?.log_softmax(-1)?.to_f64_vec();
                    Ok(log_probs.chunks(self.config.vocab_size).map(<[f64]>::to_vec).collect())
                })?;
            for h in &mut hyps {
                h.tokens = self.strip(&h.tokens);
            }
            Ok(hyps)
        })
    }

    /// Tokens after BOS up to (not including) the first EOS.
    fn strip(&self, row: &[u32]) -> Vec<u32> {
        let body = row.strip_prefix(&[self.config.bos_id]).unwrap_or(row);
        body.iter().copied().take_while(|&i| i != self.config.eos_id).collect()
    }

    pub fn save(&self, dir: &Path) -> Result<()> {
        save_model_folder(dir, &self.params, &serde_json::to_string_pretty(&self.config).expect("config serialises"))
    }

    pub fn load(dir: &Path) -> Result<Self> {
        let path = dir.join(CONFIG_FILE);
        let text = std::fs::read_to_string(&path).map_err(|e| ModelError::io(&path, e))?;
        let config: Seq2SeqConfig = serde_json::from_str(&text)
            .map_err(|e| ModelError::format(&path, format!("not an encoder-decoder config: {e}")))?;
        let weights = dir.join(WEIGHTS_FILE);
        let mut init = CheckpointInit::new(&weights, read_safetensors(&weights)?, "", DType::F32);
        let model = Self::new(config, &mut init)?;
        if let Some(name) = init.unused(|_| false).first() {
            return Err(ModelError::mismatch(&weights, name, "is not a parameter of this model (unexpected tensor)"));
        }
        Ok(model)
    }
}
