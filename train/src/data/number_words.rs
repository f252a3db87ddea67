//! The built-in translation task: numbers from digits into English words, e.g.
//! `3 4 2 5 0 7` → `three hundred forty two thousand five hundred seven`. The output is longer
//! than the input and its words depend on digit positions (which digit is a hundred, which a
//! thousand), so the decoder must attend to the right source tokens — a small Transformer learns
//! it in minutes. Held-out numbers (3 to 6 digits) never appear in training batches.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::HashSet;

const ONES: [&str; 20] = [
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
];
const TENS: [&str; 10] = ["", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"];
/// Largest number of the task (six digits).
pub const MAX_NUMBER: u64 = 999_999;
/// The special tokens, ids 0–2 of the vocabulary.
pub const SPECIALS: [&str; 3] = ["<pad>", "<bos>", "<eos>"];

/// The words of `n < 1000`, none for 0.
fn below_thousand(n: u64, words: &mut Vec<&'static str>) {
    if n >= 100 {
        words.extend([ONES[(n / 100) as usize], "hundred"]);
    }
    match n % 100 {
        0 => {}
        r @ 1..20 => words.push(ONES[r as usize]),
        r => {
            words.push(TENS[(r / 10) as usize]);
            if r % 10 != 0 {
                words.push(ONES[(r % 10) as usize]);
            }
        }
    }
}

/// `n` in English words (American style, no "and"; compound tens as two words: "forty two").
pub fn number_words(n: u64) -> Vec<&'static str> {
    assert!(n <= MAX_NUMBER, "number_words: {n} is beyond {MAX_NUMBER}");
    if n == 0 {
        return vec!["zero"];
    }
    let mut words = Vec::new();
    if n >= 1000 {
        below_thousand(n / 1000, &mut words);
        words.push("thousand");
    }
    below_thousand(n % 1000, &mut words);
    words
}

/// `n`'s digits as tokens.
pub fn digit_tokens(n: u64) -> Vec<String> {
    n.to_string().chars().map(String::from).collect()
}

/// Every token of the task: the specials, the ten digits, then the words.
pub fn vocabulary() -> Vec<String> {
    let words = ONES.iter().chain(TENS.iter().skip(2)).chain(&["hundred", "thousand"]);
    SPECIALS
        .iter()
        .map(|s| s.to_string())
        .chain((0..10).map(|d| d.to_string()))
        .chain(words.map(|w| w.to_string()))
        .collect()
}

/// A number whose digit count is uniform in `digits`, so short numbers are common too.
fn draw(rng: &mut StdRng, digits: std::ops::RangeInclusive<u32>) -> u64 {
    let digits = rng.random_range(digits);
    let low = if digits == 1 { 0 } else { 10u64.pow(digits - 1) };
    rng.random_range(low..10u64.pow(digits))
}

/// The task: held-out numbers and the seeded stream of training numbers that avoids them.
pub struct NumberWordsTask {
    pub held_out: Vec<u64>,
    excluded: HashSet<u64>,
    seed: u64,
}

impl NumberWordsTask {
    pub fn new(held_out: usize, seed: u64) -> Self {
        let mut rng = StdRng::seed_from_u64(seed ^ 0x5EED);
        let mut excluded = HashSet::new();
        let mut list = Vec::with_capacity(held_out);
        // Held-out numbers have 3 to 6 digits: the 100 numbers below 100 are all needed in training.
        while list.len() < held_out.min(MAX_NUMBER as usize / 2) {
            let n = draw(&mut rng, 3..=6);
            if excluded.insert(n) {
                list.push(n);
            }
        }
        Self { held_out: list, excluded, seed }
    }

    /// The `batch` training numbers of `step` (a pure function of seed and step).
    pub fn train_numbers(&self, step: u64, batch: usize) -> Vec<u64> {
        let mut rng = crate::data::step_rng(self.seed, crate::data::STREAM_BATCH, step, 0);
        let mut out = Vec::with_capacity(batch);
        while out.len() < batch {
            let n = draw(&mut rng, 1..=6);
            if !self.excluded.contains(&n) {
                out.push(n);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_by_hand() {
        let w = |n| number_words(n).join(" ");
        assert_eq!(w(0), "zero");
        assert_eq!(w(7), "seven");
        assert_eq!(w(13), "thirteen");
        assert_eq!(w(40), "forty");
        assert_eq!(w(42), "forty two");
        assert_eq!(w(100), "one hundred");
        assert_eq!(w(110), "one hundred ten");
        assert_eq!(w(1000), "one thousand");
        assert_eq!(w(1001), "one thousand one");
        assert_eq!(w(12_345), "twelve thousand three hundred forty five");
        assert_eq!(w(100_000), "one hundred thousand");
        assert_eq!(w(342_507), "three hundred forty two thousand five hundred seven");
        assert_eq!(w(999_999), "nine hundred ninety nine thousand nine hundred ninety nine");
        assert_eq!(digit_tokens(407), ["4", "0", "7"]);
    }

    #[test]
    fn held_out_numbers_never_train_and_every_word_is_in_the_vocabulary() {
        let task = NumberWordsTask::new(300, 5);
        let held: HashSet<u64> = task.held_out.iter().copied().collect();
        assert_eq!(held.len(), 300);
        assert!(task.held_out.iter().all(|&n| n >= 100));
        for step in 0..50 {
            assert!(task.train_numbers(step, 64).iter().all(|n| !held.contains(n)));
        }
        assert_eq!(task.train_numbers(3, 8), task.train_numbers(3, 8));
        let vocab = vocabulary();
        assert_eq!(vocab.len(), 3 + 10 + 20 + 8 + 2);
        for n in (0..=MAX_NUMBER).step_by(997) {
            assert!(number_words(n).iter().all(|w| vocab.iter().any(|v| v == w)));
        }
    }
}
