//! Tokenisation (F16): text ↔ token ids.
//!
//! - [`CharTokenizer`]: one id per character seen in a corpus.
//! - [`Gpt2Tokenizer`]: GPT-2's byte-level BPE from `vocab.json` + `merges.txt`, ids identical to
//!   the reference tokenizer.
//! - [`WordPieceTokenizer`]: BERT's WordPiece from a `vocab.txt`, ids identical to HF's BertTokenizer.
//! - [`train_wordpiece`]: learns a WordPiece `vocab.txt` (BPE merges with the `##` prefix).
//! - [`NumberTokenizer`]: whole numbers as single tokens (the grokking task).
//! - [`train_bpe`]: learns merges from text and writes the same two files.

mod bpe_train;
mod byte_level;
mod char_level;
mod gpt2;
mod merges;
mod numbers;
mod wordpiece;
mod wordpiece_train;

pub use bpe_train::train_bpe;
pub use byte_level::{byte_decoder, bytes_to_unicode, pretokenize};
pub use char_level::CharTokenizer;
pub use gpt2::{Gpt2Tokenizer, ENDOFTEXT};
pub use numbers::NumberTokenizer;
pub use wordpiece::WordPieceTokenizer;
pub use wordpiece_train::{train_wordpiece, WORDPIECE_SPECIALS};

/// What every tokenizer offers.
pub trait Tokenizer {
    fn encode(&self, text: &str) -> crate::Result<Vec<u32>>;
    fn decode(&self, ids: &[u32]) -> crate::Result<String>;
    fn vocab_size(&self) -> usize;
    /// The id of the document separator (`<|endoftext|>`), for a tokenizer that has one.
    fn end_of_text(&self) -> Option<u32> {
        None
    }
}
