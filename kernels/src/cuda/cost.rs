//! What each launch moves and computes, declared by the function that launches it from its
//! arguments, and the roofline that turns it into a time:
//!
//! `time = max(bytes / bandwidth, flops / peak)`,
//!
//! bytes counting each distinct byte a launch reads or writes in device memory once (caches
//! assumed perfect; what a kernel re-reads is not counted again), the peak that of the units that
//! do the arithmetic (tensor cores for bf16 or TF32 products, CUDA cores otherwise). While
//! [`record`] is on, every launch is written to a ledger that [`take_recorded`] hands over: with
//! the dry-run driver ([`super::dry_run`]) a training step's launches, shapes and memory are
//! known without a GPU.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

/// The units a launch's floating-point operations run on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub enum Math {
    /// f32 arithmetic on the CUDA cores (elementwise kernels, reductions, f32 products).
    #[default]
    CudaCores,
    /// TF32 tensor cores (f32 products with `--precision tf32`).
    Tf32TensorCores,
    /// bf16 tensor cores (bf16 operands, f32 accumulation).
    Bf16TensorCores,
}

/// One launch's traffic and arithmetic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Cost {
    /// Bytes read from device memory.
    pub read: u64,
    /// Bytes written to device memory.
    pub written: u64,
    /// Floating-point operations (a multiply-add counts 2).
    pub flops: u64,
    /// Where those operations run.
    pub math: Math,
}

impl Cost {
    /// A launch that reads `read` and writes `written` bytes.
    pub fn bytes(read: usize, written: usize) -> Self {
        Self { read: read as u64, written: written as u64, ..Self::default() }
    }

    /// A launch that reads `read` and writes `written` f32 values.
    pub fn f32s(read: usize, written: usize) -> Self {
        Self::bytes(4 * read, 4 * written)
    }

    /// The same traffic, with `flops` operations on `math`.
    pub fn with_flops(self, flops: usize, math: Math) -> Self {
        Self { flops: flops as u64, math, ..self }
    }

    /// The same launch writing `bytes` more (an optional extra output, such as a bf16 copy).
    pub fn writing(self, bytes: usize) -> Self {
        Self { written: self.written + bytes as u64, ..self }
    }

    /// Two launches' traffic and arithmetic together (on the first one's units).
    pub fn plus(self, other: Self) -> Self {
        Self {
            read: self.read + other.read,
            written: self.written + other.written,
            flops: self.flops + other.flops,
            math: self.math,
        }
    }

    /// Bytes moved in all.
    pub fn bytes_moved(&self) -> u64 {
        self.read + self.written
    }

    /// A matrix product `C (m×n) = A (m×k)·B (k×n)`, `batch` of them: A and B read (`operands`:
    /// the bytes of each, all its matrices together, one matrix where it serves the whole batch),
    /// `C` written in elements of `c_bytes` (4: f32, 2: bf16), and read first when `accumulate`;
    /// 2·batch·m·n·k operations on `math`.
    pub fn product(
        (batch, m, n, k): (usize, usize, usize, usize),
        operands: (usize, usize),
        c_bytes: usize,
        accumulate: bool,
        math: Math,
    ) -> Self {
        let c = batch * m * n * c_bytes;
        Self::bytes(operands.0 + operands.1 + if accumulate { c } else { 0 }, c).with_flops(2 * batch * m * n * k, math)
    }

    /// The bytes of a product's operand: `matrices` of `rows × cols` elements of `element_bytes`.
    pub fn operand(matrices: usize, (rows, cols): (usize, usize), element_bytes: usize) -> usize {
        matrices * rows * cols * element_bytes
    }
}

/// A device's ceilings: memory bandwidth and the arithmetic peak of each kind of unit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Roofline {
    pub name: &'static str,
    /// Device-memory bandwidth, bytes per second.
    pub bytes_per_s: f64,
    /// Dense peaks, operations per second.
    pub cuda_core_flops: f64,
    pub tf32_flops: f64,
    pub bf16_flops: f64,
}

/// NVIDIA H100 SXM5 as its datasheet gives it: HBM3 at 3.35 TB/s; dense 989 TFLOP/s bf16, 495
/// TF32, 67 f32 on the CUDA cores.
pub const H100_SXM: Roofline = Roofline {
    name: "H100 SXM (3.35 TB/s, 989 TFLOP/s bf16)",
    bytes_per_s: 3.35e12,
    cuda_core_flops: 66.9e12,
    tf32_flops: 494.7e12,
    bf16_flops: 989.4e12,
};

impl Roofline {
    /// The peak of the units `math` names.
    pub fn peak(&self, math: Math) -> f64 {
        match math {
            Math::CudaCores => self.cuda_core_flops,
            Math::Tf32TensorCores => self.tf32_flops,
            Math::Bf16TensorCores => self.bf16_flops,
        }
    }

    /// `max(bytes / bandwidth, flops / peak)`: the launch's time at the device's ceilings, in
    /// seconds (launch latency not counted).
    pub fn seconds(&self, cost: &Cost) -> f64 {
        let memory = cost.bytes_moved() as f64 / self.bytes_per_s;
        let arithmetic = cost.flops as f64 / self.peak(cost.math);
        memory.max(arithmetic)
    }

    /// Whether `cost` is bound by arithmetic (else by memory) on this device.
    pub fn compute_bound(&self, cost: &Cost) -> bool {
        cost.flops as f64 / self.peak(cost.math) > cost.bytes_moved() as f64 / self.bytes_per_s
    }
}

/// One launch as the ledger keeps it: its name (a kernel, a library call with its shape, or a
/// driver operation such as a memset) and its cost.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Launch {
    pub name: String,
    pub cost: Cost,
}

/// The launches recorded since [`record`] was turned on; `None` while off.
static LEDGER: Mutex<Option<Vec<Launch>>> = Mutex::new(None);
/// Whether [`LEDGER`] records: every launch reads it, so one not recorded takes no lock.
static RECORDING: AtomicBool = AtomicBool::new(false);

/// Starts (`on`, with an empty ledger) or stops recording every launch of this process.
pub fn record(on: bool) {
    *LEDGER.lock().unwrap_or_else(|e| e.into_inner()) = on.then(Vec::new);
    RECORDING.store(on, Ordering::Relaxed);
}

/// The launches recorded so far, in launch order, leaving the ledger empty (and still recording
/// if it was).
pub fn take_recorded() -> Vec<Launch> {
    LEDGER.lock().unwrap_or_else(|e| e.into_inner()).as_mut().map(std::mem::take).unwrap_or_default()
}

/// Writes one launch to the ledger when recording (called by every launch).
pub(crate) fn note(name: &str, cost: Cost) {
    if !RECORDING.load(Ordering::Relaxed) {
        return;
    }
    if let Some(ledger) = LEDGER.lock().unwrap_or_else(|e| e.into_inner()).as_mut() {
        ledger.push(Launch { name: name.to_string(), cost });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_roofline_takes_the_larger_bound() {
        // 1 GB moved at 3.35 TB/s: 298.5 µs; 1 TFLOP on bf16 tensor cores: 1010.7 µs.
        let cost = Cost::bytes(500_000_000, 500_000_000).with_flops(1_000_000_000_000, Math::Bf16TensorCores);
        assert!((H100_SXM.seconds(&cost) - 1e12 / 989.4e12).abs() < 1e-12);
        assert!(H100_SXM.compute_bound(&cost));
        let streaming = Cost::f32s(1 << 20, 1 << 20).with_flops(1 << 20, Math::CudaCores);
        assert!((H100_SXM.seconds(&streaming) - 8.0 * (1 << 20) as f64 / 3.35e12).abs() < 1e-15);
        assert!(!H100_SXM.compute_bound(&streaming));
    }

    #[test]
    fn a_product_counts_its_operands_and_output() {
        // 2 × (64×32 · 32×16) in bf16, f32 C accumulated: A 2·64·32·2, B 2·32·16·2 bytes, C read
        // and written 2·64·16·4 bytes each; 2·2·64·16·32 flops.
        let (a, b) = (Cost::operand(2, (64, 32), 2), Cost::operand(2, (32, 16), 2));
        let cost = Cost::product((2, 64, 16, 32), (a, b), 4, true, Math::Bf16TensorCores);
        assert_eq!(cost.read, 8192 + 2048 + 8192);
        assert_eq!(cost.written, 8192);
        assert_eq!(cost.flops, 131_072);
    }
}
