//! The grokking task (Power et al. 2022; Nanda et al. 2023): modular addition with whole numbers as
//! single tokens, `a b =` → `(a + b) mod p`. All `p²` pairs are split once, by a seeded shuffle, into a
//! training fraction and the rest for validation; training is full-batch.

use super::{step_rng, Batch};
use crate::data::arithmetic::NO_TARGET;
use crate::error::TrainError;
use crate::tokenizer::NumberTokenizer;
use crate::Result;
use rand::seq::SliceRandom;
use tensor::Tensor;

#[derive(Debug, Clone)]
pub struct ModularTask {
    pub modulus: u64,
    pub train: Vec<(u64, u64)>,
    pub val: Vec<(u64, u64)>,
}

impl ModularTask {
    /// Splits all pairs `(a, b)`, `a, b < modulus`, into `train_fraction` for training and the rest.
    pub fn new(modulus: u64, train_fraction: f64, seed: u64) -> Result<Self> {
        if !(2..=1000).contains(&modulus) {
            return Err(TrainError::Invalid(format!("the modulus must be in 2..=1000, got {modulus}")));
        }
        if !(train_fraction > 0.0 && train_fraction < 1.0) {
            return Err(TrainError::Invalid(format!("the training fraction must be in (0, 1), got {train_fraction}")));
        }
        let mut pairs: Vec<(u64, u64)> = (0..modulus).flat_map(|a| (0..modulus).map(move |b| (a, b))).collect();
        pairs.shuffle(&mut step_rng(seed, 98, 0, 0));
        let n_train = ((pairs.len() as f64 * train_fraction).round() as usize).clamp(1, pairs.len() - 1);
        let val = pairs.split_off(n_train);
        Ok(Self { modulus, train: pairs, val })
    }

    pub fn tokenizer(&self) -> NumberTokenizer {
        NumberTokenizer::new(self.modulus as u32)
    }

    /// Every training pair: ids `(n, 3)` = `a b =`, targets `(n, 3)` = `_ _ c`.
    pub fn train_batch(&self) -> Result<Batch> {
        self.batch_of(&self.train)
    }

    /// Every validation pair, laid out as [`ModularTask::train_batch`].
    pub fn val_batch(&self) -> Result<Batch> {
        self.batch_of(&self.val)
    }

    fn batch_of(&self, pairs: &[(u64, u64)]) -> Result<Batch> {
        let p = self.modulus as i64;
        let ids: Vec<i64> = pairs.iter().flat_map(|&(a, b)| [a as i64, b as i64, p]).collect();
        let targets: Vec<i64> =
            pairs.iter().flat_map(|&(a, b)| [NO_TARGET, NO_TARGET, ((a + b) % self.modulus) as i64]).collect();
        let n = pairs.len();
        Ok(Batch { ids: Tensor::from_vec(ids, &[n, 3])?, targets: Tensor::from_vec(targets, &[n, 3])? })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn split_covers_every_pair_once_and_is_seeded() {
        let task = ModularTask::new(11, 0.3, 5).unwrap();
        assert_eq!(task.train.len(), 36); // round(0.3 · 121)
        let all: HashSet<_> = task.train.iter().chain(&task.val).collect();
        assert_eq!(all.len(), 121);
        assert_eq!(ModularTask::new(11, 0.3, 5).unwrap().train, task.train);
        assert_ne!(ModularTask::new(11, 0.3, 6).unwrap().train, task.train);
        let b = task.train_batch().unwrap();
        let (ids, targets) = (b.ids.to_vec::<i64>().unwrap(), b.targets.to_vec::<i64>().unwrap());
        let (a, bb) = task.train[0];
        assert_eq!(&ids[..3], &[a as i64, bb as i64, 11]);
        assert_eq!(&targets[..3], &[NO_TARGET, NO_TARGET, ((a + bb) % 11) as i64]);
        assert!(ModularTask::new(11, 1.0, 0).is_err());
        assert!(ModularTask::new(1, 0.5, 0).is_err());
    }
}
