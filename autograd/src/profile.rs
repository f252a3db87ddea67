//! A per-op profiler for the autograd graph: where does a training step spend its time?
//!
//! While a [`Profile`] is running on a thread, every recorded op adds to a table keyed by
//! `(op name, pass)`:
//! - **forward**: the wall time since the previous recorded op on this thread ended (or since the
//!   profile started). Ops run one after another, so this is the op's own time plus any glue code
//!   between two ops (reshapes that record nothing, constants such as masks built inside the op).
//! - **backward**: the time of the op's backward closure, and separately the time spent summing
//!   gradients that reach one value along several paths (`"accumulate"`).
//!
//! Ops that run with gradients off (inference, the optimizer) record nothing.
//!
//! On a GPU, ops only queue work; while profiling, each recorded op waits for its device to finish
//! (which serialises host and device), so the table holds device time.

use std::cell::RefCell;
use std::collections::HashMap;
use std::time::{Duration, Instant};
use tensor::Device;

/// Which half of a training step an entry measures.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Pass {
    Forward,
    Backward,
}

/// One row of the table: the total time and the number of calls of one op in one pass.
#[derive(Clone, Debug, PartialEq)]
pub struct OpTime {
    pub name: &'static str,
    pub pass: Pass,
    pub calls: usize,
    pub total: Duration,
}

struct Recorder {
    last_mark: Instant,
    table: HashMap<(&'static str, Pass), (usize, Duration)>,
}

impl Recorder {
    /// One more call of `(name, pass)` taking `time`.
    fn charge(&mut self, name: &'static str, pass: Pass, time: Duration) {
        let entry = self.table.entry((name, pass)).or_default();
        entry.0 += 1;
        entry.1 += time;
    }
}

thread_local! {
    static RECORDER: RefCell<Option<Recorder>> = const { RefCell::new(None) };
}

/// A running profile on the current thread; [`Profile::finish`] returns the table.
pub struct Profile(());

impl Profile {
    /// Starts recording on this thread (discarding any profile already running here).
    pub fn start() -> Profile {
        RECORDER.with(|r| *r.borrow_mut() = Some(Recorder { last_mark: Instant::now(), table: HashMap::new() }));
        Profile(())
    }

    /// Charges the time until now to no op: call it where a forward pass starts, so the first op
    /// does not absorb what ran since the last one (the previous step's backward, the optimizer).
    pub fn restart_forward_clock(&self) {
        with_recorder(|rec| rec.last_mark = Instant::now());
    }

    /// Stops recording; the rows, slowest first.
    pub fn finish(self) -> Vec<OpTime> {
        let recorder = RECORDER.with(|r| r.borrow_mut().take());
        let mut rows: Vec<OpTime> = recorder
            .map(|r| r.table)
            .unwrap_or_default()
            .into_iter()
            .map(|((name, pass), (calls, total))| OpTime { name, pass, calls, total })
            .collect();
        rows.sort_by(|a, b| b.total.cmp(&a.total).then(a.name.cmp(b.name)));
        rows
    }
}

impl Drop for Profile {
    fn drop(&mut self) {
        RECORDER.with(|r| r.borrow_mut().take());
    }
}

/// Runs `f` on this thread's recorder, if a profile is running.
fn with_recorder(f: impl FnOnce(&mut Recorder)) {
    RECORDER.with(|r| {
        if let Some(rec) = r.borrow_mut().as_mut() {
            f(rec);
        }
    });
}

fn is_running() -> bool {
    RECORDER.with(|r| r.borrow().is_some())
}

/// Waits for `device` to finish its queued work (a GPU's ops run asynchronously), when profiling.
fn settle(device: Device) {
    if device != Device::Cpu && is_running() {
        // A failing device fails the next op too, which reports it; the profile only needs the wait.
        let _ = tensor::synchronize(device);
    }
}

/// Called when a forward op has computed its value on `device`: charges the time since the last
/// mark.
pub(crate) fn forward_op_done(name: &'static str, device: Device) {
    settle(device);
    with_recorder(|rec| {
        let now = Instant::now();
        let since_last_op = now - rec.last_mark;
        rec.charge(name, Pass::Forward, since_last_op);
        rec.last_mark = now;
    });
}

/// Runs `f` (work on `device`) and, when profiling, charges its time to `(name, Backward)`.
pub(crate) fn time_backward<R>(name: &'static str, device: Device, f: impl FnOnce() -> R) -> R {
    if !is_running() {
        return f();
    }
    let started = Instant::now();
    let result = f();
    settle(device);
    let took = started.elapsed();
    with_recorder(|rec| rec.charge(name, Pass::Backward, took));
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Var;
    use tensor::{DType, Tensor};

    #[test]
    fn counts_every_recorded_op_in_both_passes() {
        let x = Var::new(Tensor::full(&[4, 4], 1.5, DType::F32), true);
        let profile = Profile::start();
        let y = x.matmul(&x).unwrap().relu().unwrap().sum_all().unwrap();
        y.backward().unwrap();
        let rows = profile.finish();
        let calls = |name: &str, pass: Pass| rows.iter().find(|r| r.name == name && r.pass == pass).map(|r| r.calls);
        for name in ["matmul", "relu", "sum"] {
            assert_eq!(calls(name, Pass::Forward), Some(1), "{name} forward in {rows:?}");
            assert_eq!(calls(name, Pass::Backward), Some(1), "{name} backward in {rows:?}");
        }
        // x is used twice by the matmul: its two gradients are summed once.
        assert_eq!(calls("accumulate", Pass::Backward), Some(1), "{rows:?}");
        // Nothing is recorded once the profile is finished.
        x.matmul(&x).unwrap();
        assert!(!is_running());
    }
}
