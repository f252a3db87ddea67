//! A fingerprint of a run's data, kept in its config: `--resume` checks that the data it reads (at
//! the recorded path, or at the one `--data` gives after a move) is the data the run began on.
//! Computed while the data is loaded ([`super::TextData`]), so nothing is read twice.

use super::text::fnv1a;
use crate::error::{Result, TrainError};
use std::io::{Read, Seek, SeekFrom};
use std::path::PathBuf;

/// Bytes read from each end of a shard.
const SAMPLE_BYTES: u64 = 1 << 16;

/// A text file's: `text:` and the FNV-1a (64 bit) of its bytes, which loading it computes anyway.
pub fn of_text(fnv1a_of_bytes: u64) -> String {
    format!("text:{fnv1a_of_bytes:016x}")
}

/// Shards': `shards:` and FNV-1a over each shard (validation then training, in name order) of its
/// file name, length and first and last 64 KiB — a cheap identity check that never reads gigabytes.
pub fn of_shards(train: &[PathBuf], val: &[PathBuf]) -> Result<String> {
    let mut summary = Vec::new();
    for shard in val.iter().chain(train) {
        let io = |e| TrainError::io(shard, e);
        let mut file = std::fs::File::open(shard).map_err(io)?;
        let len = file.metadata().map_err(io)?.len();
        summary.extend(shard.file_name().unwrap_or_default().as_encoded_bytes());
        summary.extend(len.to_le_bytes());
        file.by_ref().take(SAMPLE_BYTES).read_to_end(&mut summary).map_err(io)?;
        file.seek(SeekFrom::Start(len.saturating_sub(SAMPLE_BYTES))).map_err(io)?;
        file.read_to_end(&mut summary).map_err(io)?;
    }
    Ok(format!("shards:{:016x}", fnv1a(&summary)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::shards::{find, write_shard};

    #[test]
    fn a_shard_change_changes_the_fingerprint_and_a_move_keeps_it() {
        let dir = tempfile::tempdir().unwrap();
        let shards = dir.path().join("shards");
        std::fs::create_dir(&shards).unwrap();
        let tokens: Vec<u16> = (0..100_000u32).map(|i| (i % 50_000) as u16).collect();
        write_shard(&shards.join("x_val_000000.bin"), &tokens[..1000]).unwrap();
        write_shard(&shards.join("x_train_000001.bin"), &tokens).unwrap();
        let of = |folder: &std::path::Path| {
            let (train, val) = find(folder).unwrap();
            of_shards(&train, &val).unwrap()
        };
        let before = of(&shards);
        assert!(before.starts_with("shards:"));
        let moved = dir.path().join("moved");
        std::fs::rename(&shards, &moved).unwrap();
        assert_eq!(of(&moved), before, "the folder's name is not part of it");
        let mut changed = tokens.clone();
        *changed.last_mut().unwrap() += 1; // in the last 64 KiB
        write_shard(&moved.join("x_train_000001.bin"), &changed).unwrap();
        assert_ne!(of(&moved), before);
    }
}
