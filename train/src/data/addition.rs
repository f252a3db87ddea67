//! The built-in task: n-digit addition, `0417+0285=00702`, operands zero-padded to `digits` and the
//! sum to `digits + 1`, answer in natural order (most significant digit first: the model must work
//! out every carry before writing the first digit — hard enough that the skill appears abruptly).

use super::{step_rng, Batch, STREAM_BATCH};
use crate::tokenizer::{CharTokenizer, Tokenizer};
use crate::Result;
use rand::Rng;
use std::collections::HashSet;
use tensor::Tensor;

/// The characters of the task; id `i` is `ALPHABET[i]`.
pub const ALPHABET: &str = "0123456789+=";

#[derive(Debug, Clone)]
pub struct AdditionTask {
    pub digits: usize,
    /// Problems held out for evaluation, never trained on.
    pub held_out: Vec<(u64, u64)>,
    held_out_set: HashSet<(u64, u64)>,
}

impl AdditionTask {
    /// The task with `n_held_out` evaluation problems drawn with `seed`.
    pub fn new(digits: usize, n_held_out: usize, seed: u64) -> Self {
        let mut rng = step_rng(seed, 99, 0, 0);
        let limit = 10u64.pow(digits as u32);
        let mut held_out_set = HashSet::new();
        let mut held_out = Vec::new();
        while held_out.len() < n_held_out.min((limit * limit) as usize / 2) {
            let p = (rng.random_range(0..limit), rng.random_range(0..limit));
            if held_out_set.insert(p) {
                held_out.push(p);
            }
        }
        Self { digits, held_out, held_out_set }
    }

    pub fn tokenizer() -> CharTokenizer {
        CharTokenizer::from_chars(ALPHABET.chars().collect())
    }

    /// `a+b=c` with the fixed widths.
    pub fn problem(&self, a: u64, b: u64) -> String {
        let d = self.digits;
        format!("{a:0d$}+{b:0d$}={:0w$}", a + b, w = d + 1)
    }

    /// Length of a problem in characters: `d + 1 + d + 1 + (d + 1)`.
    pub fn len(&self) -> usize {
        3 * self.digits + 3
    }

    pub fn is_empty(&self) -> bool {
        false
    }

    /// Where the answer starts (just after `=`).
    pub fn answer_start(&self) -> usize {
        2 * self.digits + 2
    }

    /// A training batch of random problems (never held-out ones): inputs are the problem without
    /// its last character, targets the next character on answer positions only (`-100` elsewhere:
    /// the loss is on the answer, the only part that can be predicted).
    pub fn batch(&self, seed: u64, step: u64, micro: u64, batch: usize) -> Result<Batch> {
        let mut rng = step_rng(seed, STREAM_BATCH, step, micro);
        let limit = 10u64.pow(self.digits as u32);
        let tok = Self::tokenizer();
        let (t, start) = (self.len() - 1, self.answer_start());
        let (mut ids, mut targets) = (Vec::with_capacity(batch * t), Vec::with_capacity(batch * t));
        for _ in 0..batch {
            let (a, b) = loop {
                let p = (rng.random_range(0..limit), rng.random_range(0..limit));
                if !self.held_out_set.contains(&p) {
                    break p;
                }
            };
            let chars: Vec<i64> = tok.encode(&self.problem(a, b))?.into_iter().map(i64::from).collect();
            ids.extend_from_slice(&chars[..t]);
            targets.extend((1..=t).map(|i| if i >= start { chars[i] } else { -100 }));
        }
        Ok(Batch { ids: Tensor::from_vec(ids, &[batch, t])?, targets: Tensor::from_vec(targets, &[batch, t])? })
    }

    /// A fixed evaluation batch of the held-out problems (same layout as [`AdditionTask::batch`]).
    pub fn held_out_batch(&self) -> Result<Batch> {
        let tok = Self::tokenizer();
        let (t, start) = (self.len() - 1, self.answer_start());
        let (mut ids, mut targets) = (Vec::new(), Vec::new());
        for &(a, b) in &self.held_out {
            let chars: Vec<i64> = tok.encode(&self.problem(a, b))?.into_iter().map(i64::from).collect();
            ids.extend_from_slice(&chars[..t]);
            targets.extend((1..=t).map(|i| if i >= start { chars[i] } else { -100 }));
        }
        let n = self.held_out.len();
        Ok(Batch { ids: Tensor::from_vec(ids, &[n, t])?, targets: Tensor::from_vec(targets, &[n, t])? })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problems_batches_and_held_out_split() {
        let task = AdditionTask::new(4, 200, 0);
        assert_eq!(task.problem(417, 285), "0417+0285=00702");
        assert_eq!(task.len(), 15);
        let b = task.batch(7, 3, 0, 32).unwrap();
        assert_eq!(b.ids.shape(), &[32, 14]);
        let (ids, targets) = (b.ids.to_vec::<i64>().unwrap(), b.targets.to_vec::<i64>().unwrap());
        // Targets are the next character on the answer (positions 9..14 predict chars 10..15).
        for row in 0..32 {
            for t in 0..14 {
                let target = targets[row * 14 + t];
                if t + 1 < 10 {
                    assert_eq!(target, -100);
                } else if t + 1 < 14 {
                    assert_eq!(target, ids[row * 14 + t + 1]);
                }
            }
        }
        // Deterministic in (seed, step, micro); different across steps.
        assert_eq!(task.batch(7, 3, 0, 32).unwrap().ids.to_vec::<i64>().unwrap(), ids);
        assert_ne!(task.batch(7, 4, 0, 32).unwrap().ids.to_vec::<i64>().unwrap(), ids);
        assert_eq!(task.held_out.len(), 200);
        assert_eq!(task.held_out_batch().unwrap().ids.shape(), &[200, 14]);
    }
}
