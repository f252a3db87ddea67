//! Embedding lookup: rows of a `(vocab, dim)` table picked by token id.

use crate::Float;
use rayon::prelude::*;

/// `out[i] = table[ids[i]]` (each a row of `dim` values). Ids must be `< vocab` (checked by the caller).
pub fn embedding_forward<T: Float>(table: &[T], ids: &[usize], dim: usize, out: &mut [T]) {
    out.par_chunks_mut(dim).zip(ids.par_iter()).for_each(|(row, &id)| {
        row.copy_from_slice(&table[id * dim..(id + 1) * dim]);
    });
}

/// Backward of the lookup: `dtable[ids[i]] += dout[i]`; an id that occurs twice collects both rows.
/// Columns are split among threads, so no two threads touch the same element.
pub fn embedding_backward<T: Float>(dout: &[T], ids: &[usize], dim: usize, dtable: &mut [T]) {
    const COLS_PER_TASK: usize = 64;
    let vocab = dtable.len() / dim.max(1);
    let table = super::SendPtr::new(dtable);
    (0..dim.div_ceil(COLS_PER_TASK)).into_par_iter().for_each(|block| {
        let cols = block * COLS_PER_TASK..((block + 1) * COLS_PER_TASK).min(dim);
        for (i, &id) in ids.iter().enumerate() {
            assert!(id < vocab);
            for j in cols.clone() {
                // Safety: id < vocab and j < dim, and each task owns its own columns.
                unsafe { *table.get().add(id * dim + j) += dout[i * dim + j] };
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_ids_accumulate() {
        let table = [1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0];
        let ids = [2, 0, 2];
        let mut out = [0.0; 6];
        embedding_forward(&table, &ids, 2, &mut out);
        assert_eq!(out, [5.0, 6.0, 1.0, 2.0, 5.0, 6.0]);
        let mut d = [0.0f32; 6];
        embedding_backward(&[1.0, 1.0, 2.0, 2.0, 3.0, 3.0], &ids, 2, &mut d);
        assert_eq!(d, [2.0, 2.0, 0.0, 0.0, 4.0, 4.0]);
    }
}
