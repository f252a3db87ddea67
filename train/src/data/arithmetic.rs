//! The built-in tasks: n-digit arithmetic written out as characters, `0417+0285=00702`. Operands are
//! zero-padded to `digits`, the answer to its fixed width, most significant digit first (for addition
//! the model must work out every carry before writing the first digit — hard enough that the skill
//! appears abruptly).
//!
//! - [`Operation::Add`]: `a+b`, answer `digits + 1` wide.
//! - [`Operation::Mul`]: `a*b`, answer `2·digits` wide.
//! - [`Operation::ModAdd`]: `(a+b) mod p` with operands below `p`, everything as wide as `p − 1`.

use super::{step_rng, Batch, STREAM_BATCH};
use crate::error::TrainError;
use crate::tokenizer::{CharTokenizer, Tokenizer};
use crate::Result;
use rand::Rng;
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use tensor::Tensor;

/// Loss is not taken at positions with this target.
pub const NO_TARGET: i64 = -100;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Operation {
    #[default]
    Add,
    Mul,
    /// Addition modulo the given number.
    ModAdd(u64),
}

impl Operation {
    pub fn apply(self, a: u64, b: u64) -> u64 {
        match self {
            Operation::Add => a + b,
            Operation::Mul => a * b,
            Operation::ModAdd(p) => (a + b) % p,
        }
    }

    pub fn symbol(self) -> char {
        match self {
            Operation::Add | Operation::ModAdd(_) => '+',
            Operation::Mul => '*',
        }
    }

    /// Operands are drawn from `0..limit`.
    pub fn operand_limit(self, digits: usize) -> u64 {
        match self {
            Operation::ModAdd(p) => p,
            _ => 10u64.pow(digits as u32),
        }
    }

    /// Characters of the answer.
    pub fn answer_width(self, digits: usize) -> usize {
        match self {
            Operation::Add => digits + 1,
            Operation::Mul => 2 * digits,
            Operation::ModAdd(_) => digits,
        }
    }
}

/// Digits needed to write every number below `limit`.
fn width_below(limit: u64) -> usize {
    (limit.saturating_sub(1)).max(1).ilog10() as usize + 1
}

/// A task named as on the command line: `add3` (3-digit addition), `mul2` (2-digit multiplication),
/// `mod97` (addition modulo 97). Returns the operation and the operand width in digits.
pub fn parse_task(name: &str) -> Result<(Operation, usize)> {
    let bad = || {
        TrainError::Invalid(format!(
            "unknown task {name:?}: expected addN, mulN (N = digits, 1..=9 / 1..=4) or modP (P = modulus, 2..=10000)"
        ))
    };
    let number = |prefix: &str| name.strip_prefix(prefix).and_then(|n| n.parse::<u64>().ok());
    if let Some(d) = number("add").filter(|d| (1..=9).contains(d)) {
        Ok((Operation::Add, d as usize))
    } else if let Some(d) = number("mul").filter(|d| (1..=4).contains(d)) {
        Ok((Operation::Mul, d as usize))
    } else if let Some(p) = number("mod").filter(|p| (2..=10_000).contains(p)) {
        Ok((Operation::ModAdd(p), width_below(p)))
    } else {
        Err(bad())
    }
}

/// The task in words: "4-digit addition", "2-digit multiplication", "addition modulo 97".
pub fn describe_task(op: Operation, digits: usize) -> String {
    match op {
        Operation::Add => format!("{digits}-digit addition"),
        Operation::Mul => format!("{digits}-digit multiplication"),
        Operation::ModAdd(p) => format!("addition modulo {p}"),
    }
}

/// The name [`parse_task`] reads back.
pub fn task_name(op: Operation, digits: usize) -> String {
    match op {
        Operation::Add => format!("add{digits}"),
        Operation::Mul => format!("mul{digits}"),
        Operation::ModAdd(p) => format!("mod{p}"),
    }
}

#[derive(Debug, Clone)]
pub struct ArithmeticTask {
    pub op: Operation,
    pub digits: usize,
    /// Problems held out for evaluation, never trained on.
    pub held_out: Vec<(u64, u64)>,
    held_out_set: HashSet<(u64, u64)>,
}

impl ArithmeticTask {
    /// The task with `n_held_out` evaluation problems drawn with `seed` (at most half of all problems).
    pub fn new(op: Operation, digits: usize, n_held_out: usize, seed: u64) -> Result<Self> {
        let limit = op.operand_limit(digits);
        if let Operation::ModAdd(p) = op {
            if digits != width_below(p) {
                return Err(TrainError::Invalid(format!("addition modulo {p} needs {} digits", width_below(p))));
            }
        }
        let mut rng = step_rng(seed, 99, 0, 0);
        let mut held_out_set = HashSet::new();
        let mut held_out = Vec::new();
        while held_out.len() < n_held_out.min((limit * limit) as usize / 2) {
            let p = (rng.random_range(0..limit), rng.random_range(0..limit));
            if held_out_set.insert(p) {
                held_out.push(p);
            }
        }
        Ok(Self { op, digits, held_out, held_out_set })
    }

    /// Ten digits, the operation's symbol, `=`.
    pub fn tokenizer(op: Operation) -> CharTokenizer {
        CharTokenizer::from_chars("0123456789".chars().chain([op.symbol(), '=']).collect())
    }

    /// `a∘b=c` with the fixed widths.
    pub fn problem(&self, a: u64, b: u64) -> String {
        let d = self.digits;
        format!("{a:0d$}{}{b:0d$}={}", self.op.symbol(), self.answer(a, b))
    }

    /// The answer written out at its fixed width.
    pub fn answer(&self, a: u64, b: u64) -> String {
        format!("{:0w$}", self.op.apply(a, b), w = self.answer_width())
    }

    pub fn answer_width(&self) -> usize {
        self.op.answer_width(self.digits)
    }

    /// Length of a problem in characters: `d + 1 + d + 1 + answer`.
    pub fn len(&self) -> usize {
        2 * self.digits + 2 + self.answer_width()
    }

    pub fn is_empty(&self) -> bool {
        false
    }

    /// Where the answer starts (just after `=`).
    pub fn answer_start(&self) -> usize {
        2 * self.digits + 2
    }

    /// A training batch of random problems (never held-out ones): inputs are the problem without
    /// its last character, targets the next character on answer positions only ([`NO_TARGET`]
    /// elsewhere: the loss is on the answer, the only part that can be predicted).
    pub fn batch(&self, seed: u64, step: u64, micro: u64, batch: usize) -> Result<Batch> {
        let mut rng = step_rng(seed, STREAM_BATCH, step, micro);
        let limit = self.op.operand_limit(self.digits);
        let problems: Vec<(u64, u64)> = (0..batch)
            .map(|_| loop {
                let p = (rng.random_range(0..limit), rng.random_range(0..limit));
                if !self.held_out_set.contains(&p) {
                    break p;
                }
            })
            .collect();
        self.batch_of(&problems)
    }

    /// A fixed evaluation batch of the held-out problems (same layout as [`ArithmeticTask::batch`]).
    pub fn held_out_batch(&self) -> Result<Batch> {
        self.batch_of(&self.held_out)
    }

    fn batch_of(&self, problems: &[(u64, u64)]) -> Result<Batch> {
        let tok = Self::tokenizer(self.op);
        let (t, start) = (self.len() - 1, self.answer_start());
        let (mut ids, mut targets) = (Vec::with_capacity(problems.len() * t), Vec::with_capacity(problems.len() * t));
        for &(a, b) in problems {
            let chars: Vec<i64> = tok.encode(&self.problem(a, b))?.into_iter().map(i64::from).collect();
            ids.extend_from_slice(&chars[..t]);
            targets.extend((1..=t).map(|i| if i >= start { chars[i] } else { NO_TARGET }));
        }
        let n = problems.len();
        Ok(Batch { ids: Tensor::from_vec(ids, &[n, t])?, targets: Tensor::from_vec(targets, &[n, t])? })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problems_batches_and_held_out_split() {
        let task = ArithmeticTask::new(Operation::Add, 4, 200, 0).unwrap();
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
                    assert_eq!(target, NO_TARGET);
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

    #[test]
    fn multiplication_and_modular_addition() {
        let mul = ArithmeticTask::new(Operation::Mul, 2, 10, 0).unwrap();
        assert_eq!(mul.problem(47, 86), "47*86=4042");
        assert_eq!(mul.problem(3, 5), "03*05=0015");
        let modular = ArithmeticTask::new(Operation::ModAdd(97), 2, 10, 0).unwrap();
        assert_eq!(modular.problem(90, 15), "90+15=08");
        assert!(modular.held_out.iter().all(|&(a, b)| a < 97 && b < 97));
        assert!(ArithmeticTask::new(Operation::ModAdd(97), 3, 10, 0).is_err());
    }

    #[test]
    fn task_names_round_trip() {
        for name in ["add1", "add4", "mul2", "mod7", "mod97", "mod113", "mod10"] {
            let (op, digits) = parse_task(name).unwrap();
            assert_eq!(task_name(op, digits), name);
        }
        assert_eq!(describe_task(Operation::Add, 4), "4-digit addition");
        assert_eq!(describe_task(Operation::ModAdd(97), 2), "addition modulo 97");
        assert_eq!(parse_task("mod97").unwrap(), (Operation::ModAdd(97), 2));
        assert_eq!(parse_task("mod10").unwrap(), (Operation::ModAdd(10), 1));
        assert_eq!(parse_task("mod113").unwrap(), (Operation::ModAdd(113), 3));
        for bad in ["add0", "add10", "mul5", "mod1", "sub3", "add", ""] {
            assert!(parse_task(bad).is_err(), "{bad}");
        }
    }
}
