//! Device time per kernel: while profiling is on, every launch made through [`Gpu::timed`] is
//! bracketed by two events on the device's stream, and [`Gpu::kernel_times`] sums the elapsed
//! times by kernel name. The launches stay asynchronous (the events are read at the end), so the
//! table shows where the device's time goes without the per-op waits of the autograd profiler.

use super::{CudaError, Gpu};
use cudarc::driver::sys::CUevent_flags;
use cudarc::driver::CudaEvent;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

/// The device time of one kernel (or library call) over the profiled launches.
#[derive(Debug, Clone, PartialEq)]
pub struct KernelTime {
    pub name: String,
    pub launches: usize,
    pub ms: f64,
}

/// What a [`Gpu`] keeps while profiling: the launches' events, not yet read.
#[derive(Default)]
pub(crate) struct KernelClock {
    on: AtomicBool,
    pending: Mutex<Vec<(String, CudaEvent, CudaEvent)>>,
}

impl Gpu {
    /// Starts or stops timing each launch (see the module docs).
    pub fn profile_kernels(&self, on: bool) {
        self.clock.on.store(on, Ordering::Relaxed);
    }

    /// Runs `launch`, one kernel or library call named `name`, between two events when profiling.
    /// An event that cannot be made or recorded leaves that launch untimed.
    pub fn timed<R, E>(&self, name: &str, launch: impl FnOnce() -> Result<R, E>) -> Result<R, E> {
        if !self.clock.on.load(Ordering::Relaxed) {
            return launch();
        }
        let event = || {
            let e = self.ctx.new_event(Some(CUevent_flags::CU_EVENT_DEFAULT)).ok()?;
            e.record(&self.stream).ok().map(|_| e)
        };
        let start = event();
        let result = launch()?;
        if let (Some(start), Some(end)) = (start, event()) {
            self.clock.pending.lock().unwrap_or_else(|e| e.into_inner()).push((name.to_string(), start, end));
        }
        Ok(result)
    }

    /// The device time of each kernel launched since profiling started (or since the last call),
    /// slowest first; waits for the device.
    pub fn kernel_times(&self) -> Result<Vec<KernelTime>, CudaError> {
        self.synchronize()?;
        let pending = std::mem::take(&mut *self.clock.pending.lock().unwrap_or_else(|e| e.into_inner()));
        let mut by_name: HashMap<String, KernelTime> = HashMap::new();
        for (name, start, end) in pending {
            let ms = start.elapsed_ms(&end).map_err(|e| CudaError::Driver(format!("timing {name}: {e:?}")))?;
            let entry = by_name.entry(name.clone()).or_insert(KernelTime { name, launches: 0, ms: 0.0 });
            entry.launches += 1;
            entry.ms += ms as f64;
        }
        let mut times: Vec<KernelTime> = by_name.into_values().collect();
        times.sort_by(|a, b| b.ms.total_cmp(&a.ms).then_with(|| a.name.cmp(&b.name)));
        Ok(times)
    }
}
