//! Training BERT: `classify` fine-tunes a sequence classifier on (text, label) pairs, `pretrain`
//! learns masked-LM and next-sentence prediction from documents. Both read text through a
//! WordPiece vocabulary — given, taken from the initial checkpoint, or learned from the data.

pub mod classify;
mod encode;
pub mod pretrain;
mod splits;
mod tsv;

pub use encode::{encode_batch, Encoded};
pub use tsv::{read_tsv, Labelled};

use crate::error::{Result, TrainError};
use crate::tokenizer::{train_wordpiece, WordPieceTokenizer};
use std::path::Path;

/// The vocabulary file in a BERT model folder (as HF writes it).
pub const VOCAB_FILE: &str = "vocab.txt";

/// The tokenizer of a run: `vocab.txt` of the folder `from` if given (a checkpoint or a vocabulary
/// file), else a WordPiece vocabulary of `vocab_size` learned from `texts`; either way copied to
/// `run_dir/vocab.txt`. Text is lower-cased.
pub fn vocabulary(from: Option<&Path>, texts: &str, vocab_size: usize, run_dir: &Path) -> Result<WordPieceTokenizer> {
    let target = run_dir.join(VOCAB_FILE);
    match from {
        Some(path) => {
            let file = if path.is_dir() { path.join(VOCAB_FILE) } else { path.to_path_buf() };
            let tok = WordPieceTokenizer::load(&file, true)?;
            std::fs::copy(&file, &target).map_err(|e| TrainError::io(&target, e))?;
            Ok(tok)
        }
        None => train_wordpiece(texts, vocab_size, true, &target),
    }
}
