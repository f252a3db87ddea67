//! GPT-2's byte-level BPE tokenizer (F16), loaded from `vocab.json` + `merges.txt`.
//!
//! Encoding: split off special tokens (`<|endoftext|>`), cut the rest into words with GPT-2's
//! pattern, write each word's UTF-8 bytes as printable characters, then merge adjacent symbols
//! pair by pair, always the pair with the lowest merge rank first, until no known pair is left.

use super::byte_level::{byte_decoder, bytes_to_unicode, pretokenize};
use super::merges::merge_pair;
use super::Tokenizer;
use crate::error::{Result, TrainError};
use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;

pub const ENDOFTEXT: &str = "<|endoftext|>";

pub struct Gpt2Tokenizer {
    encoder: HashMap<String, u32>,
    decoder: HashMap<u32, String>,
    /// `(left id, right id) → (rank, merged id)`: merging works on ids, not strings.
    merges: HashMap<(u32, u32), (usize, u32)>,
    /// The base token id of each byte.
    byte_ids: [u32; 256],
    byte_decoder: HashMap<char, u8>,
    /// Special tokens present in the vocabulary, matched before pre-tokenisation.
    special: Vec<(String, u32)>,
    /// Words seen before and their ids (text repeats words a lot).
    cache: Mutex<HashMap<String, Vec<u32>>>,
}

impl Gpt2Tokenizer {
    /// Loads `dir/vocab.json` and `dir/merges.txt`.
    pub fn load(dir: &Path) -> Result<Self> {
        let vocab_path = dir.join("vocab.json");
        let merges_path = dir.join("merges.txt");
        let text = std::fs::read_to_string(&vocab_path).map_err(|e| TrainError::io(&vocab_path, e))?;
        let encoder: HashMap<String, u32> = serde_json::from_str(&text)
            .map_err(|e| TrainError::format(&vocab_path, format!("not a token → id JSON object: {e}")))?;
        let text = std::fs::read_to_string(&merges_path).map_err(|e| TrainError::io(&merges_path, e))?;
        let mut merges = Vec::new();
        for (n, line) in text.lines().enumerate() {
            if line.starts_with("#version") || line.trim().is_empty() {
                continue;
            }
            let mut parts = line.split(' ');
            match (parts.next(), parts.next(), parts.next()) {
                (Some(a), Some(b), None) => merges.push((a.to_string(), b.to_string())),
                _ => {
                    return Err(TrainError::format(
                        &merges_path,
                        format!("line {}: expected two tokens separated by one space, got {line:?}", n + 1),
                    ))
                }
            }
        }
        Self::from_parts(encoder, &merges).map_err(|e| match e {
            TrainError::Invalid(msg) => TrainError::format(dir, msg),
            other => other,
        })
    }

    /// Builds the tokenizer from a vocabulary and merges in rank order.
    pub fn from_parts(encoder: HashMap<String, u32>, merges: &[(String, String)]) -> Result<Self> {
        let id = |tok: &str, what: &str| {
            encoder.get(tok).copied().ok_or_else(|| TrainError::Invalid(format!("{what} {tok:?} is not in vocab.json")))
        };
        let mut byte_ids = [0u32; 256];
        for (b, c) in bytes_to_unicode() {
            byte_ids[b as usize] = id(&c.to_string(), "byte token")?;
        }
        let mut merge_map = HashMap::with_capacity(merges.len());
        for (rank, (a, b)) in merges.iter().enumerate() {
            let merged = id(&format!("{a}{b}"), &format!("merge {} result", rank + 1))?;
            merge_map.entry((id(a, "merge token")?, id(b, "merge token")?)).or_insert((rank, merged));
        }
        let decoder = encoder.iter().map(|(t, &i)| (i, t.clone())).collect();
        let special = encoder.get(ENDOFTEXT).map(|&i| vec![(ENDOFTEXT.to_string(), i)]).unwrap_or_default();
        Ok(Self {
            encoder,
            decoder,
            merges: merge_map,
            byte_ids,
            byte_decoder: byte_decoder(),
            special,
            cache: Mutex::new(HashMap::new()),
        })
    }

    /// The id of a token string, if it is in the vocabulary.
    pub fn token_id(&self, token: &str) -> Option<u32> {
        self.encoder.get(token).copied()
    }

    /// BPE of one pre-token: start from its bytes' base tokens and apply merges by rank.
    fn bpe(&self, word: &str) -> Vec<u32> {
        if let Some(ids) = self.cache.lock().unwrap_or_else(|e| e.into_inner()).get(word) {
            return ids.clone();
        }
        let mut ids: Vec<u32> = word.bytes().map(|b| self.byte_ids[b as usize]).collect();
        loop {
            // The adjacent pair with the lowest merge rank.
            let best = ids
                .windows(2)
                .filter_map(|w| self.merges.get(&(w[0], w[1])).map(|&(rank, merged)| (rank, (w[0], w[1]), merged)))
                .min();
            let Some((_, pair, merged)) = best else { break };
            merge_pair(&mut ids, pair, merged);
        }
        self.cache.lock().unwrap_or_else(|e| e.into_inner()).insert(word.to_string(), ids.clone());
        ids
    }

    /// Splits `text` at special tokens: `(segment, None)` for ordinary text, `(_, Some(id))` for a special.
    fn split_special<'a>(&self, text: &'a str) -> Vec<(&'a str, Option<u32>)> {
        let mut out = Vec::new();
        let mut rest = text;
        while !rest.is_empty() {
            let next =
                self.special.iter().filter_map(|(s, id)| rest.find(s.as_str()).map(|at| (at, s.len(), *id))).min();
            match next {
                Some((at, len, id)) => {
                    out.push((&rest[..at], None));
                    out.push((&rest[at..at + len], Some(id)));
                    rest = &rest[at + len..];
                }
                None => {
                    out.push((rest, None));
                    break;
                }
            }
        }
        out
    }
}

impl Gpt2Tokenizer {
    /// The ids of `text` read as plain text: `<|endoftext|>` written in it is BPE'd like any other
    /// characters, never the special token (tiktoken's `encode_ordinary`, what llm.c's data scripts
    /// and HF's tokenizers without added tokens do to a document).
    pub fn encode_ordinary(&self, text: &str) -> Vec<u32> {
        pretokenize(text).into_iter().flat_map(|word| self.bpe(word)).collect()
    }
}

impl Tokenizer for Gpt2Tokenizer {
    fn encode(&self, text: &str) -> Result<Vec<u32>> {
        let mut ids = Vec::new();
        for (segment, special) in self.split_special(text) {
            match special {
                Some(id) => ids.push(id),
                None => pretokenize(segment).into_iter().for_each(|word| ids.extend(self.bpe(word))),
            }
        }
        Ok(ids)
    }

    /// The text of `ids`. Token strings map back to bytes; bytes that are not valid UTF-8 (a
    /// multi-byte character cut between tokens) become U+FFFD, as in the reference decoder.
    fn decode(&self, ids: &[u32]) -> Result<String> {
        let mut bytes = Vec::new();
        for &id in ids {
            let token = self.decoder.get(&id).ok_or_else(|| {
                TrainError::Invalid(format!("id {id} is not in the vocabulary of {}", self.decoder.len()))
            })?;
            if self.special.iter().any(|(_, s)| *s == id) {
                bytes.extend_from_slice(token.as_bytes());
                continue;
            }
            for c in token.chars() {
                bytes.push(*self.byte_decoder.get(&c).ok_or_else(|| {
                    TrainError::Invalid(format!("token {token:?} (id {id}) has a character outside the byte alphabet"))
                })?);
            }
        }
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }

    fn vocab_size(&self) -> usize {
        self.encoder.len()
    }

    fn end_of_text(&self) -> Option<u32> {
        self.token_id(ENDOFTEXT)
    }
}
