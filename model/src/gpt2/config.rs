//! GPT-2's hyper-parameters, with the field names of HF transformers' `config.json`.

use crate::{ModelError, Result};
use serde::{Deserialize, Serialize};
use std::path::Path;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Gpt2Config {
    pub vocab_size: usize,
    /// Context length (number of learned positions).
    pub n_positions: usize,
    pub n_embd: usize,
    pub n_layer: usize,
    pub n_head: usize,
    /// Hidden width of the MLP; `null` means `4·n_embd`.
    #[serde(default)]
    pub n_inner: Option<usize>,
    #[serde(default = "default_eps")]
    pub layer_norm_epsilon: f64,
    #[serde(default = "default_init")]
    pub initializer_range: f64,
    #[serde(default = "default_pdrop")]
    pub resid_pdrop: f64,
    #[serde(default = "default_pdrop")]
    pub embd_pdrop: f64,
    #[serde(default = "default_pdrop")]
    pub attn_pdrop: f64,
    #[serde(default = "default_activation")]
    pub activation_function: String,
    #[serde(default = "default_model_type")]
    pub model_type: String,
    #[serde(default = "default_architectures")]
    pub architectures: Vec<String>,
    /// Variants of attention scaling that this implementation does not have; must be false.
    #[serde(default)]
    pub scale_attn_by_inverse_layer_idx: bool,
    #[serde(default)]
    pub reorder_and_upcast_attn: bool,
    /// The LM head is the token embedding; an untied head is not supported.
    #[serde(default = "default_true")]
    pub tie_word_embeddings: bool,
    /// The stored dtype; HF writes `dtype` (transformers ≥ 4.56) or `torch_dtype` (older).
    #[serde(default, alias = "torch_dtype", skip_serializing_if = "Option::is_none")]
    pub dtype: Option<String>,
    /// The id of the token that starts / ends a document (GPT-2's `<|endoftext|>`, 50256 in its own
    /// vocabulary); HF's generation and tokenizer read them, the model does not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bos_token_id: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eos_token_id: Option<u32>,
}

fn default_true() -> bool {
    true
}
fn default_eps() -> f64 {
    1e-5
}
fn default_init() -> f64 {
    0.02
}
fn default_pdrop() -> f64 {
    0.1
}
fn default_activation() -> String {
    "gelu_new".into()
}
fn default_model_type() -> String {
    "gpt2".into()
}
fn default_architectures() -> Vec<String> {
    vec!["GPT2LMHeadModel".into()]
}

impl Gpt2Config {
    /// A config with GPT-2's defaults for everything but the sizes.
    pub fn new(vocab_size: usize, n_positions: usize, n_embd: usize, n_layer: usize, n_head: usize) -> Self {
        Self {
            vocab_size,
            n_positions,
            n_embd,
            n_layer,
            n_head,
            n_inner: None,
            layer_norm_epsilon: default_eps(),
            initializer_range: default_init(),
            resid_pdrop: default_pdrop(),
            embd_pdrop: default_pdrop(),
            attn_pdrop: default_pdrop(),
            activation_function: default_activation(),
            model_type: default_model_type(),
            architectures: default_architectures(),
            scale_attn_by_inverse_layer_idx: false,
            reorder_and_upcast_attn: false,
            tie_word_embeddings: true,
            dtype: Some("float32".into()),
            bos_token_id: None,
            eos_token_id: None,
        }
    }

    /// GPT-2 small: 124M parameters.
    pub fn gpt2_124m() -> Self {
        Self { bos_token_id: Some(50256), eos_token_id: Some(50256), ..Self::new(50257, 1024, 768, 12, 12) }
    }

    pub fn mlp_width(&self) -> usize {
        self.n_inner.unwrap_or(4 * self.n_embd)
    }

    /// Number of parameters: embeddings `V·d + T·d`, per block `12d² + 13d` (two layer norms `4d`,
    /// QKV `3d² + 3d`, output projection `d² + d`, MLP `2·d·d_ff + d_ff + d` with `d_ff = 4d` by default),
    /// final layer norm `2d`; the LM head is the tied token embedding. (For a config that passed
    /// [`Gpt2Config::validate`], which bounds this count, so nothing here overflows.)
    pub fn parameter_count(&self) -> usize {
        let (d, inner) = (self.n_embd, self.n_inner.unwrap_or(4 * self.n_embd));
        let block = 4 * d + 3 * d * d + 3 * d + d * d + d + 2 * d * inner + inner + d;
        (self.vocab_size + self.n_positions) * d + self.n_layer * block + 2 * d
    }

    /// Checks the sizes fit together (heads divide the width, nothing is zero, the activation is known).
    pub fn validate(&self) -> Result<()> {
        let fail = |msg: String| Err(ModelError::Config(format!("invalid GPT-2 config: {msg}")));
        if [self.vocab_size, self.n_positions, self.n_embd, self.n_layer, self.n_head].contains(&0) {
            return fail(format!("sizes must be positive: {self:?}"));
        }
        if !self.n_embd.is_multiple_of(self.n_head) {
            return fail(format!("n_embd {} is not divisible by n_head {}", self.n_embd, self.n_head));
        }
        if self.scale_attn_by_inverse_layer_idx || self.reorder_and_upcast_attn || !self.tie_word_embeddings {
            return fail(
                "scale_attn_by_inverse_layer_idx, reorder_and_upcast_attn and untied embeddings are not supported"
                    .into(),
            );
        }
        if !["gelu_new", "gelu_pytorch_tanh", "gelu"].contains(&self.activation_function.as_str()) {
            return fail(format!("unsupported activation_function {:?}", self.activation_function));
        }
        if self.n_inner == Some(0) {
            return fail("n_inner must be positive".into());
        }
        let (d, inner) = (self.n_embd as f64, self.n_inner.map_or(4.0 * self.n_embd as f64, |i| i as f64));
        let block = 12.0 * d + 4.0 * d * d + 2.0 * d * inner + inner;
        let count = (self.vocab_size as f64 + self.n_positions as f64) * d + self.n_layer as f64 * block + 2.0 * d;
        crate::config_checks::plausible_size("invalid GPT-2 config", count)?;
        let gpt2 = "invalid GPT-2 config";
        crate::config_checks::positive(gpt2, "layer_norm_epsilon", self.layer_norm_epsilon)?;
        crate::config_checks::non_negative(gpt2, "initializer_range", self.initializer_range)?;
        for (name, p) in
            [("resid_pdrop", self.resid_pdrop), ("embd_pdrop", self.embd_pdrop), ("attn_pdrop", self.attn_pdrop)]
        {
            crate::config_checks::probability(gpt2, name, p)?;
        }
        Ok(())
    }

    /// Reads `config.json`.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| ModelError::io(path, e))?;
        let config: Self = serde_json::from_str(&text)
            .map_err(|e| ModelError::format(path, format!("not a GPT-2 config.json: {e}")))?;
        if config.model_type != "gpt2" {
            return Err(ModelError::format(path, format!("model_type is {:?}, expected \"gpt2\"", config.model_type)));
        }
        config.validate().map_err(|e| ModelError::format(path, e.to_string()))?;
        Ok(config)
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a config always serialises")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_config_json_with_impossible_values_is_refused_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        let good = Gpt2Config::new(50, 16, 32, 2, 4).to_json();
        std::fs::write(&path, &good).unwrap();
        Gpt2Config::load(&path).unwrap();
        // The reported file: every output NaN, exit 0.
        for (field, bad, message) in [
            (
                "\"layer_norm_epsilon\": 0.00001",
                "\"layer_norm_epsilon\": -1.0",
                "layer_norm_epsilon must be a positive",
            ),
            ("\"resid_pdrop\": 0.1", "\"resid_pdrop\": 1.5", "resid_pdrop must be in [0, 1)"),
            ("\"initializer_range\": 0.02", "\"initializer_range\": -0.02", "initializer_range must be a finite"),
        ] {
            assert!(good.contains(field), "{field} in {good}");
            std::fs::write(&path, good.replace(field, bad)).unwrap();
            let e = Gpt2Config::load(&path).unwrap_err().to_string();
            assert!(e.contains(message), "{e}");
        }
        // Found by fuzzing: an n_embd of 8.9·10¹² overflowed the parameter count's products.
        std::fs::write(&path, good.replace("\"n_embd\": 32", "\"n_embd\": 8888888888888")).unwrap();
        let e = Gpt2Config::load(&path).unwrap_err().to_string();
        assert!(e.contains("parameters, more than 1e12"), "{e}");
    }
}
