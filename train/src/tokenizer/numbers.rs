//! Whole numbers as single tokens: id `n` is the number `n` (for `n < count`) and id `count` is `=`.
//! Text is the tokens separated by spaces, `"12 40 ="`. The vocabulary of the grokking task.

use super::Tokenizer;
use crate::error::{Result, TrainError};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NumberTokenizer {
    count: u32,
}

impl NumberTokenizer {
    /// Tokens for `0..count` and `=`.
    pub fn new(count: u32) -> Self {
        Self { count }
    }

    /// The id of `=`.
    pub fn equals(&self) -> u32 {
        self.count
    }

    pub fn count(&self) -> u32 {
        self.count
    }
}

impl Tokenizer for NumberTokenizer {
    fn encode(&self, text: &str) -> Result<Vec<u32>> {
        text.split_whitespace()
            .map(|word| match word {
                "=" => Ok(self.count),
                _ => word.parse::<u32>().ok().filter(|&n| n < self.count).ok_or_else(|| {
                    TrainError::Invalid(format!("{word:?} is neither `=` nor a number below {}", self.count))
                }),
            })
            .collect()
    }

    fn decode(&self, ids: &[u32]) -> Result<String> {
        let words: Result<Vec<String>> = ids
            .iter()
            .map(|&i| match i {
                i if i < self.count => Ok(i.to_string()),
                i if i == self.count => Ok("=".to_string()),
                i => Err(TrainError::Invalid(format!("id {i} is outside the vocabulary of {}", self.count + 1))),
            })
            .collect();
        Ok(words?.join(" "))
    }

    fn vocab_size(&self) -> usize {
        self.count as usize + 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_equals_round_trip() {
        let tok = NumberTokenizer::new(97);
        assert_eq!(tok.vocab_size(), 98);
        assert_eq!(tok.encode("12 96 =").unwrap(), vec![12, 96, 97]);
        assert_eq!(tok.decode(&[12, 96, 97, 0]).unwrap(), "12 96 = 0");
        assert!(tok.encode("97").is_err());
        assert!(tok.encode("x").is_err());
        assert!(tok.decode(&[98]).is_err());
    }
}
