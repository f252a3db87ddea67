//! BERT's WordPiece tokenizer (F16), ids identical to HF's `BertTokenizer` with a given `vocab.txt`.
//!
//! 1. Clean: drop NUL, U+FFFD and control characters; every whitespace character becomes a space.
//! 2. Put spaces around CJK ideographs (each becomes a word).
//! 3. Lower-case and strip accents (NFD, then drop non-spacing marks), when `lowercase` is on.
//! 4. Split on whitespace, then split every punctuation character off as its own word.
//! 5. WordPiece: greedy longest-match-first over the vocabulary, pieces after the first written
//!    `##…`; a word with no full cover (or over 100 characters) is `[UNK]`.

use super::Tokenizer;
use crate::error::{Result, TrainError};
use std::collections::HashMap;
use std::path::Path;
use unicode_normalization::UnicodeNormalization;
use unicode_properties::{GeneralCategory, GeneralCategoryGroup, UnicodeGeneralCategory};

/// Words longer than this (in characters) are `[UNK]` without trying.
const MAX_WORD_CHARS: usize = 100;

#[derive(Debug, Clone)]
pub struct WordPieceTokenizer {
    ids: HashMap<String, u32>,
    tokens: Vec<String>,
    pub lowercase: bool,
    pub unk: u32,
    pub cls: u32,
    pub sep: u32,
    pub pad: u32,
    pub mask: u32,
}

fn is_whitespace(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r') || c.general_category() == GeneralCategory::SpaceSeparator
}

fn is_control(c: char) -> bool {
    !matches!(c, '\t' | '\n' | '\r') && c.general_category_group() == GeneralCategoryGroup::Other
}

/// ASCII symbols count as punctuation (as in BERT), and every Unicode `P*` character.
fn is_punctuation(c: char) -> bool {
    c.is_ascii_punctuation() || c.general_category_group() == GeneralCategoryGroup::Punctuation
}

/// CJK Unified Ideographs and their extensions and compatibility blocks (not kana or hangul).
fn is_cjk(c: char) -> bool {
    matches!(c as u32,
        0x4E00..=0x9FFF | 0x3400..=0x4DBF | 0x20000..=0x2A6DF | 0x2A700..=0x2B73F
        | 0x2B740..=0x2B81F | 0x2B820..=0x2CEAF | 0xF900..=0xFAFF | 0x2F800..=0x2FA1F)
}

impl WordPieceTokenizer {
    /// Reads a `vocab.txt` (one token per line, id = line number), which must hold `[UNK]`,
    /// `[CLS]`, `[SEP]`, `[PAD]` and `[MASK]`.
    pub fn load(vocab_txt: &Path, lowercase: bool) -> Result<Self> {
        let text = std::fs::read_to_string(vocab_txt).map_err(|e| TrainError::io(vocab_txt, e))?;
        Self::from_tokens(text.lines().map(String::from).collect(), lowercase)
            .map_err(|e| TrainError::format(vocab_txt, e.to_string()))
    }

    pub fn from_tokens(tokens: Vec<String>, lowercase: bool) -> Result<Self> {
        let ids: HashMap<String, u32> = tokens.iter().enumerate().map(|(i, t)| (t.clone(), i as u32)).collect();
        let special = |name: &str| {
            ids.get(name).copied().ok_or_else(|| TrainError::Invalid(format!("the vocabulary has no {name} token")))
        };
        Ok(Self {
            unk: special("[UNK]")?,
            cls: special("[CLS]")?,
            sep: special("[SEP]")?,
            pad: special("[PAD]")?,
            mask: special("[MASK]")?,
            ids,
            tokens,
            lowercase,
        })
    }

    /// Steps 1–4: the words and punctuation marks of `text`.
    pub fn basic_tokenize(&self, text: &str) -> Vec<String> {
        let mut spaced = String::with_capacity(text.len());
        for c in text.chars() {
            if c == '\0' || c == '\u{fffd}' || is_control(c) {
                continue;
            }
            if is_whitespace(c) {
                spaced.push(' ');
            } else if is_cjk(c) {
                spaced.extend([' ', c, ' ']);
            } else {
                spaced.push(c);
            }
        }
        let mut words = Vec::new();
        for word in spaced.split(' ').filter(|w| !w.is_empty()) {
            let word: String = if self.lowercase {
                word.to_lowercase().nfd().filter(|c| c.general_category() != GeneralCategory::NonspacingMark).collect()
            } else {
                word.to_string()
            };
            let mut current = String::new();
            for c in word.chars() {
                if is_punctuation(c) {
                    if !current.is_empty() {
                        words.push(std::mem::take(&mut current));
                    }
                    words.push(c.to_string());
                } else {
                    current.push(c);
                }
            }
            if !current.is_empty() {
                words.push(current);
            }
        }
        words
    }

    /// Step 5 for one word: the longest vocabulary piece at each position, or `[UNK]`.
    pub fn word_pieces(&self, word: &str) -> Vec<u32> {
        let chars: Vec<char> = word.chars().collect();
        if chars.len() > MAX_WORD_CHARS {
            return vec![self.unk];
        }
        let mut pieces = Vec::new();
        let mut start = 0;
        while start < chars.len() {
            let found = (start + 1..=chars.len()).rev().find_map(|end| {
                let piece: String = chars[start..end].iter().collect();
                let key = if start > 0 { format!("##{piece}") } else { piece };
                self.ids.get(&key).map(|&id| (id, end))
            });
            match found {
                Some((id, end)) => {
                    pieces.push(id);
                    start = end;
                }
                None => return vec![self.unk],
            }
        }
        pieces
    }

    /// `[CLS] a [SEP]`, or with `b`: `[CLS] a [SEP] b [SEP]`, and the token type ids (0 for the
    /// first segment with its specials, 1 for the second).
    pub fn encode_for_bert(&self, a: &str, b: Option<&str>) -> Result<(Vec<u32>, Vec<u32>)> {
        let mut ids = vec![self.cls];
        ids.extend(self.encode(a)?);
        ids.push(self.sep);
        let mut types = vec![0; ids.len()];
        if let Some(b) = b {
            let second: Vec<u32> = self.encode(b)?.into_iter().chain([self.sep]).collect();
            types.extend(std::iter::repeat_n(1, second.len()));
            ids.extend(second);
        }
        Ok((ids, types))
    }

    pub fn token(&self, id: u32) -> Option<&str> {
        self.tokens.get(id as usize).map(String::as_str)
    }
}

impl Tokenizer for WordPieceTokenizer {
    /// Word-piece ids of `text`, without `[CLS]`/`[SEP]`.
    fn encode(&self, text: &str) -> Result<Vec<u32>> {
        Ok(self.basic_tokenize(text).iter().flat_map(|w| self.word_pieces(w)).collect())
    }

    /// The pieces joined back into words (`##` pieces glued to the one before).
    fn decode(&self, ids: &[u32]) -> Result<String> {
        let mut text = String::new();
        for &id in ids {
            let token = self.token(id).ok_or_else(|| {
                TrainError::Invalid(format!("id {id} is outside the vocabulary of {}", self.tokens.len()))
            })?;
            match token.strip_prefix("##") {
                Some(rest) => text.push_str(rest),
                None => {
                    if !text.is_empty() {
                        text.push(' ');
                    }
                    text.push_str(token);
                }
            }
        }
        Ok(text)
    }

    fn vocab_size(&self) -> usize {
        self.tokens.len()
    }
}
