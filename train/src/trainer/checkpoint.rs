//! Training checkpoints: the model in HF format, the optimizer state, the step. Each is written into
//! `checkpoints/step-NNNNNNN.tmp/`, renamed to `step-NNNNNNN/` when complete, and only then named in
//! `checkpoints/latest` (itself replaced atomically) — a kill at any moment leaves the last good
//! checkpoint intact. A checkpoint with a non-finite value is never written, the newest `keep`
//! are kept, and a resume that cannot load the newest falls back to the one before.

use crate::error::{Result, TrainError};
use model::checkpoint::{read_safetensors, write_atomically, write_safetensors};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use tensor::Tensor;

pub const OPTIMIZER_FILE: &str = "optimizer.safetensors";
pub const STATE_FILE: &str = "trainer.json";

/// The trainer's own state beside the model and optimizer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainerState {
    /// Steps completed.
    pub step: u64,
    pub optimizer_steps: u64,
    pub best_val_loss: Option<f64>,
    pub evals_since_best: u64,
}

fn checkpoints_dir(run: &Path) -> PathBuf {
    run.join("checkpoints")
}

/// The folder of the latest complete checkpoint of a run, if any.
pub fn latest(run: &Path) -> Result<Option<PathBuf>> {
    let pointer = checkpoints_dir(run).join("latest");
    match std::fs::read_to_string(&pointer) {
        Ok(name) => {
            let dir = checkpoints_dir(run).join(name.trim());
            if !dir.join(STATE_FILE).exists() {
                return Err(TrainError::format(
                    &pointer,
                    format!("names {}, which is not a complete checkpoint", dir.display()),
                ));
            }
            Ok(Some(dir))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(TrainError::io(&pointer, e)),
    }
}

/// The checkpoint folder a path names: a run folder's latest checkpoint, or the folder itself.
pub fn checkpoint_dir(path: &Path) -> Result<PathBuf> {
    match latest(path)? {
        Some(dir) => Ok(dir),
        None if path.join(model::gpt2::CONFIG_FILE).exists() => Ok(path.to_path_buf()),
        None => Err(TrainError::Invalid(format!(
            "{} is neither a run folder with checkpoints nor a checkpoint folder (no config.json)",
            path.display()
        ))),
    }
}

/// The first of `tensors` holding a NaN or an infinity, by name.
pub fn first_non_finite<'a>(tensors: impl IntoIterator<Item = (&'a str, &'a Tensor)>) -> Result<Option<String>> {
    for (name, t) in tensors {
        if !t.all_finite()? {
            return Ok(Some(name.to_string()));
        }
    }
    Ok(None)
}

/// Writes a checkpoint: `save_model` fills the folder with the HF files; then optimizer state and
/// trainer state; then the folder is published and all but the newest `keep` removed.
pub fn save(
    run: &Path,
    state: &TrainerState,
    optimizer_state: &[(String, Tensor)],
    keep: usize,
    save_model: impl FnOnce(&Path) -> Result<()>,
) -> Result<PathBuf> {
    let dir = checkpoints_dir(run);
    let name = step_name(state.step);
    let done = dir.join(&name);
    write_folder_atomically(&done, |tmp| {
        save_model(tmp)?;
        write_safetensors(&tmp.join(OPTIMIZER_FILE), optimizer_state, None)?;
        let json = serde_json::to_string_pretty(state).expect("state serialises");
        Ok(write_atomically(&tmp.join(STATE_FILE), json.as_bytes())?)
    })?;
    write_atomically(&dir.join("latest"), name.as_bytes())?;
    // Older checkpoints past the newest `keep`, and temp folders of interrupted saves.
    for old in published(run)?.into_iter().skip(keep.max(1)) {
        let _ = std::fs::remove_dir_all(old);
    }
    for entry in std::fs::read_dir(&dir).map_err(|e| TrainError::io(&dir, e))?.flatten() {
        if entry.file_name().to_string_lossy().ends_with(".tmp") && entry.path().is_dir() {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
    Ok(done)
}

fn step_name(step: u64) -> String {
    format!("step-{step:07}")
}

/// The run's complete checkpoint folders, newest first.
pub fn published(run: &Path) -> Result<Vec<PathBuf>> {
    let dir = checkpoints_dir(run);
    let entries = match std::fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(TrainError::io(&dir, e)),
    };
    let mut steps: Vec<(u64, PathBuf)> = entries
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().to_string();
            let step = name.strip_prefix("step-")?.parse().ok()?;
            e.path().join(STATE_FILE).exists().then(|| (step, e.path()))
        })
        .collect();
    steps.sort_by_key(|s| std::cmp::Reverse(s.0));
    Ok(steps.into_iter().map(|(_, p)| p).collect())
}

/// The checkpoints a resume may start from, in the order to try them: the one `latest` names,
/// then every other complete one, newest first.
pub fn resume_candidates(run: &Path) -> Result<Vec<PathBuf>> {
    let named = latest(run).ok().flatten();
    let mut out: Vec<PathBuf> = named.iter().cloned().collect();
    out.extend(published(run)?.into_iter().filter(|p| Some(p) != named.as_ref()));
    Ok(out)
}

/// Fills the folder `dir` as a whole: `fill` writes into `dir.tmp`, which is renamed to `dir` once
/// complete (an older `dir` is removed just before). A reader never sees a half-written folder
/// under the final name.
pub fn write_folder_atomically(dir: &Path, fill: impl FnOnce(&Path) -> Result<()>) -> Result<()> {
    let tmp = dir.with_extension("tmp");
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).map_err(|e| TrainError::io(&tmp, e))?;
    }
    std::fs::create_dir_all(&tmp).map_err(|e| TrainError::io(&tmp, e))?;
    fill(&tmp)?;
    if dir.exists() {
        std::fs::remove_dir_all(dir).map_err(|e| TrainError::io(dir, e))?;
    }
    std::fs::rename(&tmp, dir).map_err(|e| TrainError::io(dir, e))
}

/// Reads the optimizer and trainer state of a checkpoint folder.
pub fn load_state(dir: &Path) -> Result<(TrainerState, BTreeMap<String, Tensor>)> {
    let path = dir.join(STATE_FILE);
    let text = std::fs::read_to_string(&path).map_err(|e| TrainError::io(&path, e))?;
    let state: TrainerState =
        serde_json::from_str(&text).map_err(|e| TrainError::format(&path, format!("not a trainer state: {e}")))?;
    Ok((state, read_safetensors(&dir.join(OPTIMIZER_FILE))?))
}
