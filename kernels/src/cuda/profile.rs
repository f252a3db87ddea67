//! Device time per kernel: while profiling is on, every launch made through [`Gpu::launch`] is
//! bracketed by two events on the device's stream, and [`Gpu::kernel_times`] sums the elapsed
//! times by kernel name. The launches stay asynchronous (the events are read at the end), so the
//! table shows where the device's time goes without the per-op waits of the autograd profiler.

use super::cost::Cost;
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

/// A matrix product's name in the profile: the library call and its row-major shape
/// `C (m × n) = A (m × k)·B (k × n)`, `batch` of them, so the table tells the products apart.
pub fn product_name(call: &str, (batch, m, n, k): (usize, usize, usize, usize)) -> String {
    let batch = if batch > 1 { format!("{batch} × ") } else { String::new() };
    format!("{call} {batch}{m}×{n}×{k}")
}

/// The floating-point operations of one call named by [`product_name`] (2·batch·m·n·k), or `None`
/// for a name that is not a product's.
pub fn product_flops(name: &str) -> Option<f64> {
    let dims: Vec<f64> = name.rsplit(' ').next()?.split('×').map(|d| d.parse().ok()).collect::<Option<_>>()?;
    let [m, n, k] = dims[..] else { return None };
    let batch = match name.rsplit(" × ").nth(1) {
        Some(before) => before.rsplit(' ').next()?.parse().ok()?,
        None => 1.0,
    };
    Some(2.0 * batch * m * n * k)
}

impl Gpu {
    /// Starts or stops timing each launch (see the module docs).
    pub fn profile_kernels(&self, on: bool) {
        self.clock.on.store(on, Ordering::Relaxed);
    }

    /// Runs `launch`, one kernel or library call named `name` that moves and computes `cost`
    /// (written to the launch ledger when recording, [`super::cost`]), between two events when
    /// profiling. An event that cannot be made or recorded leaves that launch untimed.
    pub fn launch<R, E>(&self, name: &str, cost: Cost, launch: impl FnOnce() -> Result<R, E>) -> Result<R, E> {
        super::cost::note(name, cost);
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

#[cfg(test)]
mod tests {
    use super::{product_flops, product_name};

    #[test]
    fn product_names_give_back_their_flops() {
        let name = product_name("cuBLASLt bf16 gemm + bias", (1, 16384, 2304, 768));
        assert_eq!(name, "cuBLASLt bf16 gemm + bias 16384×2304×768");
        assert_eq!(product_flops(&name), Some(2.0 * 16384.0 * 2304.0 * 768.0));
        let batched = product_name("cuBLAS f32 gemm", (12, 64, 64, 32));
        assert_eq!(batched, "cuBLAS f32 gemm 12 × 64×64×32");
        assert_eq!(product_flops(&batched), Some(2.0 * 12.0 * 64.0 * 64.0 * 32.0));
        for not_a_product in ["f32_to_bf16", "cuBLAS bf16 gemm", "adamw 3×4", "x 1×2×y"] {
            assert_eq!(product_flops(not_a_product), None, "{not_a_product}");
        }
    }
}
