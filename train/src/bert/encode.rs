//! Sentences (or sentence pairs) to padded batches: `[CLS] a [SEP] (b [SEP])`, truncated to a
//! maximum length, padded to the longest row, with the attention mask and token types.

use crate::error::Result;
use crate::tokenizer::{Tokenizer, WordPieceTokenizer};
use tensor::Tensor;

/// A batch of `(B, L)` i64 tensors and how many rows were cut to fit.
pub struct Encoded {
    pub ids: Tensor,
    pub attention_mask: Tensor,
    pub token_type_ids: Tensor,
    pub truncated: usize,
    /// The rows as ids (no padding), for masking and display.
    pub rows: Vec<Vec<u32>>,
}

/// Word pieces of `a` (and `b`) shortened to `max_len` tokens with their specials: the longer
/// segment loses its last piece until they fit (HF's `longest_first`). Returns whether any was cut.
fn fit(a: &mut Vec<u32>, b: &mut Option<Vec<u32>>, max_len: usize) -> bool {
    let specials = if b.is_some() { 3 } else { 2 };
    let budget = max_len.saturating_sub(specials);
    let mut cut = false;
    while a.len() + b.as_ref().map_or(0, Vec::len) > budget {
        match b {
            Some(b) if b.len() > a.len() => b.pop(),
            _ => a.pop(),
        };
        cut = true;
    }
    cut
}

/// Encodes `(a, b)` pairs (`b` optional) for BERT, at most `max_len` tokens each (≥ 3).
pub fn encode_batch(tok: &WordPieceTokenizer, items: &[(&str, Option<&str>)], max_len: usize) -> Result<Encoded> {
    let mut rows = Vec::with_capacity(items.len());
    let mut types = Vec::with_capacity(items.len());
    let mut truncated = 0;
    for (a, b) in items {
        let mut a = tok.encode(a)?;
        let mut b = b.map(|b| tok.encode(b)).transpose()?;
        truncated += usize::from(fit(&mut a, &mut b, max_len.max(3)));
        let mut ids = [vec![tok.cls], a, vec![tok.sep]].concat();
        let mut segment = vec![0i64; ids.len()];
        if let Some(b) = b {
            segment.extend(std::iter::repeat_n(1, b.len() + 1));
            ids.extend(b.into_iter().chain([tok.sep]));
        }
        rows.push(ids);
        types.push(segment);
    }
    let width = rows.iter().map(Vec::len).max().unwrap_or(0);
    let pad =
        |row: &[i64], fill: i64| row.iter().copied().chain(std::iter::repeat(fill)).take(width).collect::<Vec<_>>();
    let n = rows.len();
    let ids: Vec<i64> = rows
        .iter()
        .flat_map(|r| pad(&r.iter().map(|&i| i64::from(i)).collect::<Vec<_>>(), i64::from(tok.pad)))
        .collect();
    let mask: Vec<i64> = rows.iter().flat_map(|r| pad(&vec![1; r.len()], 0)).collect();
    let types: Vec<i64> = types.iter().flat_map(|t| pad(t, 0)).collect();
    Ok(Encoded {
        ids: Tensor::from_vec(ids, &[n, width])?,
        attention_mask: Tensor::from_vec(mask, &[n, width])?,
        token_type_ids: Tensor::from_vec(types, &[n, width])?,
        truncated,
        rows,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokenizer() -> WordPieceTokenizer {
        let words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "cat", "sat", "on", "mat", "a"];
        WordPieceTokenizer::from_tokens(words.iter().map(|s| s.to_string()).collect(), true).unwrap()
    }

    #[test]
    fn pads_masks_types_and_truncates_the_longer_segment() {
        let tok = tokenizer();
        let e = encode_batch(&tok, &[("the cat", None), ("the cat sat on a mat", None)], 6).unwrap();
        assert_eq!(e.ids.shape(), [2, 6]);
        assert_eq!(e.ids.to_vec::<i64>().unwrap(), [2, 5, 6, 3, 0, 0, 2, 5, 6, 7, 8, 3]);
        assert_eq!(e.attention_mask.to_vec::<i64>().unwrap(), [1, 1, 1, 1, 0, 0, 1, 1, 1, 1, 1, 1]);
        assert_eq!(e.truncated, 1);
        // A pair: [CLS] the cat [SEP] a mat [SEP]; at 7 tokens the longer first segment gives way.
        let e = encode_batch(&tok, &[("the cat sat", Some("a mat"))], 7).unwrap();
        assert_eq!(e.ids.to_vec::<i64>().unwrap(), [2, 5, 6, 3, 10, 9, 3]);
        assert_eq!(e.token_type_ids.to_vec::<i64>().unwrap(), [0, 0, 0, 0, 1, 1, 1]);
    }
}
