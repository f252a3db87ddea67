//! Runs that a command may start again: a folder is trained to the end, resumed where it was
//! interrupted, or reused as it is when finished. A folder trained with other settings is refused.

use super::{latest, read_metrics, TrainConfig, Trainer, CONFIG_FILE, METRICS_FILE};
use crate::error::{Result, TrainError};
use std::path::Path;
use tensor::Device;

/// Trains the run `cfg` in `dir` on `device` to its last step and returns its trainer (at that
/// step, on `device`).
pub fn train_to_end(cfg: TrainConfig, dir: &Path, device: Device, interactive: bool) -> Result<Trainer> {
    if latest(dir)?.is_none() {
        let mut trainer = Trainer::new(cfg, dir, None)?;
        trainer.to_device(device)?;
        trainer.interactive = interactive;
        trainer.run(None)?;
        return Ok(trainer);
    }
    let path = dir.join(CONFIG_FILE);
    let text = std::fs::read_to_string(&path).map_err(|e| TrainError::io(&path, e))?;
    let stored: TrainConfig = serde_json::from_str(&text).map_err(|e| TrainError::format(&path, e.to_string()))?;
    if stored != cfg {
        return Err(TrainError::Invalid(format!(
            "{} was trained with other settings; choose another --out or delete the folder",
            dir.display()
        )));
    }
    let mut trainer = Trainer::resume(dir, None, None)?;
    trainer.to_device(device)?;
    trainer.interactive = interactive;
    let finished = read_metrics(&dir.join(METRICS_FILE))?.last().is_some_and(|r| r.step >= cfg.steps);
    if !finished {
        trainer.run(None)?;
    }
    Ok(trainer)
}
