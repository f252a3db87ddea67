//! Token shards on disk, as llm.c and modded-nanogpt write and read them: a 1024-byte header of 256
//! little-endian i32 (`[0]` the magic 20240520, `[1]` the version 1, `[2]` the token count, the
//! rest 0), then the tokens as little-endian u16. nanoGPT's `train.bin` / `val.bin` (raw u16, no
//! header) are read too. A shard is memory-mapped, never read whole; every malformed file is an
//! error naming it. Shards are written through a temporary file renamed when complete.

use crate::error::{Result, TrainError};
use memmap2::Mmap;
use std::io::Write;
use std::path::{Path, PathBuf};

pub const MAGIC: i32 = 20240520;
pub const VERSION: i32 = 1;
pub const HEADER_BYTES: usize = 1024;

/// One shard's tokens, mapped from its file.
pub struct Shard {
    pub path: PathBuf,
    map: Mmap,
    /// Where the tokens start in the file (0 for nanoGPT's raw files).
    offset: usize,
    len: usize,
}

impl Shard {
    /// Opens an llm.c shard, or a raw nanoGPT `train.bin` / `val.bin`, checking it whole.
    pub fn open(path: &Path) -> Result<Self> {
        let file = std::fs::File::open(path).map_err(|e| TrainError::io(path, e))?;
        // Safety: read-only; as every mapped reader, we rely on the file not being truncated
        // while mapped (our writers replace files by renaming, never in place).
        let map = unsafe { Mmap::map(&file) }.map_err(|e| TrainError::io(path, e))?;
        let bad = |msg: String| TrainError::format(path, msg);
        let raw = matches!(path.file_name().and_then(|n| n.to_str()), Some("train.bin" | "val.bin"));
        let word = |i: usize| map.get(4 * i..4 * i + 4).map(|b| i32::from_le_bytes(b.try_into().expect("4 bytes")));
        let (offset, len) = match word(0) {
            Some(MAGIC) => {
                let header =
                    header_words(&map).ok_or_else(|| bad(format!("{} bytes: shorter than its header", map.len())))?;
                if header[1] != VERSION {
                    return Err(bad(format!("shard version {} (this reader knows {VERSION})", header[1])));
                }
                let count = usize::try_from(header[2]).map_err(|_| bad(format!("token count {}", header[2])))?;
                let want = HEADER_BYTES as u64 + 2 * count as u64;
                if map.len() as u64 != want {
                    return Err(bad(format!(
                        "the header promises {count} tokens ({want} bytes); the file has {} bytes (truncated or \
                         appended to)",
                        map.len()
                    )));
                }
                (HEADER_BYTES, count)
            }
            _ if raw => {
                if map.len() % 2 != 0 {
                    return Err(bad(format!("{} bytes: not a whole number of u16 tokens", map.len())));
                }
                (0, map.len() / 2)
            }
            other => {
                return Err(bad(format!(
                    "not a token shard: magic {other:?}, expected {MAGIC} (llm.c's format), or nanoGPT's raw \
                     train.bin / val.bin"
                )))
            }
        };
        Ok(Self { path: path.to_path_buf(), map, offset, len })
    }

    /// Tokens in the shard.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Token `i`.
    pub fn token(&self, i: usize) -> u16 {
        let at = self.offset + 2 * i;
        u16::from_le_bytes([self.map[at], self.map[at + 1]])
    }

    /// The largest token id (0 for an empty shard), for checking against a vocabulary.
    pub fn max_token(&self) -> u16 {
        use rayon::prelude::*;
        self.map[self.offset..]
            .par_chunks(1 << 16)
            .map(|c| c.chunks_exact(2).map(|b| u16::from_le_bytes([b[0], b[1]])).max().unwrap_or(0))
            .max()
            .unwrap_or(0)
    }
}

/// The header's 256 words, if the file is long enough to have them.
fn header_words(bytes: &[u8]) -> Option<[i32; 256]> {
    let header = bytes.get(..HEADER_BYTES)?;
    let mut words = [0i32; 256];
    for (w, b) in words.iter_mut().zip(header.chunks_exact(4)) {
        *w = i32::from_le_bytes(b.try_into().expect("4 bytes"));
    }
    Some(words)
}

/// The header of a shard of `count` tokens.
pub fn header(count: usize) -> Result<[u8; HEADER_BYTES]> {
    let count = i32::try_from(count)
        .map_err(|_| TrainError::Invalid(format!("{count} tokens do not fit one shard (at most {})", i32::MAX)))?;
    let mut out = [0u8; HEADER_BYTES];
    for (i, w) in [MAGIC, VERSION, count].into_iter().enumerate() {
        out[4 * i..4 * i + 4].copy_from_slice(&w.to_le_bytes());
    }
    Ok(out)
}

/// Writes `tokens` as an llm.c shard at `path`, through a temporary file renamed when complete.
pub fn write_shard(path: &Path, tokens: &[u16]) -> Result<()> {
    let tmp = path.with_extension("bin.tmp");
    let io = |e| TrainError::io(&tmp, e);
    let mut file = std::io::BufWriter::new(std::fs::File::create(&tmp).map_err(io)?);
    file.write_all(&header(tokens.len())?).map_err(io)?;
    file.write_all(bytemuck::cast_slice(&tokens.iter().map(|t| t.to_le()).collect::<Vec<u16>>())).map_err(io)?;
    file.into_inner().map_err(|e| io(e.into_error()))?.sync_all().map_err(io)?;
    std::fs::rename(&tmp, path).map_err(|e| TrainError::io(path, e))
}

/// The shards a `--data` path names, split into (train, validation): a folder's `*.bin` files, or
/// the files a glob pattern matches; a file with `val` in its name is validation data (llm.c's
/// `*_val_*.bin`, nanoGPT's `val.bin`), the others training data, each part in name order.
pub fn find(path: &Path) -> Result<(Vec<PathBuf>, Vec<PathBuf>)> {
    let files: Vec<PathBuf> = if path.is_dir() {
        let entries = std::fs::read_dir(path).map_err(|e| TrainError::io(path, e))?;
        entries.flatten().map(|e| e.path()).filter(|p| p.extension().is_some_and(|e| e == "bin")).collect()
    } else {
        let pattern = path.to_str().ok_or_else(|| TrainError::Invalid(format!("{}: not UTF-8", path.display())))?;
        glob::glob(pattern)
            .map_err(|e| TrainError::Invalid(format!("--data {pattern}: not a folder nor a glob pattern: {e}")))?
            .flatten()
            .collect()
    };
    let is_val = |p: &PathBuf| p.file_name().is_some_and(|n| n.to_string_lossy().contains("val"));
    let (mut val, mut train): (Vec<PathBuf>, Vec<PathBuf>) = files.into_iter().partition(is_val);
    val.sort();
    train.sort();
    if train.is_empty() || val.is_empty() {
        return Err(TrainError::Invalid(format!(
            "{}: found {} training and {} validation shards; both are needed (a validation shard has \"val\" in \
             its name, as llm.c's *_val_000000.bin and nanoGPT's val.bin)",
            path.display(),
            train.len(),
            val.len()
        )));
    }
    Ok((train, val))
}

/// True when `path` names shards rather than a text file: a folder, a `.bin` file or a glob.
pub fn names_shards(path: &Path) -> bool {
    let text = path.to_string_lossy();
    path.is_dir() || text.ends_with(".bin") || text.contains(['*', '?', '['])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shard_round_trips_and_its_header_is_llm_cs() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x_train_000001.bin");
        let tokens: Vec<u16> = (0..1000).map(|i| (i * 37 % 50257) as u16).collect();
        write_shard(&path, &tokens).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(bytes.len(), 1024 + 2000);
        assert_eq!(&bytes[..12], &[136, 216, 52, 1, 1, 0, 0, 0, 0xe8, 0x03, 0, 0]); // 20240520, 1, 1000
        assert!(bytes[12..1024].iter().all(|&b| b == 0));
        let shard = Shard::open(&path).unwrap();
        assert_eq!(shard.len(), 1000);
        assert_eq!((0..1000).map(|i| shard.token(i)).collect::<Vec<_>>(), tokens);
        assert_eq!(shard.max_token(), *tokens.iter().max().unwrap());
        assert!(!dir.path().join("x_train_000001.bin.tmp").exists());
    }

    #[test]
    fn every_malformed_shard_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s_train_000001.bin");
        write_shard(&path, &[1, 2, 3, 4]).unwrap();
        let good = std::fs::read(&path).unwrap();
        let error = |bytes: &[u8]| {
            std::fs::write(&path, bytes).unwrap();
            Shard::open(&path).err().unwrap().to_string()
        };
        assert!(error(&good[..good.len() - 1]).contains("promises 4 tokens"), "truncated");
        assert!(error(&[&good[..], &[0, 0]].concat()).contains("appended to"));
        assert!(error(&good[..500]).contains("shorter than its header"));
        let mut version = good.clone();
        version[4] = 7;
        assert!(error(&version).contains("shard version 7"));
        let mut negative = good.clone();
        negative[8..12].copy_from_slice(&(-5i32).to_le_bytes());
        assert!(error(&negative).contains("token count -5"));
        let e = error(b"hello world, not a shard");
        assert!(e.contains("not a token shard") && e.contains("s_train_000001.bin"), "{e}");
        assert!(error(b"").contains("not a token shard"));
        // nanoGPT's raw files: any even length.
        let raw = dir.path().join("val.bin");
        std::fs::write(&raw, [5u8, 0, 6, 0]).unwrap();
        let shard = Shard::open(&raw).unwrap();
        assert_eq!((shard.len(), shard.token(1)), (2, 6));
        std::fs::write(&raw, [5u8, 0, 6]).unwrap();
        assert!(Shard::open(&raw).err().unwrap().to_string().contains("not a whole number"));
    }

    #[test]
    fn folders_and_globs_split_into_train_and_validation() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["d_val_000000.bin", "d_train_000002.bin", "d_train_000001.bin", "notes.txt"] {
            std::fs::write(dir.path().join(name), b"").unwrap();
        }
        let (train, val) = find(dir.path()).unwrap();
        let names =
            |v: &[PathBuf]| v.iter().map(|p| p.file_name().unwrap().to_string_lossy().to_string()).collect::<Vec<_>>();
        assert_eq!(names(&train), ["d_train_000001.bin", "d_train_000002.bin"]);
        assert_eq!(names(&val), ["d_val_000000.bin"]);
        let (train, _) = find(&dir.path().join("d_*.bin")).unwrap();
        assert_eq!(train.len(), 2);
        let e = find(&dir.path().join("d_train_*.bin")).unwrap_err().to_string();
        assert!(e.contains("found 2 training and 0 validation shards"), "{e}");
        assert!(names_shards(dir.path()) && names_shards(Path::new("a/b.bin")) && !names_shards(Path::new("a.txt")));
    }
}
