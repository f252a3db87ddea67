//! Where a resumed run finds its data: at the recorded absolute path, or — after the data moved —
//! at the place `--data` gives, provided it is the same data (its fingerprint unchanged).

use super::config::{DataConfig, TrainConfig};
use crate::data::{fingerprint, shards};
use crate::error::{Result, TrainError};
use std::path::{Path, PathBuf};

/// Checks the data of a run about to resume and points `cfg` at `moved` when given. Errors: the
/// data is not at its recorded place (naming the flag that fixes it), `--data` on a built-in
/// task, or data whose fingerprint differs from the one recorded when the run began. Returns
/// whether `cfg` changed (a new place, or the fingerprint of a run that began without one), so the
/// caller writes it back.
pub fn check_data(cfg: &mut TrainConfig, run_dir: &Path, moved: Option<&Path>) -> Result<bool> {
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
    let place = match moved {
        Some(m) => absolute(m)?,
        None if !is_there(recorded) => {
            return Err(TrainError::Invalid(format!(
                "the run's data {} is not there; if it moved, give its new place: \
                 emergent train --resume {} --data NEW_PLACE",
                recorded.display(),
                run_dir.display()
            )))
        }
        None => recorded.clone(),
    };
    let now = fingerprint(&place)?;
    match &cfg.data_fingerprint {
        Some(then) if *then != now => Err(TrainError::Invalid(format!(
            "{} is not the data this run began on (fingerprint {now}, recorded {then}); \
             resuming on other data would not continue the same run — start a new run instead",
            place.display()
        ))),
        Some(_) if moved.is_none() => Ok(false),
        _ => {
            *recorded = place;
            cfg.data_fingerprint = Some(now);
            Ok(true)
        }
    }
}

/// Whether a text file, or at least one shard of a folder or glob, is at `path`.
fn is_there(path: &Path) -> bool {
    if shards::names_shards(path) {
        shards::find(path).is_ok_and(|(train, val)| !(train.is_empty() && val.is_empty()))
    } else {
        path.is_file()
    }
}

/// `path` from the root, as written to a run's config: resolved (`..`, links) where it exists, else
/// (a glob pattern) joined to the current directory.
pub fn absolute(path: &Path) -> Result<PathBuf> {
    path.canonicalize().or_else(|_| std::path::absolute(path)).map_err(|e| TrainError::io(path, e))
}
