//! A fingerprint of a run's data, kept in its config: `--resume` checks that the data it reads (at
//! the recorded path, or at the one `--data` gives after a move) is the data the run began on.

use super::shards::{find, names_shards};
use super::text::fnv1a;
use crate::error::{Result, TrainError};
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

/// Bytes read from each end of a shard.
const SAMPLE_BYTES: u64 = 1 << 16;

/// `text:` and FNV-1a (64 bit) of a text file's bytes (the file is read whole for training anyway);
/// `shards:` and FNV-1a over each shard (validation then training, in name order) of its file name,
/// length and first and last 64 KiB — a cheap identity check that never reads gigabytes.
pub fn fingerprint(path: &Path) -> Result<String> {
    if !names_shards(path) {
        let bytes = std::fs::read(path).map_err(|e| TrainError::io(path, e))?;
        return Ok(format!("text:{:016x}", fnv1a(&bytes)));
    }
    let (train, val) = find(path)?;
    let mut summary = Vec::new();
    for shard in val.iter().chain(&train) {
        let io = |e| TrainError::io(shard, e);
        let mut file = std::fs::File::open(shard).map_err(io)?;
        let len = file.metadata().map_err(io)?.len();
        summary.extend(shard.file_name().unwrap_or_default().as_encoded_bytes());
        summary.extend(len.to_le_bytes());
        let mut head = Vec::new();
        file.by_ref().take(SAMPLE_BYTES).read_to_end(&mut head).map_err(io)?;
        file.seek(SeekFrom::Start(len.saturating_sub(SAMPLE_BYTES))).map_err(io)?;
        let mut tail = Vec::new();
        file.read_to_end(&mut tail).map_err(io)?;
        summary.extend(head);
        summary.extend(tail);
    }
    Ok(format!("shards:{:016x}", fnv1a(&summary)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::shards::write_shard;

    #[test]
    fn a_text_or_shard_change_changes_the_fingerprint_and_a_copy_keeps_it() {
        let dir = tempfile::tempdir().unwrap();
        let text = dir.path().join("a.txt");
        std::fs::write(&text, "hello world").unwrap();
        let copy = dir.path().join("b.txt");
        std::fs::copy(&text, &copy).unwrap();
        assert_eq!(fingerprint(&text).unwrap(), fingerprint(&copy).unwrap());
        std::fs::write(&copy, "hello World").unwrap();
        assert_ne!(fingerprint(&text).unwrap(), fingerprint(&copy).unwrap());

        let shards = dir.path().join("shards");
        std::fs::create_dir(&shards).unwrap();
        let tokens: Vec<u16> = (0..100_000u32).map(|i| (i % 50_000) as u16).collect();
        write_shard(&shards.join("x_val_000000.bin"), &tokens[..1000]).unwrap();
        write_shard(&shards.join("x_train_000001.bin"), &tokens).unwrap();
        let before = fingerprint(&shards).unwrap();
        assert!(before.starts_with("shards:"));
        let moved = dir.path().join("moved");
        std::fs::rename(&shards, &moved).unwrap();
        assert_eq!(fingerprint(&moved).unwrap(), before, "the folder's name is not part of it");
        let mut changed = tokens.clone();
        *changed.last_mut().unwrap() += 1; // in the last 64 KiB
        write_shard(&moved.join("x_train_000001.bin"), &changed).unwrap();
        assert_ne!(fingerprint(&moved).unwrap(), before);
    }
}
