//! The character-level tokenizer: the vocabulary is the sorted set of characters of a corpus.

use super::Tokenizer;
use crate::error::{Result, TrainError};
use std::collections::{BTreeSet, HashMap};

#[derive(Debug, Clone, PartialEq)]
pub struct CharTokenizer {
    chars: Vec<char>,
    ids: HashMap<char, u32>,
}

impl CharTokenizer {
    /// One id per distinct character of `corpus`, in code-point order.
    pub fn from_corpus(corpus: &str) -> Self {
        Self::from_chars(corpus.chars().collect::<BTreeSet<_>>().into_iter().collect())
    }

    /// A vocabulary given explicitly: id `i` is `chars[i]`.
    pub fn from_chars(chars: Vec<char>) -> Self {
        let ids = chars.iter().enumerate().map(|(i, &c)| (c, i as u32)).collect();
        Self { chars, ids }
    }

    pub fn chars(&self) -> &[char] {
        &self.chars
    }
}

impl Tokenizer for CharTokenizer {
    fn encode(&self, text: &str) -> Result<Vec<u32>> {
        text.chars()
            .map(|c| {
                self.ids.get(&c).copied().ok_or_else(|| {
                    TrainError::Invalid(format!(
                        "character {c:?} is not in the {}-character vocabulary",
                        self.chars.len()
                    ))
                })
            })
            .collect()
    }

    fn decode(&self, ids: &[u32]) -> Result<String> {
        ids.iter()
            .map(|&i| {
                self.chars.get(i as usize).copied().ok_or_else(|| {
                    TrainError::Invalid(format!("id {i} is outside the vocabulary of {}", self.chars.len()))
                })
            })
            .collect()
    }

    fn vocab_size(&self) -> usize {
        self.chars.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_unknown_characters() {
        let tok = CharTokenizer::from_corpus("hello world");
        assert_eq!(tok.vocab_size(), 8);
        let ids = tok.encode("low").unwrap();
        assert_eq!(ids, vec![4, 5, 7]); // ' ', d, e, h, l, o, r, w
        assert_eq!(tok.decode(&ids).unwrap(), "low");
        assert!(tok.encode("hex").unwrap_err().to_string().contains("'x'"));
        assert!(tok.decode(&[8]).is_err());
    }
}
