//! The two pieces of GPT-2's byte-level BPE that come before merging: the reversible byte → printable
//! character map, and the pre-tokenisation pattern that cuts text into words.

use regex::Regex;
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
/// most one leading space), and whitespace runs (the last space of a run goes with the next word):
/// `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`.
#[cfg(test)]
const PATTERN: &str = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";

/// [`PATTERN`] without its look-ahead: the two whitespace alternatives become one `\s+`, and
/// [`pretokenize`] gives the look-ahead's effect back. So the match runs on a finite automaton, in
/// time linear in the text, where a backtracking engine gives up on a long run of one character.
const LINEAR_PATTERN: &str = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+";

/// Cuts `text` into GPT-2's pre-tokens (words); merges never cross their boundaries.
///
/// `\s+(?!\S)` takes a whitespace run but leaves its last character to the word after it. The
/// linear pattern's `\s+` takes the whole run; when a non-space follows a run of two or more
/// characters, the run is cut before its last character and the search goes on from there, where
/// that character starts the next match (` ?\p{L}+` takes a space with its word; any other
/// whitespace character matches `\s+` alone).
pub fn pretokenize(text: &str) -> Vec<&str> {
    static RE: OnceLock<Regex> = OnceLock::new();
    let re = RE.get_or_init(|| Regex::new(LINEAR_PATTERN).expect("the GPT-2 pattern compiles"));
    let mut words = Vec::new();
    let mut at = 0;
    while let Some(m) = re.find_at(text, at) {
        let word = m.as_str();
        let mut end = m.end();
        if end < text.len() && word.chars().all(char::is_whitespace) {
            let last = word.chars().next_back().map_or(0, char::len_utf8);
            if last < word.len() {
                end -= last;
            }
        }
        words.push(&text[m.start()..end]);
        at = end;
    }
    words
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
        assert_eq!(pretokenize("a \n\nb  "), vec!["a", " \n", "\n", "b", "  "]);
    }

    /// The pattern with its look-ahead, run by a backtracking engine: the definition.
    fn reference(text: &str) -> Vec<&str> {
        static RE: OnceLock<fancy_regex::Regex> = OnceLock::new();
        let re = RE.get_or_init(|| fancy_regex::Regex::new(PATTERN).unwrap());
        re.find_iter(text).map(|m| m.unwrap().as_str()).collect()
    }

    #[test]
    fn pretokenization_equals_the_look_ahead_pattern_on_random_text() {
        // Texts drawn from characters that exercise every alternative: spaces and other
        // whitespace (tab, newline, U+3000), letters (ASCII, accented, CJK), digits (ASCII and
        // Arabic-Indic), apostrophes with the contraction letters, symbols and an emoji.
        let alphabet: Vec<char> = " \t\n\u{3000}aZé中1٣'srtvmldé!?-😀".chars().collect();
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..20_000 {
            let len = (next() % 24) as usize;
            let text: String = (0..len).map(|_| alphabet[(next() % alphabet.len() as u64) as usize]).collect();
            assert_eq!(pretokenize(&text), reference(&text), "text {text:?}");
        }
    }

    #[test]
    fn a_million_character_word_is_cut_in_linear_time() {
        // The backtracking engine gave up on these runs (its backtrack limit) and the search never
        // advanced: the tokenizer hung.
        for c in ['a', ' ', '7', '!'] {
            let text: String = std::iter::repeat_n(c, 1_200_000).collect();
            let words = pretokenize(&text);
            assert_eq!(words.concat(), text);
            assert!(words.len() <= 2, "{c:?}: {} words", words.len());
        }
    }
}
