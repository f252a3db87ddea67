//! Scores (F15): of generated text against references — corpus BLEU-4 with the brevity penalty, and
//! ROUGE-1/2/L, both on token sequences ([`rouge_tokenize`] splits text the way the rouge-score
//! package does) — of a classifier's predictions: accuracy, precision, recall, F1 — and of a language
//! model on HellaSwag's multiple-choice completions (acc, acc_norm).

mod bleu;
mod classification;
mod hellaswag;
mod rouge;

pub use bleu::{corpus_bleu, Bleu, Smoothing};
pub use classification::{ClassScore, ClassificationScores};
pub use hellaswag::{read_hellaswag, score_endings, tokenize_item, EndingScores, HellaSwagItem};
pub use rouge::{rouge_l, rouge_n, rouge_tokenize, Prf};

use std::collections::HashMap;
use std::hash::Hash;

/// How often each n-gram (window of `n` tokens) occurs in `tokens`.
pub fn ngram_counts<T: Eq + Hash>(tokens: &[T], n: usize) -> HashMap<&[T], usize> {
    let mut counts = HashMap::new();
    if n > 0 {
        for gram in tokens.windows(n) {
            *counts.entry(gram).or_insert(0) += 1;
        }
    }
    counts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_ngrams_by_hand() {
        let t = ["a", "b", "a", "b", "a"];
        let bigrams = ngram_counts(&t, 2);
        assert_eq!(bigrams[&["a", "b"][..]], 2);
        assert_eq!(bigrams[&["b", "a"][..]], 2);
        assert!(ngram_counts(&t, 6).is_empty());
    }
}
