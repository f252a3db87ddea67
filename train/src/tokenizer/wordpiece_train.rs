//! Learning a WordPiece vocabulary, as HF's `tokenizers` does: BPE merges over the words of the
//! corpus in which every character after a word's first carries the continuation prefix `##`.

use super::merges::{merge_pair, most_frequent_pair};
use super::wordpiece::WordPieceTokenizer;
use crate::error::{Result, TrainError};
use std::collections::{BTreeSet, HashMap};
use std::path::Path;

/// The special tokens, ids 0–4 of every vocabulary this writes.
pub const WORDPIECE_SPECIALS: [&str; 5] = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"];

/// Learns a vocabulary of at most `vocab_size` tokens from `text` (split into words as
/// [`WordPieceTokenizer::basic_tokenize`] does, lower-cased when `lowercase`), writes it to
/// `vocab_txt` and returns the tokenizer.
///
/// Start from the specials and every character seen, alone (word-initial) and as `##c`; then merge
/// the most frequent adjacent pair of pieces into one (`a` + `##b` = `ab`, `##a` + `##b` = `##ab`)
/// until the vocabulary is full or no pair occurs twice.
pub fn train_wordpiece(text: &str, vocab_size: usize, lowercase: bool, vocab_txt: &Path) -> Result<WordPieceTokenizer> {
    let splitter =
        WordPieceTokenizer::from_tokens(WORDPIECE_SPECIALS.iter().map(|s| s.to_string()).collect(), lowercase)?;
    let mut word_counts: HashMap<String, usize> = HashMap::new();
    for word in splitter.basic_tokenize(text) {
        *word_counts.entry(word).or_default() += 1;
    }
    let mut tokens: Vec<String> = WORDPIECE_SPECIALS.iter().map(|s| s.to_string()).collect();
    let alphabet: BTreeSet<String> = word_counts
        .keys()
        .flat_map(|w| w.chars().enumerate().map(|(i, c)| if i == 0 { c.to_string() } else { format!("##{c}") }))
        .collect();
    tokens.extend(alphabet);
    if tokens.len() > vocab_size {
        return Err(TrainError::Invalid(format!(
            "a vocabulary of {vocab_size} cannot hold the {} specials and characters of this text",
            tokens.len()
        )));
    }
    let id: HashMap<String, u32> = tokens.iter().enumerate().map(|(i, t)| (t.clone(), i as u32)).collect();
    let mut words: Vec<(Vec<u32>, usize)> = word_counts
        .iter()
        .map(|(w, &n)| {
            let pieces = w.chars().enumerate().map(|(i, c)| id[&if i == 0 { c.to_string() } else { format!("##{c}") }]);
            (pieces.collect(), n)
        })
        .collect();
    words.sort(); // deterministic, whatever the hash map did
    while tokens.len() < vocab_size {
        let Some(pair) = most_frequent_pair(&words) else { break };
        let (left, right) = (&tokens[pair.0 as usize], &tokens[pair.1 as usize]);
        let merged = format!("{left}{}", right.strip_prefix("##").unwrap_or(right));
        let new_id = tokens.len() as u32;
        tokens.push(merged);
        for (symbols, _) in &mut words {
            merge_pair(symbols, pair, new_id);
        }
    }
    let text = tokens.join("\n") + "\n";
    model::checkpoint::write_atomically(vocab_txt, text.as_bytes())?;
    WordPieceTokenizer::from_tokens(tokens, lowercase)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tokenizer::Tokenizer;

    #[test]
    fn learns_whole_words_and_covers_its_corpus() {
        let corpus = "the player played; the players are playing. Playful play!\n".repeat(20);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("vocab.txt");
        let tok = train_wordpiece(&corpus, 40, true, &path).unwrap();
        assert_eq!(tok.vocab_size(), 40);
        let reloaded = WordPieceTokenizer::load(&path, true).unwrap();
        let ids = reloaded.encode(&corpus).unwrap();
        assert!(!ids.contains(&reloaded.unk), "every word of the corpus is covered");
        assert_eq!(ids, tok.encode(&corpus).unwrap());
        // The most frequent words end up as single tokens.
        for word in ["the", "play"] {
            assert_eq!(reloaded.encode(word).unwrap().len(), 1, "{word}");
        }
        assert_eq!(reloaded.decode(&reloaded.encode("the players").unwrap()).unwrap(), "the players");
        assert!(train_wordpiece(&corpus, 10, true, &path).is_err(), "too small for the alphabet");
        assert_eq!(train_wordpiece(&corpus, 40, true, &path).unwrap().encode(&corpus).unwrap(), ids, "deterministic");
    }
}
