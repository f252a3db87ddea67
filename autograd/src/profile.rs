//! A per-op profiler for the autograd graph: where does a training step spend its time?
//!
//! While a [`Profile`] is running on a thread, every recorded op adds to a table keyed by
//! `(op name, pass, input shapes)`, with the op's floating-point operations where they are known
//! (matrix products: `2·m·n·k` forward, twice that backward, for the two gradient products):
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

/// One row of the table: the total time, the number of calls and the floating-point operations
/// (0 where not counted) of one op in one pass at one set of input shapes.
#[derive(Clone, Debug, PartialEq)]
pub struct OpTime {
    pub name: &'static str,
    pub pass: Pass,
    /// The inputs' shapes, e.g. `2048×384 · 384×1152 · 1152`.
    pub shapes: String,
    pub calls: usize,
    pub total: Duration,
    pub flops: f64,
}

impl OpTime {
    /// Floating-point operations per second over the row's calls, where they are counted.
    pub fn gflops(&self) -> Option<f64> {
        (self.flops > 0.0).then(|| self.flops / self.total.as_secs_f64().max(f64::MIN_POSITIVE) / 1e9)
    }
}

type Key = (&'static str, Pass, String);

struct Recorder {
    last_mark: Instant,
    table: HashMap<Key, (usize, Duration, f64)>,
}

impl Recorder {
    /// One more call of `(name, pass)` on inputs of `shapes`, taking `time`.
    fn charge(&mut self, name: &'static str, pass: Pass, shapes: &[Vec<usize>], time: Duration) {
        let flops = op_flops(name, shapes).map_or(0.0, |f| if pass == Pass::Backward { 2.0 * f } else { f });
        let entry = self.table.entry((name, pass, shapes_text(shapes))).or_default();
        entry.0 += 1;
        entry.1 += time;
        entry.2 += flops;
    }
}

/// `2048×384 · 384×1152`.
fn shapes_text(shapes: &[Vec<usize>]) -> String {
    let one = |s: &Vec<usize>| s.iter().map(usize::to_string).collect::<Vec<_>>().join("×");
    shapes.iter().map(one).collect::<Vec<_>>().join(" · ")
}

/// The forward floating-point operations of the ops whose count the profile knows: a matrix
/// product `(…, m, k)·(…, k, n)` is `2·batch·m·n·k`; a linear layer `x (…, in)·W (in, out) + b` is
/// `2·rows·in·out` (its bias add left out).
fn op_flops(name: &str, shapes: &[Vec<usize>]) -> Option<f64> {
    let lead = |s: &Vec<usize>, keep: usize| s[..s.len().saturating_sub(keep)].iter().product::<usize>() as f64;
    match (name, shapes) {
        ("matmul", [a, b]) if a.len() >= 2 && b.len() >= 2 => {
            let (m, k, n) = (a[a.len() - 2], a[a.len() - 1], b[b.len() - 1]);
            Some(2.0 * lead(a, 2).max(lead(b, 2)) * (m * k * n) as f64)
        }
        ("linear", [x, w, ..]) if !x.is_empty() && w.len() == 2 => {
            Some(2.0 * lead(x, 1) * (x[x.len() - 1] * w[1]) as f64)
        }
        _ => None,
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
            .map(|((name, pass, shapes), (calls, total, flops))| OpTime { name, pass, shapes, calls, total, flops })
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

/// Called when a forward op on inputs of `shapes` (asked for only while profiling) has computed its
/// value on `device`: charges the time since the last mark.
pub(crate) fn forward_op_done(name: &'static str, shapes: impl FnOnce() -> Vec<Vec<usize>>, device: Device) {
    if !is_running() {
        return;
    }
    settle(device);
    let shapes = shapes();
    with_recorder(|rec| {
        let now = Instant::now();
        let since_last_op = now - rec.last_mark;
        rec.charge(name, Pass::Forward, &shapes, since_last_op);
        rec.last_mark = now;
    });
}

/// Runs `f` (work on `device`) and, when profiling, charges its time to `(name, Backward)` at the
/// op's input `shapes`.
pub(crate) fn time_backward<R>(
    name: &'static str,
    shapes: impl FnOnce() -> Vec<Vec<usize>>,
    device: Device,
    f: impl FnOnce() -> R,
) -> R {
    if !is_running() {
        return f();
    }
    let started = Instant::now();
    let result = f();
    settle(device);
    let took = started.elapsed();
    let shapes = shapes();
    with_recorder(|rec| rec.charge(name, Pass::Backward, &shapes, took));
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
        // Rows carry the input shapes, and a matrix product its flops: 2·4·4·4 forward, twice that
        // backward (dA and dB).
        let matmul = |pass| rows.iter().find(|r| r.name == "matmul" && r.pass == pass).unwrap();
        assert_eq!(matmul(Pass::Forward).shapes, "4×4 · 4×4");
        assert_eq!((matmul(Pass::Forward).flops, matmul(Pass::Backward).flops), (128.0, 256.0));
        assert!(matmul(Pass::Forward).gflops().unwrap() > 0.0);
        assert_eq!(rows.iter().find(|r| r.name == "relu").unwrap().flops, 0.0, "not counted");
        // Nothing is recorded once the profile is finished.
        x.matmul(&x).unwrap();
        assert!(!is_running());
    }
}
