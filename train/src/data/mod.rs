//! Training data: the built-in arithmetic tasks, the grokking task, generated reviews (BERT) and text files, as deterministic
//! batches of `(ids, targets)` windows. Batch `k` of step `s` depends only on `(seed, s, k)`, so a
//! resumed run sees exactly the batches an uninterrupted one would.

mod arithmetic;
pub mod fingerprint;
mod mlm;
mod modular;
pub mod number_words;
pub mod prepare;
mod reviews;
pub mod shards;
mod text;

pub use arithmetic::{describe_task, parse_task, task_name, ArithmeticTask, Operation, NO_TARGET};
pub use mlm::{mask_tokens, MaskingConfig};
pub use modular::ModularTask;
pub use reviews::{labelled_reviews, review_documents, LABELS as REVIEW_LABELS};
pub(crate) use text::fnv1a;
pub use text::{cache_dir as text_cache_dir, files_key as text_cache_key, TextData, Tokens, VAL_FRACTION};

use rand::rngs::StdRng;
use rand::SeedableRng;
use tensor::Tensor;

/// One batch: `ids (B, T)` and `targets (B, T)` (i64; [`NO_TARGET`] = no loss at that position).
pub struct Batch {
    pub ids: Tensor,
    pub targets: Tensor,
}

/// The RNG for one purpose at one step: a pure function of its arguments.
pub fn step_rng(seed: u64, stream: u64, step: u64, micro: u64) -> StdRng {
    let mix = |x: u64| x.wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(31);
    StdRng::seed_from_u64(seed ^ mix(stream + 1) ^ mix(step + 0x51ED) ^ mix(micro + 0xABCD).rotate_left(7))
}

/// Streams that draw from [`step_rng`].
pub const STREAM_BATCH: u64 = 1;
pub const STREAM_DROPOUT: u64 = 2;
