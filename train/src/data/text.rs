//! Token streams as training data, served as random windows: a text file (tokenised once, the ids
//! cached in the user's cache folder keyed by the text's and the tokenizer's content, the last part
//! held out for validation), or token shards (memory-mapped; the shards named `val` are the
//! validation part).

use super::shards::Shard;
use super::{step_rng, Batch, STREAM_BATCH};
use crate::error::{Result, TrainError};
use crate::tokenizer::{CharTokenizer, Tokenizer};
use rand::Rng;
use std::path::{Path, PathBuf};
use tensor::Tensor;

const MAGIC: &[u8; 8] = b"EMGIDS01";

/// The share of a text file's ids held out for validation (its end).
pub const VAL_FRACTION: f64 = 0.1;

pub struct TextData {
    pub train: Tokens,
    pub val: Tokens,
    /// What the ids were read from (see [`super::fingerprint`]), which a resumed run checks.
    pub fingerprint: String,
}

/// One part's token ids: in memory, or the concatenation of memory-mapped shards.
pub enum Tokens {
    Owned(Vec<u32>),
    Shards(Vec<Shard>),
}

impl Tokens {
    pub fn len(&self) -> usize {
        match self {
            Tokens::Owned(ids) => ids.len(),
            Tokens::Shards(shards) => shards.iter().map(Shard::len).sum(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Ids `start..start + len`, which may run across shards (they are one stream, as a single
    /// train.bin is).
    pub fn window(&self, start: usize, len: usize) -> Vec<i64> {
        match self {
            Tokens::Owned(ids) => ids[start..start + len].iter().map(|&i| i64::from(i)).collect(),
            Tokens::Shards(shards) => {
                let mut out = Vec::with_capacity(len);
                let mut at = start;
                for shard in shards {
                    if at >= shard.len() {
                        at -= shard.len();
                        continue;
                    }
                    let take = (shard.len() - at).min(len - out.len());
                    out.extend((at..at + take).map(|i| i64::from(shard.token(i))));
                    at = 0;
                    if out.len() == len {
                        break;
                    }
                }
                out
            }
        }
    }

    /// The largest id, for checking against the model's vocabulary.
    pub fn max_id(&self) -> u32 {
        match self {
            Tokens::Owned(ids) => ids.iter().copied().max().unwrap_or(0),
            Tokens::Shards(shards) => shards.iter().map(|s| u32::from(s.max_token())).max().unwrap_or(0),
        }
    }
}

impl TextData {
    /// Tokenises `path` with `tokenizer` (`tokenizer_key` names it exactly: the same key must mean
    /// the same ids), reusing the ids cached from an earlier run on the same text (see
    /// [`cache_dir`]). The last `val_fraction` of the ids is the validation part.
    pub fn load(path: &Path, tokenizer: &dyn Tokenizer, tokenizer_key: &str, val_fraction: f64) -> Result<Self> {
        Self::load_cached_in(&cache_dir(), path, tokenizer, tokenizer_key, val_fraction)
    }

    fn load_cached_in(
        cache: &Path,
        path: &Path,
        tokenizer: &dyn Tokenizer,
        tokenizer_key: &str,
        val_fraction: f64,
    ) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| TrainError::io(path, e))?;
        let fingerprint = fnv1a(text.as_bytes());
        let cache = cache.join(format!("{fingerprint:016x}-{tokenizer_key}.ids"));
        let ids = match read_cache(&cache, fingerprint) {
            Some(ids) => ids,
            None => {
                let ids = tokenizer.encode(&text)?;
                // A cache that cannot be written (a read-only home) costs time, not the run.
                let _ = std::fs::create_dir_all(cache.parent().expect("a folder"))
                    .map(|_| write_cache(&cache, fingerprint, &ids));
                ids
            }
        };
        Ok(Self::split(ids, val_fraction, super::fingerprint::of_text(fingerprint)))
    }

    /// The ids of a text, its last `val_fraction` held out for validation.
    pub fn split(mut ids: Vec<u32>, val_fraction: f64, fingerprint: String) -> Self {
        let val = ids.split_off(((ids.len() as f64) * (1.0 - val_fraction)).round() as usize);
        Self { train: Tokens::Owned(ids), val: Tokens::Owned(val), fingerprint }
    }

    /// The shards a `--data` folder or glob names (see [`super::shards::find`]), each checked.
    pub fn shards(path: &Path) -> Result<Self> {
        let (train, val) = super::shards::find(path)?;
        let fingerprint = super::fingerprint::of_shards(&train, &val)?;
        let open = |paths: Vec<PathBuf>| paths.iter().map(|p| Shard::open(p)).collect::<Result<Vec<_>>>();
        Ok(Self { train: Tokens::Shards(open(train)?), val: Tokens::Shards(open(val)?), fingerprint })
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
        let part = if validation { &self.val } else { &self.train };
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
            let window = part.window(start, block + 1);
            ids.extend_from_slice(&window[..block]);
            targets.extend_from_slice(&window[1..]);
        }
        Ok(Batch { ids: Tensor::from_vec(ids, &[batch, block])?, targets: Tensor::from_vec(targets, &[batch, block])? })
    }
}

/// Where tokenised texts are cached: `$EMERGENT_CACHE_DIR`, else `$XDG_CACHE_HOME/emergent/tokens`,
/// else `~/.cache/emergent/tokens` (never beside the data, which may be read-only or shared).
pub fn cache_dir() -> PathBuf {
    let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty()).map(PathBuf::from);
    if let Some(dir) = var("EMERGENT_CACHE_DIR") {
        return dir;
    }
    let base =
        var("XDG_CACHE_HOME").or_else(|| var("HOME").map(|h| h.join(".cache"))).unwrap_or_else(std::env::temp_dir);
    base.join("emergent").join("tokens")
}

/// A key for a tokenizer read from files: `name` and a fingerprint of the files' bytes.
pub fn files_key(name: &str, files: &[PathBuf]) -> Result<String> {
    let mut bytes = Vec::new();
    for f in files {
        bytes.extend(std::fs::read(f).map_err(|e| TrainError::io(f, e))?);
    }
    Ok(format!("{name}-{:016x}", fnv1a(&bytes)))
}

/// FNV-1a, 64 bit: a fingerprint of the text, so a stale cache is never used.
pub(crate) fn fnv1a(bytes: &[u8]) -> u64 {
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
        let caches = dir.path().join("cache");
        let load = |tok: &CharTokenizer, fraction| TextData::load_cached_in(&caches, &path, tok, "char", fraction);
        let data = load(&tok, 0.1).unwrap();
        assert_eq!((data.train.len(), data.val.len()), (180, 20));
        let cache = caches.join(format!("{:016x}-char.ids", fnv1a(text.as_bytes())));
        assert!(cache.exists());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2, "nothing written beside the data");
        let all: Vec<u32> =
            data.train.window(0, 180).into_iter().chain(data.val.window(0, 20)).map(|i| i as u32).collect();
        assert_eq!(read_cache(&cache, fnv1a(text.as_bytes())).unwrap(), all);
        // A changed file is re-tokenised, never served from the stale cache.
        std::fs::write(&path, "zz".repeat(50)).unwrap();
        let tok2 = TextData::char_tokenizer(&path).unwrap();
        assert_eq!(load(&tok2, 0.1).unwrap().train.window(0, 90), vec![0; 90]);
        // A truncated cache is rebuilt.
        let cache2 = caches.join(format!("{:016x}-char.ids", fnv1a("zz".repeat(50).as_bytes())));
        std::fs::write(&cache2, &std::fs::read(&cache2).unwrap()[..30]).unwrap();
        assert_eq!(load(&tok2, 0.1).unwrap().train.len(), 90);
        let data = load(&tok2, 0.5).unwrap();
        let b = data.batch(1, 0, 0, 4, 8, false).unwrap();
        assert_eq!(b.ids.shape(), &[4, 8]);
        assert!(data.batch(1, 0, 0, 4, 60, true).is_err(), "windows longer than the validation part");
    }

    #[test]
    fn targets_are_inputs_shifted_by_one() {
        let data = TextData::split((0..100).collect(), 0.1, String::new());
        let b = data.batch(3, 1, 0, 5, 10, false).unwrap();
        let (ids, targets) = (b.ids.to_vec::<i64>().unwrap(), b.targets.to_vec::<i64>().unwrap());
        for (x, y) in ids.iter().zip(&targets) {
            assert_eq!(x + 1, *y);
        }
        assert!(ids.iter().all(|&i| i < 90), "training windows stay in the training part");
    }

    #[test]
    fn shards_are_one_stream_and_windows_cross_their_boundaries() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, ids: std::ops::Range<u16>| {
            crate::data::shards::write_shard(&dir.path().join(name), &ids.collect::<Vec<_>>()).unwrap()
        };
        write("t_val_000000.bin", 1000..1050);
        write("t_train_000001.bin", 0..30);
        write("t_train_000002.bin", 30..45);
        write("t_train_000003.bin", 45..100);
        let data = TextData::shards(dir.path()).unwrap();
        assert_eq!((data.train.len(), data.val.len(), data.train.max_id()), (100, 50, 99));
        assert_eq!(data.train.window(25, 25), (25..50).collect::<Vec<i64>>(), "across three shards");
        // The same windows as the same ids in memory.
        let owned = TextData {
            train: Tokens::Owned((0..100).collect()),
            val: Tokens::Owned((1000..1050).collect()),
            fingerprint: String::new(),
        };
        for validation in [false, true] {
            let (a, b) =
                (data.batch(7, 3, 1, 6, 20, validation).unwrap(), owned.batch(7, 3, 1, 6, 20, validation).unwrap());
            assert_eq!(a.ids.to_vec::<i64>().unwrap(), b.ids.to_vec::<i64>().unwrap());
            assert_eq!(a.targets.to_vec::<i64>().unwrap(), b.targets.to_vec::<i64>().unwrap());
        }
    }
}
