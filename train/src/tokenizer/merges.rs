//! The merge step of BPE, shared by the encoder (which applies learned merges) and the BPE and
//! WordPiece trainers (which learn them).

use std::collections::HashMap;

/// The adjacent pair of symbols that occurs most often in `words` (each weighted by its count;
/// ties: the pair of lowest ids), if some pair occurs at least twice.
pub(crate) fn most_frequent_pair(words: &[(Vec<u32>, usize)]) -> Option<(u32, u32)> {
    let mut pair_counts: HashMap<(u32, u32), usize> = HashMap::new();
    for (symbols, n) in words {
        for w in symbols.windows(2) {
            *pair_counts.entry((w[0], w[1])).or_default() += n;
        }
    }
    let (&pair, &count) = pair_counts.iter().max_by(|(p1, c1), (p2, c2)| c1.cmp(c2).then(p2.cmp(p1)))?;
    (count >= 2).then_some(pair)
}

/// Replaces every non-overlapping occurrence of `pair` (left to right) with `new_id`.
pub(crate) fn merge_pair(symbols: &mut Vec<u32>, pair: (u32, u32), new_id: u32) {
    let mut out = Vec::with_capacity(symbols.len());
    let mut i = 0;
    while i < symbols.len() {
        if i + 1 < symbols.len() && (symbols[i], symbols[i + 1]) == pair {
            out.push(new_id);
            i += 2;
        } else {
            out.push(symbols[i]);
            i += 1;
        }
    }
    *symbols = out;
}
