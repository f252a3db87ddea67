//! The progress bar every long command shows: bar, position, elapsed time, ETA and a message.

use indicatif::{ProgressBar, ProgressStyle};

/// A bar over `len` steps starting at `position`; hidden unless `visible` (tests, sweeps). The
/// ETA counts only the steps this process takes: a resumed run's earlier steps are not taken as
/// done in no time.
pub fn progress_bar(len: u64, position: u64, visible: bool) -> ProgressBar {
    if !visible {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len);
    bar.set_style(
        ProgressStyle::with_template("{bar:30} {pos}/{len} [{elapsed_precise} < {eta_precise}] {msg}")
            .expect("valid template"),
    );
    start_at(&bar, position);
    bar
}

/// Prints `line` above the bar, or, where the bar is not drawn (output to a pipe or a file, as under
/// `nohup` or a cluster's scheduler), on standard output as a line of its own.
pub fn say(bar: &ProgressBar, line: &str) {
    if bar.is_hidden() {
        println!("{line}");
    } else {
        bar.println(line);
    }
}

/// Moves the bar to `position` and forgets that move in the rate estimate.
fn start_at(bar: &ProgressBar, position: u64) {
    bar.set_position(position);
    bar.tick(); // records the position in the estimator (set_position may be rate-limited)
    bar.reset_eta();
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_resumed_run_estimates_its_remaining_steps_from_its_own_pace() {
        // Resumed at 900 of 1000, then 5 steps of 10 ms: about 95 × 10 ms remain. Counting the 900
        // earlier steps as done at once gave an ETA of zero.
        let bar = ProgressBar::with_draw_target(Some(1000), indicatif::ProgressDrawTarget::hidden());
        start_at(&bar, 900);
        for step in 901..=905 {
            std::thread::sleep(Duration::from_millis(10));
            bar.set_position(step);
            bar.tick();
        }
        let eta = bar.eta();
        assert!(eta >= Duration::from_millis(500), "ETA {eta:?}");
    }
}
