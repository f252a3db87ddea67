//! Where a resumed run finds its data: at the recorded absolute path, or — after the data moved —
//! at the place `--data` gives, provided it is the same data (its fingerprint unchanged).

use super::config::{DataConfig, TrainConfig};
use crate::data::shards;
use crate::error::{Result, TrainError};
use std::path::{Path, PathBuf};

/// Points `cfg` at `moved` when given (returning true: the config changed). Errors: `--data` on a
/// built-in task, or no data at the recorded place (naming the flag that fixes it).
pub fn locate(cfg: &mut TrainConfig, run_dir: &Path, moved: Option<&Path>) -> Result<bool> {
    let recorded: &mut PathBuf = match &mut cfg.data {
        DataConfig::Text { path, .. } | DataConfig::Shards { path, .. } => path,
        _ => {
            return match moved {
                Some(m) => Err(TrainError::Invalid(format!(
                    "--data {}: the run in {} trains on a built-in task, not on data from files",
                    m.display(),
                    run_dir.display()
                ))),
                None => Ok(false),
            };
        }
    };
    match moved {
        Some(m) => {
            *recorded = absolute(m)?;
            Ok(true)
        }
        None if !is_there(recorded) => Err(TrainError::Invalid(format!(
            "the run's data {} is not there; if it moved, give its new place: \
             emergent train --resume {} --data NEW_PLACE",
            recorded.display(),
            run_dir.display()
        ))),
        None => Ok(false),
    }
}

/// Checks the loaded data's fingerprint `now` against the one recorded when the run began (a
/// run that began without one records it: returns true, the config changed). Other data is an
/// error: the run would not continue the same stream.
pub fn check_same_data(cfg: &mut TrainConfig, now: Option<&str>) -> Result<bool> {
    match (&cfg.data_fingerprint, now) {
        (Some(then), Some(now)) if then != now => Err(TrainError::Invalid(format!(
            "{} is not the data this run began on (fingerprint {now}, recorded {then}); \
             resuming on other data would not continue the same run — start a new run instead",
            cfg.data.path().map_or(String::new(), |p| p.display().to_string())
        ))),
        (None, Some(now)) => {
            cfg.data_fingerprint = Some(now.to_string());
            Ok(true)
        }
        _ => Ok(false),
    }
}

/// Whether a text file, or the shards of a folder or glob, are at `path`.
fn is_there(path: &Path) -> bool {
    if shards::names_shards(path) {
        shards::find(path).is_ok()
    } else {
        path.is_file()
    }
}

/// `path` from the root, as written to a run's config: resolved (`..`, links) where it exists, else
/// (a glob pattern) joined to the current directory.
pub fn absolute(path: &Path) -> Result<PathBuf> {
    path.canonicalize().or_else(|_| std::path::absolute(path)).map_err(|e| TrainError::io(path, e))
}
