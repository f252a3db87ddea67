//! Corpus BLEU (Papineni et al. 2002), as sacrebleu computes it on given tokens.
//!
//! `BLEU = BP · exp(¼ Σₙ log pₙ)`, n = 1..4, where `pₙ` is the clipped n-gram precision over the whole
//! corpus (each candidate n-gram counts at most as often as in the reference that has it most often)
//! and `BP = min(1, exp(1 − r/c))` with `c` the candidate tokens and `r` the length of each candidate's
//! closest reference, summed.

use super::ngram_counts;
use crate::error::{Result, TrainError};
use std::hash::Hash;

pub const MAX_ORDER: usize = 4;

/// What to do with an n-gram order that has no match at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Smoothing {
    /// A zero precision makes BLEU zero.
    None,
    /// sacrebleu's default (mteval-v13a): the k-th order without matches gets precision `1/(2ᵏ·total)`.
    Exp,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bleu {
    /// In [0, 1] (sacrebleu prints 100 times this).
    pub score: f64,
    pub precisions: [f64; MAX_ORDER],
    pub brevity_penalty: f64,
    pub candidate_len: usize,
    pub reference_len: usize,
}

/// The length of the reference closest in length to `len` (the shorter one on a tie).
fn closest_reference_len<T>(len: usize, references: &[Vec<T>]) -> usize {
    references.iter().map(|r| r.len()).min_by_key(|&r| (r.abs_diff(len), r)).unwrap_or(0)
}

/// Corpus BLEU-4 of `candidates`, each with one or more `references`.
pub fn corpus_bleu<T: Eq + Hash>(
    candidates: &[Vec<T>],
    references: &[Vec<Vec<T>>],
    smoothing: Smoothing,
) -> Result<Bleu> {
    if candidates.len() != references.len() || references.iter().any(|r| r.is_empty()) {
        return Err(TrainError::Invalid(format!(
            "BLEU needs one or more references for each of the {} candidates, got reference sets for {}{}",
            candidates.len(),
            references.len(),
            if references.iter().any(|r| r.is_empty()) { ", some of them empty" } else { "" }
        )));
    }
    let (mut correct, mut total) = ([0usize; MAX_ORDER], [0usize; MAX_ORDER]);
    let (mut candidate_len, mut reference_len) = (0, 0);
    for (candidate, refs) in candidates.iter().zip(references) {
        candidate_len += candidate.len();
        reference_len += closest_reference_len(candidate.len(), refs);
        for n in 1..=MAX_ORDER {
            let ref_counts: Vec<_> = refs.iter().map(|r| ngram_counts(r, n)).collect();
            for (gram, count) in ngram_counts(candidate, n) {
                let max_ref = ref_counts.iter().map(|c| c.get(gram).copied().unwrap_or(0)).max().unwrap_or(0);
                correct[n - 1] += count.min(max_ref);
            }
            total[n - 1] += candidate.len().saturating_sub(n - 1);
        }
    }
    let brevity_penalty = match (candidate_len, reference_len) {
        (0, _) => 0.0,
        (c, r) if c < r => (1.0 - r as f64 / c as f64).exp(),
        _ => 1.0,
    };
    let mut precisions = [0.0; MAX_ORDER];
    let mut halvings = 1.0;
    for n in 0..MAX_ORDER {
        // No match of any order: nothing to smooth, BLEU is 0.
        if total[n] == 0 || correct.iter().all(|&c| c == 0) {
            break;
        }
        precisions[n] = if correct[n] > 0 {
            correct[n] as f64 / total[n] as f64
        } else if smoothing == Smoothing::Exp {
            halvings *= 2.0;
            1.0 / (halvings * total[n] as f64)
        } else {
            0.0
        };
    }
    let score = if precisions.contains(&0.0) {
        0.0
    } else {
        brevity_penalty * (precisions.iter().map(|p| p.ln()).sum::<f64>() / MAX_ORDER as f64).exp()
    };
    Ok(Bleu { score, precisions, brevity_penalty, candidate_len, reference_len })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<&str> {
        s.split_whitespace().collect()
    }

    #[test]
    fn identical_text_scores_one_and_short_text_is_penalised() {
        let c = vec![words("the cat sat on the mat today")];
        let r = vec![vec![words("the cat sat on the mat today")]];
        assert!((corpus_bleu(&c, &r, Smoothing::None).unwrap().score - 1.0).abs() < 1e-12);
        // The first four words: every precision 1, BP = exp(1 − 7/4).
        let short = vec![words("the cat sat on")];
        let b = corpus_bleu(&short, &r, Smoothing::None).unwrap();
        assert!((b.score - (1.0f64 - 7.0 / 4.0).exp()).abs() < 1e-12);
    }

    #[test]
    fn clipped_precisions_by_hand() {
        // Papineni et al.'s example: "the" ×7 against a reference with two "the": p₁ = 2/7.
        let c = vec![words("the the the the the the the")];
        let r = vec![vec![words("the cat is on the mat"), words("there is a cat on the mat")]];
        let b = corpus_bleu(&c, &r, Smoothing::None).unwrap();
        assert!((b.precisions[0] - 2.0 / 7.0).abs() < 1e-12);
        assert_eq!(b.score, 0.0, "no bigram matches and no smoothing");
        assert_eq!(b.reference_len, 7, "closest reference length to 7 is 7");
        // With exp smoothing, orders 2, 3, 4 get 1/(2·6), 1/(4·5), 1/(8·4).
        let s = corpus_bleu(&c, &r, Smoothing::Exp).unwrap();
        let want = ((2.0f64 / 7.0).ln() + (1.0f64 / 12.0).ln() + (1.0f64 / 20.0).ln() + (1.0f64 / 32.0).ln()) / 4.0;
        assert!((s.score - want.exp()).abs() < 1e-12);
    }

    #[test]
    fn mismatched_inputs_are_refused() {
        let c = vec![words("a b c"), words("d e")];
        let err = corpus_bleu(&c, &[vec![words("a b c")]], Smoothing::None).unwrap_err().to_string();
        assert!(err.contains("each of the 2 candidates, got reference sets for 1"), "{err}");
        assert!(corpus_bleu(&c, &[vec![words("a")], vec![]], Smoothing::None).is_err());
    }
}
