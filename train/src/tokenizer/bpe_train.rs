//! Learning a byte-level BPE vocabulary (Sennrich et al. 2016, as GPT-2 applies it to bytes).

use super::byte_level::{bytes_to_unicode, pretokenize};
use super::gpt2::{Gpt2Tokenizer, ENDOFTEXT};
use super::merges::{merge_pair, most_frequent_pair};
use crate::error::{Result, TrainError};
use std::collections::HashMap;
use std::path::Path;

/// Learns up to `n_merges` merges from `text`, writes `vocab.json` and `merges.txt` (GPT-2's
/// format) into `dir`, and returns the tokenizer.
///
/// Start from the 256 byte tokens; count every adjacent pair of symbols inside the words of the
/// corpus (words weighted by frequency); merge the most frequent pair (ties: the pair of lowest
/// ids) into a new token; repeat. Stops early when no pair occurs twice. `<|endoftext|>` is added
/// as the last id.
pub fn train_bpe(text: &str, n_merges: usize, dir: &Path) -> Result<Gpt2Tokenizer> {
    let mut tokens: Vec<String> = bytes_to_unicode().into_iter().map(|(_, c)| c.to_string()).collect();
    let byte_id: HashMap<u8, u32> =
        bytes_to_unicode().into_iter().enumerate().map(|(i, (b, _))| (b, i as u32)).collect();
    let mut word_counts: HashMap<&str, usize> = HashMap::new();
    for word in pretokenize(text) {
        *word_counts.entry(word).or_default() += 1;
    }
    let mut words: Vec<(Vec<u32>, usize)> =
        word_counts.into_iter().map(|(w, n)| (w.bytes().map(|b| byte_id[&b]).collect(), n)).collect();
    words.sort(); // deterministic order, whatever the hash map did

    let mut merges: Vec<(String, String)> = Vec::with_capacity(n_merges);
    for _ in 0..n_merges {
        let Some(pair) = most_frequent_pair(&words) else { break };
        let new_id = tokens.len() as u32;
        tokens.push(format!("{}{}", tokens[pair.0 as usize], tokens[pair.1 as usize]));
        merges.push((tokens[pair.0 as usize].clone(), tokens[pair.1 as usize].clone()));
        for (symbols, _) in &mut words {
            merge_pair(symbols, pair, new_id);
        }
    }
    tokens.push(ENDOFTEXT.to_string());
    write_vocab(dir, &tokens, &merges)?;
    let encoder = tokens.iter().enumerate().map(|(i, t)| (t.clone(), i as u32)).collect();
    Gpt2Tokenizer::from_parts(encoder, &merges)
}

/// Writes `vocab.json` (tokens in id order) and `merges.txt`, each atomically.
fn write_vocab(dir: &Path, tokens: &[String], merges: &[(String, String)]) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| TrainError::io(dir, e))?;
    let entries: Vec<String> =
        tokens.iter().enumerate().map(|(i, t)| format!("{}: {i}", serde_json::Value::String(t.clone()))).collect();
    let vocab = format!("{{{}}}", entries.join(", "));
    let mut merges_txt = String::from("#version: 0.2\n");
    for (a, b) in merges {
        merges_txt.push_str(&format!("{a} {b}\n"));
    }
    model::checkpoint::write_atomically(&dir.join("vocab.json"), vocab.as_bytes())?;
    model::checkpoint::write_atomically(&dir.join("merges.txt"), merges_txt.as_bytes())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tokenizer::Tokenizer;

    #[test]
    fn learns_frequent_pairs_and_round_trips() {
        let corpus = "low low low low lower lower newest newest newest widest widest\n".repeat(3);
        let dir = tempfile::tempdir().unwrap();
        let tok = train_bpe(&corpus, 12, dir.path()).unwrap();
        let merges = std::fs::read_to_string(dir.path().join("merges.txt")).unwrap();
        let first: Vec<&str> = merges.lines().skip(1).take(2).collect();
        // " l"+"o" style pairs: 'Ġ' 'l' and 'l' 'o' both occur 18 times; lowest ids win the tie.
        assert_eq!(first[0], "l o", "{merges}");
        let reloaded = Gpt2Tokenizer::load(dir.path()).unwrap();
        for text in [corpus.as_str(), "unseen wörds 123 ✓ <|endoftext|> low"] {
            let ids = reloaded.encode(text).unwrap();
            assert_eq!(reloaded.decode(&ids).unwrap(), text);
            assert_eq!(ids, tok.encode(text).unwrap());
        }
        assert!(reloaded.encode(" lowest").unwrap().len() < " lowest".len(), "merges compress");
        assert_eq!(reloaded.vocab_size(), 256 + 12 + 1);
        assert_eq!(reloaded.encode("<|endoftext|>").unwrap(), vec![268]);
    }
}
