//! Masked-language-model inputs (BERT, F10): choose 15% of the ordinary tokens as targets; of
//! those, 80% become `[MASK]`, 10% a random token, 10% stay as they are. The loss is taken only at
//! the chosen positions (every other target is [`NO_TARGET`]).

use super::NO_TARGET;
use crate::error::{Result, TrainError};
use rand::Rng;

/// What masking needs to know about the vocabulary.
#[derive(Debug, Clone)]
pub struct MaskingConfig {
    pub mask_id: u32,
    pub vocab_size: u32,
    /// Ids never chosen (`[CLS]`, `[SEP]`, `[PAD]`, …).
    pub special_ids: Vec<u32>,
    /// Fraction of ordinary tokens chosen as targets (0.15 in BERT).
    pub probability: f64,
}

/// Masks `ids` in place and returns the targets: the original id where a token was chosen,
/// [`NO_TARGET`] elsewhere. Random replacements are drawn from the ordinary (non-special) ids.
pub fn mask_tokens(ids: &mut [u32], cfg: &MaskingConfig, rng: &mut impl Rng) -> Result<Vec<i64>> {
    if !(0.0..=1.0).contains(&cfg.probability) || cfg.mask_id >= cfg.vocab_size {
        return Err(TrainError::Invalid(format!(
            "masking needs a probability in [0, 1] and a [MASK] id inside the vocabulary of {}, got {} and {}",
            cfg.vocab_size, cfg.probability, cfg.mask_id
        )));
    }
    let ordinary: Vec<u32> = (0..cfg.vocab_size).filter(|i| !cfg.special_ids.contains(i)).collect();
    Ok(ids
        .iter_mut()
        .map(|id| {
            if cfg.special_ids.contains(id) || !rng.random_bool(cfg.probability) {
                return NO_TARGET;
            }
            let original = *id;
            let roll: f64 = rng.random();
            if roll < 0.8 {
                *id = cfg.mask_id;
            } else if roll < 0.9 && !ordinary.is_empty() {
                *id = ordinary[rng.random_range(0..ordinary.len())];
            }
            i64::from(original)
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proportions_and_specials() {
        let cfg = MaskingConfig { mask_id: 4, vocab_size: 1000, special_ids: vec![0, 1, 2, 3, 4], probability: 0.15 };
        let n = 200_000;
        // Every tenth token is special ([SEP] = 2); the others are ordinary ids 5..1000.
        let original: Vec<u32> = (0..n).map(|i| if i % 10 == 0 { 2 } else { 5 + (i as u32 * 7919) % 995 }).collect();
        let mut ids = original.clone();
        let targets = mask_tokens(&mut ids, &cfg, &mut crate::data::step_rng(0, 7, 0, 0)).unwrap();
        let chosen: Vec<usize> = (0..n).filter(|&i| targets[i] != NO_TARGET).collect();
        assert!(chosen.iter().all(|&i| original[i] != 2), "specials are never chosen");
        assert!(chosen.iter().all(|&i| targets[i] == i64::from(original[i])), "targets are the original ids");
        assert!((0..n).filter(|i| targets[*i] == NO_TARGET).all(|i| ids[i] == original[i]), "others untouched");
        let ordinary = n - n / 10;
        let share = |k: usize, of: usize| k as f64 / of as f64;
        // 15% ± 0.5% of 180k ordinary tokens (the standard error is 0.08%).
        assert!((share(chosen.len(), ordinary) - 0.15).abs() < 0.005);
        let masked = chosen.iter().filter(|&&i| ids[i] == 4).count();
        let kept = chosen.iter().filter(|&&i| ids[i] == original[i]).count();
        // Random replacements can land on the original id (1 in 995), a negligible share.
        assert!((share(masked, chosen.len()) - 0.8).abs() < 0.01);
        assert!((share(kept, chosen.len()) - 0.1).abs() < 0.01);
        assert!(chosen.iter().all(|&i| ids[i] >= 4), "random replacements are ordinary ids");
        let rng = &mut crate::data::step_rng(0, 7, 0, 0);
        assert!(mask_tokens(&mut ids, &MaskingConfig { probability: 1.5, ..cfg.clone() }, rng).is_err());
        let err = mask_tokens(&mut ids, &MaskingConfig { mask_id: 1000, ..cfg }, rng).unwrap_err().to_string();
        assert!(err.contains("[MASK] id inside the vocabulary of 1000"), "{err}");
    }
}
