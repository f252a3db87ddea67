//! The two pieces of GPT-2's byte-level BPE that come before merging: the reversible byte → printable
//! character map, and the pre-tokenisation pattern that cuts text into words.

use fancy_regex::Regex;
use std::collections::HashMap;
use std::sync::OnceLock;

/// GPT-2's byte → character map. Bytes that are printable Latin-1 (`!`..`~`, `¡`..`¬`, `®`..`ÿ`)
/// map to themselves; the other 68 (controls, space, …) map to `U+0100` onwards in byte order. Every
/// byte gets a visible character, so BPE works on strings and any byte sequence survives.
/// Returned in GPT-2's order (printable bytes first): position `i` is the base token with id `i`.
pub fn bytes_to_unicode() -> Vec<(u8, char)> {
    let printable = |b: u8| (b'!'..=b'~').contains(&b) || (0xA1..=0xAC).contains(&b) || (0xAE..=0xFF).contains(&b);
    let mut pairs: Vec<(u8, char)> = (0..=255u8).filter(|&b| printable(b)).map(|b| (b, b as char)).collect();
    for (code, b) in (256u32..).zip((0..=255u8).filter(|&b| !printable(b))) {
        pairs.push((b, char::from_u32(code).expect("U+0100..U+0143 are valid")));
    }
    pairs
}

/// The inverse map, character → byte.
pub fn byte_decoder() -> HashMap<char, u8> {
    bytes_to_unicode().into_iter().map(|(b, c)| (c, b)).collect()
}

/// GPT-2's pattern: contractions, letter runs, digit runs and runs of other symbols (each with at
/// most one leading space), and whitespace runs (the last space of a run goes with the next word).
const PATTERN: &str = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";

/// Cuts `text` into GPT-2's pre-tokens (words); merges never cross their boundaries.
pub fn pretokenize(text: &str) -> Vec<&str> {
    static RE: OnceLock<Regex> = OnceLock::new();
    let re = RE.get_or_init(|| Regex::new(PATTERN).expect("the GPT-2 pattern compiles"));
    // The pattern has no catastrophic backtracking; a match error can only be the backtrack limit,
    // which its bounded look-ahead never reaches.
    re.find_iter(text).filter_map(|m| m.ok()).map(|m| m.as_str()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_map_is_a_bijection_with_gpt2s_order() {
        let map = bytes_to_unicode();
        assert_eq!(map.len(), 256);
        assert_eq!(map[0], (b'!', '!'));
        assert_eq!(map.iter().find(|(b, _)| *b == b' ').unwrap().1, 'Ġ'); // the famous Ġ = space
        assert_eq!(map.iter().find(|(b, _)| *b == b'\n').unwrap().1, 'Ċ');
        assert_eq!(byte_decoder().len(), 256);
    }

    #[test]
    fn pretokenization_splits_like_gpt2() {
        assert_eq!(
            pretokenize("Hello world's 42 apples!!  ok\n"),
            vec!["Hello", " world", "'s", " 42", " apples", "!!", " ", " ok", "\n"]
        );
        assert_eq!(pretokenize("I'll   go"), vec!["I", "'ll", "  ", " go"]);
    }
}
