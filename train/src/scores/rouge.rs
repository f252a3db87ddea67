//! ROUGE (Lin 2004) as the rouge-score package computes it: n-gram overlap (ROUGE-N) and longest
//! common subsequence (ROUGE-L) between one candidate and one reference, as precision, recall and F1.

use super::ngram_counts;
use std::hash::Hash;

/// Precision, recall and their harmonic mean `F = 2PR / (P + R)` (0 when both are 0).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Prf {
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
}

impl Prf {
    fn new(overlap: usize, candidate: usize, reference: usize) -> Self {
        let ratio = |n: usize, d: usize| if d == 0 { 0.0 } else { n as f64 / d as f64 };
        let (precision, recall) = (ratio(overlap, candidate), ratio(overlap, reference));
        let f1 = if precision + recall > 0.0 { 2.0 * precision * recall / (precision + recall) } else { 0.0 };
        Self { precision, recall, f1 }
    }
}

/// rouge-score's default tokenizer: lower-case, every run of characters outside `[a-z0-9]` is a
/// separator.
pub fn rouge_tokenize(text: &str) -> Vec<String> {
    text.to_lowercase()
        .split(|c: char| !(c.is_ascii_lowercase() || c.is_ascii_digit()))
        .filter(|t| !t.is_empty())
        .map(String::from)
        .collect()
}

/// ROUGE-N: overlap = `Σ_g min(count_cand(g), count_ref(g))` over n-grams `g`; P = overlap / candidate
/// n-grams, R = overlap / reference n-grams.
pub fn rouge_n<T: Eq + Hash>(candidate: &[T], reference: &[T], n: usize) -> Prf {
    let (cand, refs) = (ngram_counts(candidate, n), ngram_counts(reference, n));
    let overlap = cand.iter().map(|(g, &c)| c.min(refs.get(g).copied().unwrap_or(0))).sum();
    Prf::new(overlap, cand.values().sum(), refs.values().sum())
}

/// ROUGE-L: with `l` the length of the longest common subsequence, P = l / |candidate|, R = l / |reference|.
pub fn rouge_l<T: Eq>(candidate: &[T], reference: &[T]) -> Prf {
    // lcs[j] = LCS of the candidate prefix so far and reference[..j].
    let mut lcs = vec![0usize; reference.len() + 1];
    for c in candidate {
        let mut diagonal = 0;
        for (j, r) in reference.iter().enumerate() {
            let above = lcs[j + 1];
            lcs[j + 1] = if c == r { diagonal + 1 } else { above.max(lcs[j]) };
            diagonal = above;
        }
    }
    Prf::new(lcs[reference.len()], candidate.len(), reference.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rouge_by_hand() {
        let c = rouge_tokenize("The cat was found under the bed.");
        let r = rouge_tokenize("the cat was under the bed");
        assert_eq!(c, ["the", "cat", "was", "found", "under", "the", "bed"]);
        let one = rouge_n(&c, &r, 1);
        assert!((one.precision - 6.0 / 7.0).abs() < 1e-12 && one.recall == 1.0);
        let two = rouge_n(&c, &r, 2); // the cat, cat was, under the, the bed
        assert!((two.precision - 4.0 / 6.0).abs() < 1e-12 && (two.recall - 4.0 / 5.0).abs() < 1e-12);
        let l = rouge_l(&c, &r);
        assert_eq!((l.precision, l.recall), (6.0 / 7.0, 1.0));
        assert_eq!(rouge_l(&["a", "b", "c", "d"], &["b", "d", "a"]).recall, 2.0 / 3.0);
        assert_eq!(rouge_n::<&str>(&[], &["a"], 1).f1, 0.0);
    }
}
