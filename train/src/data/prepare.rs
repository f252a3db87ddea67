//! Text to token shards, streaming: documents are read a batch at a time, tokenised in parallel,
//! `<|endoftext|>` put before each (as llm.c does), and the ids cut into shards — the first,
//! `NAME_val_000000.bin`, holding the validation tokens, then `NAME_train_000001.bin`, … Memory
//! holds one batch of text and one shard's ids, whatever the input's size.
//!
//! Documents: in a `.jsonl` file each line is one, its `"text"` field (FineWeb and OpenWebText
//! dumps); in any other file they end after each `"\n\n"`, as llm.c cuts Tiny Shakespeare (a
//! section longer than [`MAX_DOCUMENT`] bytes is cut after a line end).

use super::shards::write_shard;
use crate::error::{Result, TrainError};
use crate::tokenizer::{Gpt2Tokenizer, Tokenizer, ENDOFTEXT};
use rayon::prelude::*;
use std::io::BufRead;
use std::path::{Path, PathBuf};

/// Text tokenised together, in parallel, before its ids go to the shards.
const BATCH_BYTES: usize = 8 << 20;
/// A section of plain text longer than this is cut at the next line end.
pub const MAX_DOCUMENT: usize = 16 << 20;

/// How the ids are cut.
#[derive(Debug, Clone, Copy)]
pub struct ShardSizes {
    /// Tokens of the validation shard (shard 0).
    pub val_tokens: usize,
    /// Tokens of each training shard (the last may hold fewer).
    pub shard_tokens: usize,
}

/// What a preparation wrote.
#[derive(Debug, Clone, PartialEq)]
pub struct Prepared {
    pub shards: Vec<PathBuf>,
    pub documents: u64,
    pub tokens: u64,
}

/// Tokenises every document of `inputs` with `tokenizer` into shards `out/NAME_{val,train}_NNNNNN.bin`;
/// `progress` hears the running token count.
pub fn prepare(
    inputs: &[PathBuf],
    tokenizer: &Gpt2Tokenizer,
    out: &Path,
    name: &str,
    sizes: ShardSizes,
    mut progress: impl FnMut(u64),
) -> Result<Prepared> {
    if sizes.val_tokens == 0 || sizes.shard_tokens == 0 {
        return Err(TrainError::Invalid("--val-tokens and --shard-tokens must be positive".into()));
    }
    if tokenizer.vocab_size() > 1 << 16 {
        return Err(TrainError::Invalid(format!("a vocabulary of {} does not fit u16 shards", tokenizer.vocab_size())));
    }
    let eot = tokenizer
        .token_id(ENDOFTEXT)
        .ok_or_else(|| TrainError::Invalid(format!("the vocabulary has no {ENDOFTEXT} token")))?;
    std::fs::create_dir_all(out).map_err(|e| TrainError::io(out, e))?;
    let mut sink =
        ShardSink { out: out.to_path_buf(), name: name.to_string(), sizes, ids: Vec::new(), written: Vec::new() };
    let (mut documents, mut tokens) = (0u64, 0u64);
    let mut batch: Vec<String> = Vec::new();
    let mut batch_bytes = 0;
    let mut read_all = |sink: &mut ShardSink| -> Result<()> {
        for input in inputs {
            for_each_document(input, |doc| {
                batch_bytes += doc.len();
                batch.push(doc);
                if batch_bytes >= BATCH_BYTES {
                    let (d, t) = encode_into(&mut batch, tokenizer, eot, sink)?;
                    (documents, tokens, batch_bytes) = (documents + d, tokens + t, 0);
                    progress(tokens);
                }
                Ok(())
            })?;
        }
        let (d, t) = encode_into(&mut batch, tokenizer, eot, sink)?;
        (documents, tokens) = (documents + d, tokens + t);
        progress(tokens);
        Ok(())
    };
    if let Err(e) = read_all(&mut sink) {
        // Shards of an input that failed half-way would pass for a whole preparation.
        sink.written.iter().for_each(|p| drop(std::fs::remove_file(p)));
        return Err(e);
    }
    let shards = sink.finish(tokens)?;
    Ok(Prepared { shards, documents, tokens })
}

/// Encodes the batch's documents in parallel, as plain text (a `<|endoftext|>` written in a
/// document is not the separator), and hands their ids, each document after `eot`, to the sink in
/// order; returns (documents, tokens) and empties the batch.
fn encode_into(
    batch: &mut Vec<String>,
    tokenizer: &Gpt2Tokenizer,
    eot: u32,
    sink: &mut ShardSink,
) -> Result<(u64, u64)> {
    let encoded: Vec<Vec<u32>> = batch.par_iter().map(|doc| tokenizer.encode_ordinary(doc)).collect();
    let (documents, mut tokens) = (encoded.len() as u64, 0u64);
    for ids in encoded {
        tokens += 1 + ids.len() as u64;
        std::iter::once(eot).chain(ids).try_for_each(|id| sink.push(id))?;
    }
    batch.clear();
    Ok((documents, tokens))
}

/// Ids on their way to shard files.
struct ShardSink {
    out: PathBuf,
    name: String,
    sizes: ShardSizes,
    ids: Vec<u16>,
    written: Vec<PathBuf>,
}

impl ShardSink {
    fn capacity(&self) -> usize {
        if self.written.is_empty() {
            self.sizes.val_tokens
        } else {
            self.sizes.shard_tokens
        }
    }

    fn push(&mut self, id: u32) -> Result<()> {
        self.ids.push(u16::try_from(id).map_err(|_| TrainError::Invalid(format!("token id {id} does not fit u16")))?);
        if self.ids.len() == self.capacity() {
            self.write()?;
        }
        Ok(())
    }

    fn write(&mut self) -> Result<()> {
        let split = if self.written.is_empty() { "val" } else { "train" };
        let path = self.out.join(format!("{}_{split}_{:06}.bin", self.name, self.written.len()));
        write_shard(&path, &self.ids)?;
        self.ids.clear();
        self.written.push(path);
        Ok(())
    }

    /// Writes what is left as the last training shard; an input too short for any training
    /// tokens is an error (its validation shard is removed again).
    fn finish(mut self, tokens: u64) -> Result<Vec<PathBuf>> {
        if !self.ids.is_empty() && !self.written.is_empty() {
            self.write()?;
        }
        if self.written.len() < 2 {
            for path in &self.written {
                let _ = std::fs::remove_file(path);
            }
            return Err(TrainError::Invalid(format!(
                "the input holds {tokens} tokens: not more than the {} of the validation shard, so none are left \
                 for training; lower --val-tokens",
                self.sizes.val_tokens
            )));
        }
        Ok(self.written)
    }
}

/// Calls `each` with every document of `path`, in order, reading the file as a stream.
fn for_each_document(path: &Path, each: impl FnMut(String) -> Result<()>) -> Result<()> {
    let file = std::fs::File::open(path).map_err(|e| TrainError::io(path, e))?;
    let reader = std::io::BufReader::with_capacity(1 << 20, file);
    if path.extension().is_some_and(|e| e == "jsonl") {
        jsonl_documents(path, reader, each)
    } else {
        text_documents(path, reader, each)
    }
}

/// One document per non-empty line: its `"text"`.
fn jsonl_documents(path: &Path, reader: impl BufRead, mut each: impl FnMut(String) -> Result<()>) -> Result<()> {
    for (n, line) in reader.lines().enumerate() {
        let line = line.map_err(|e| TrainError::format(path, format!("line {}: {e}", n + 1)))?;
        if line.trim().is_empty() {
            continue;
        }
        let record: serde_json::Value = serde_json::from_str(&line)
            .map_err(|e| TrainError::format(path, format!("line {}: not JSON: {e}", n + 1)))?;
        let text = record.get("text").and_then(|t| t.as_str());
        each(text.ok_or_else(|| TrainError::format(path, format!("line {}: no \"text\" string", n + 1)))?.to_string())?;
    }
    Ok(())
}

/// The text cut after every `"\n\n"`, which stays with the section before it: llm.c's
/// `text.split("\n\n")` with `"\n\n"` added back to every section but the last, so the ids
/// are llm.c's (Tiny Shakespeare: 338,025 tokens, as its script counts).
fn text_documents(path: &Path, mut reader: impl BufRead, mut each: impl FnMut(String) -> Result<()>) -> Result<()> {
    let mut pending: Vec<u8> = Vec::new();
    let mut offset = 0u64; // of `pending` in the file, for errors
    let mut emit = |bytes: Vec<u8>, offset: u64| -> Result<()> {
        let text = String::from_utf8(bytes).map_err(|e| {
            TrainError::format(path, format!("not UTF-8 at byte {}", offset + e.utf8_error().valid_up_to() as u64))
        })?;
        each(text)
    };
    loop {
        let chunk = reader.fill_buf().map_err(|e| TrainError::io(path, e))?;
        if chunk.is_empty() {
            break;
        }
        let searched_from = pending.len().saturating_sub(1);
        pending.extend_from_slice(chunk);
        let consumed = chunk.len();
        reader.consume(consumed);
        let mut start = 0;
        let mut at = searched_from;
        while let Some(p) = pending[at..].windows(2).position(|w| w == b"\n\n") {
            let end = at + p + 2;
            emit(pending[start..end].to_vec(), offset + start as u64)?;
            (start, at) = (end, end);
        }
        if pending.len() - start > MAX_DOCUMENT {
            // A section too long to hold: cut after its last line end.
            if let Some(p) = pending[start..].iter().rposition(|&b| b == b'\n') {
                let end = start + p + 1;
                emit(pending[start..end].to_vec(), offset + start as u64)?;
                start = end;
            }
        }
        pending.drain(..start);
        offset += start as u64;
    }
    emit(pending, offset)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::shards::Shard;
    use crate::tokenizer::train_bpe;

    fn tokenizer(dir: &Path) -> Gpt2Tokenizer {
        train_bpe(&"the cat sat on the mat; a dog ran.\n".repeat(10), 30, &dir.join("vocab")).unwrap()
    }

    fn all_ids(shards: &[PathBuf]) -> Vec<u32> {
        shards
            .iter()
            .flat_map(|p| {
                let s = Shard::open(p).unwrap();
                (0..s.len()).map(move |i| u32::from(s.token(i)))
            })
            .collect()
    }

    #[test]
    fn documents_become_eot_separated_ids_cut_into_val_then_train_shards() {
        let dir = tempfile::tempdir().unwrap();
        let tok = tokenizer(dir.path());
        let eot = tok.token_id(ENDOFTEXT).unwrap();
        let (text, jsonl) = (dir.path().join("a.txt"), dir.path().join("b.jsonl"));
        std::fs::write(&text, "the cat\nsat.\n\n\na dog ran\n\nthe mat").unwrap();
        // As Python's "…".split("\n\n") with "\n\n" put back on all but the last.
        std::fs::write(&jsonl, "{\"text\": \"a cat ran\", \"id\": 1}\n\n{\"text\": \"on the<|endoftext|>mat\"}\n")
            .unwrap();
        let documents = ["the cat\nsat.\n\n", "\na dog ran\n\n", "the mat", "a cat ran", "on the<|endoftext|>mat"];
        let want: Vec<u32> =
            documents.iter().flat_map(|d| std::iter::once(eot).chain(tok.encode_ordinary(d))).collect();
        let sizes = ShardSizes { val_tokens: 7, shard_tokens: 10 };
        let mut heard = 0;
        let out = dir.path().join("shards");
        let got = prepare(&[text, jsonl], &tok, &out, "tiny", sizes, |t| heard = t).unwrap();
        assert_eq!((got.documents, got.tokens, heard), (5, want.len() as u64, want.len() as u64));
        assert_eq!(all_ids(&got.shards), want);
        // "<|endoftext|>" written in a document is text, not a document boundary.
        assert_eq!(want.iter().filter(|&&id| id == eot).count(), 5);
        let names: Vec<String> = got.shards.iter().map(|p| p.file_name().unwrap().to_string_lossy().into()).collect();
        assert_eq!(names[..2], ["tiny_val_000000.bin", "tiny_train_000001.bin"]);
        let lens: Vec<usize> = got.shards.iter().map(|p| Shard::open(p).unwrap().len()).collect();
        assert_eq!(lens[0], 7);
        assert!(lens[1..lens.len() - 1].iter().all(|&n| n == 10) && *lens.last().unwrap() <= 10, "{lens:?}");
        // The shards are what training reads.
        let data = crate::data::TextData::shards(&out).unwrap();
        assert_eq!((data.val.len(), data.train.len()), (7, want.len() - 7));
    }

    #[test]
    fn bad_input_is_named_and_leaves_no_shard() {
        let dir = tempfile::tempdir().unwrap();
        let tok = tokenizer(dir.path());
        let sizes = ShardSizes { val_tokens: 5, shard_tokens: 100 };
        let out = dir.path().join("shards");
        let run = |name: &str, content: &str| {
            let path = dir.path().join(name);
            std::fs::write(&path, content).unwrap();
            prepare(&[path], &tok, &out, "x", sizes, |_| {}).unwrap_err().to_string()
        };
        // A bad line after good ones: an error naming its line, and no shard.
        let good = "{\"text\": \"the cat sat on the mat\"}\n".repeat(5);
        assert!(run("a.jsonl", &format!("{good}{{\"body\": \"x\"}}\n")).contains("line 6: no \"text\" string"));
        assert!(run("b.jsonl", "not json\n").contains("line 1: not JSON"));
        assert!(run("empty.txt", "").contains("holds 1 tokens"), "one document: the end of text alone");
        assert!(run("short.txt", "the cat").contains("lower --val-tokens"));
        let left: Vec<_> = std::fs::read_dir(&out).unwrap().flatten().map(|e| e.file_name()).collect();
        assert!(left.is_empty(), "{left:?}");
        let e = prepare(&[dir.path().join("missing.txt")], &tok, &out, "x", sizes, |_| {}).unwrap_err();
        assert!(e.to_string().contains("missing.txt"));
    }
}
