//! The progress bar every long command shows: bar, position, elapsed time, ETA and a message.

use indicatif::{ProgressBar, ProgressStyle};

/// A bar over `len` steps starting at `position`; hidden unless `visible` (tests, sweeps).
pub fn progress_bar(len: u64, position: u64, visible: bool) -> ProgressBar {
    if !visible {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len).with_position(position);
    bar.set_style(
        ProgressStyle::with_template("{bar:30} {pos}/{len} [{elapsed_precise} < {eta_precise}] {msg}")
            .expect("valid template"),
    );
    bar
}
