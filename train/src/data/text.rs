//! A text file as training data: tokenised once, the ids cached beside the file in a small binary
//! file, split into train and validation parts, and served as random windows.

use super::{step_rng, Batch, STREAM_BATCH};
use crate::error::{Result, TrainError};
use crate::tokenizer::{CharTokenizer, Tokenizer};
use rand::Rng;
use std::path::{Path, PathBuf};
use tensor::Tensor;

const MAGIC: &[u8; 8] = b"EMGIDS01";

pub struct TextData {
    /// Token ids of the whole file.
    pub ids: Vec<u32>,
    /// Ids before this index are for training, from it on for validation.
    pub split: usize,
}

impl TextData {
    /// Tokenises `path` with `tokenizer` (named `tokenizer_name` in the cache file name), reusing
    /// `<path>.<tokenizer_name>.ids` when it was made from the same text. The last `val_fraction`
    /// of the ids is the validation part.
    pub fn load(path: &Path, tokenizer: &dyn Tokenizer, tokenizer_name: &str, val_fraction: f64) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| TrainError::io(path, e))?;
        let fingerprint = fnv1a(text.as_bytes());
        let cache = cache_path(path, tokenizer_name);
        let ids = match read_cache(&cache, fingerprint) {
            Some(ids) => ids,
            None => {
                let ids = tokenizer.encode(&text)?;
                write_cache(&cache, fingerprint, &ids)?;
                ids
            }
        };
        let split = ((ids.len() as f64) * (1.0 - val_fraction)).round() as usize;
        Ok(Self { ids, split })
    }

    /// The character vocabulary of a text file.
    pub fn char_tokenizer(path: &Path) -> Result<CharTokenizer> {
        let text = std::fs::read_to_string(path).map_err(|e| TrainError::io(path, e))?;
        Ok(CharTokenizer::from_corpus(&text))
    }

    /// `batch` random windows of `block + 1` consecutive ids from the train (or validation) part:
    /// inputs are the first `block`, targets the last `block` (shifted by one).
    pub fn batch(
        &self,
        seed: u64,
        step: u64,
        micro: u64,
        batch: usize,
        block: usize,
        validation: bool,
    ) -> Result<Batch> {
        let part = if validation { &self.ids[self.split..] } else { &self.ids[..self.split] };
        if part.len() <= block + 1 {
            return Err(TrainError::Invalid(format!(
                "the {} part has {} tokens, too few for windows of {}",
                if validation { "validation" } else { "training" },
                part.len(),
                block + 1
            )));
        }
        let stream = if validation { STREAM_BATCH + 100 } else { STREAM_BATCH };
        let mut rng = step_rng(seed, stream, step, micro);
        let (mut ids, mut targets) = (Vec::with_capacity(batch * block), Vec::with_capacity(batch * block));
        for _ in 0..batch {
            let start = rng.random_range(0..part.len() - block);
            ids.extend(part[start..start + block].iter().map(|&i| i as i64));
            targets.extend(part[start + 1..start + block + 1].iter().map(|&i| i as i64));
        }
        Ok(Batch { ids: Tensor::from_vec(ids, &[batch, block])?, targets: Tensor::from_vec(targets, &[batch, block])? })
    }
}

fn cache_path(path: &Path, tokenizer_name: &str) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".{tokenizer_name}.ids"));
    path.with_file_name(name)
}

/// FNV-1a, 64 bit: a fingerprint of the text, so a stale cache is never used.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| (h ^ b as u64).wrapping_mul(0x0100_0000_01b3))
}

/// The cached ids if the file is a complete cache of this text; anything else means "rebuild".
fn read_cache(path: &Path, fingerprint: u64) -> Option<Vec<u32>> {
    let bytes = std::fs::read(path).ok()?;
    let header = bytes.get(..24)?;
    if &header[..8] != MAGIC || u64::from_le_bytes(header[8..16].try_into().ok()?) != fingerprint {
        return None;
    }
    let n = u64::from_le_bytes(header[16..24].try_into().ok()?) as usize;
    let body = bytes.get(24..24 + 4 * n)?;
    Some(body.chunks_exact(4).map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect())
}

fn write_cache(path: &Path, fingerprint: u64, ids: &[u32]) -> Result<()> {
    let mut bytes = Vec::with_capacity(24 + 4 * ids.len());
    bytes.extend_from_slice(MAGIC);
    bytes.extend_from_slice(&fingerprint.to_le_bytes());
    bytes.extend_from_slice(&(ids.len() as u64).to_le_bytes());
    ids.iter().for_each(|i| bytes.extend_from_slice(&i.to_le_bytes()));
    model::checkpoint::write_atomically(path, &bytes)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_windows_and_split() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.txt");
        let text = "abcdefghij".repeat(20);
        std::fs::write(&path, &text).unwrap();
        let tok = TextData::char_tokenizer(&path).unwrap();
        let data = TextData::load(&path, &tok, "char", 0.1).unwrap();
        assert_eq!(data.ids.len(), 200);
        assert_eq!(data.split, 180);
        let cache = dir.path().join("t.txt.char.ids");
        assert!(cache.exists());
        assert_eq!(read_cache(&cache, fnv1a(text.as_bytes())).unwrap(), data.ids);
        // A changed file is re-tokenised, never served from the stale cache.
        std::fs::write(&path, "zz".repeat(50)).unwrap();
        let tok2 = TextData::char_tokenizer(&path).unwrap();
        assert_eq!(TextData::load(&path, &tok2, "char", 0.1).unwrap().ids, vec![0; 100]);
        // A truncated cache is rebuilt.
        std::fs::write(&cache, &std::fs::read(&cache).unwrap()[..30]).unwrap();
        assert_eq!(TextData::load(&path, &tok2, "char", 0.1).unwrap().ids.len(), 100);
        let data = TextData::load(&path, &tok2, "char", 0.5).unwrap();
        let b = data.batch(1, 0, 0, 4, 8, false).unwrap();
        assert_eq!(b.ids.shape(), &[4, 8]);
        assert!(data.batch(1, 0, 0, 4, 60, true).is_err(), "windows longer than the validation part");
    }

    #[test]
    fn targets_are_inputs_shifted_by_one() {
        let data = TextData { ids: (0..100).collect(), split: 90 };
        let b = data.batch(3, 1, 0, 5, 10, false).unwrap();
        let (ids, targets) = (b.ids.to_vec::<i64>().unwrap(), b.targets.to_vec::<i64>().unwrap());
        for (x, y) in ids.iter().zip(&targets) {
            assert_eq!(x + 1, *y);
        }
        assert!(ids.iter().all(|&i| i < 90), "training windows stay in the training part");
    }
}
