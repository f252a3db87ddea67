//! The machine's own ceilings, measured, that a kernel's throughput is a share of: the f32
//! multiply-add peak (12 independent accumulators — enough to hide the FMA latency — updated in a
//! loop with no memory traffic, with the widest FMA this CPU runs) and the memory bandwidth of a
//! streaming update over buffers far larger than the caches.

use rayon::prelude::*;
use std::time::Instant;

const ACCUMULATORS: usize = 12;

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::ACCUMULATORS;
    use std::arch::x86_64::*;

    /// `acc ← acc·a + b`, `rounds` times on each of 12 zmm registers (16 lanes): 2 flops a lane.
    #[target_feature(enable = "avx512f")]
    pub unsafe fn avx512(rounds: u64) -> (f32, u64) {
        let (a, b) = (_mm512_set1_ps(1.000_000_1), _mm512_set1_ps(0.999_999_9));
        let mut acc = [_mm512_setzero_ps(); ACCUMULATORS];
        for _ in 0..rounds {
            for x in &mut acc {
                *x = _mm512_fmadd_ps(*x, a, b);
            }
        }
        (acc.iter().map(|&x| _mm512_reduce_add_ps(x)).sum(), 16)
    }

    /// The same on ymm registers (8 lanes).
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn avx2(rounds: u64) -> (f32, u64) {
        let (a, b) = (_mm256_set1_ps(1.000_000_1), _mm256_set1_ps(0.999_999_9));
        let mut acc = [_mm256_setzero_ps(); ACCUMULATORS];
        for _ in 0..rounds {
            for x in &mut acc {
                *x = _mm256_fmadd_ps(*x, a, b);
            }
        }
        let mut lanes = [0f32; 8];
        let mut sum = 0.0;
        for x in acc {
            _mm256_storeu_ps(lanes.as_mut_ptr(), x);
            sum += lanes.iter().sum::<f32>();
        }
        (sum, 8)
    }
}

/// `rounds` multiply-adds on each of 12 accumulators of single lanes: the portable fallback.
fn scalar(rounds: u64) -> (f32, u64) {
    let mut acc = [0f32; ACCUMULATORS];
    for _ in 0..rounds {
        for x in &mut acc {
            *x = x.mul_add(1.000_000_1, 0.999_999_9);
        }
    }
    (acc.iter().sum(), 1)
}

/// The FMA loop this CPU runs best, and its name.
#[allow(clippy::type_complexity)]
fn widest_fma() -> (&'static str, fn(u64) -> (f32, u64)) {
    #[cfg(target_arch = "x86_64")]
    {
        use crate::cpu::isa::{isa, Isa};
        match isa() {
            // Safety: the CPU has AVX-512F (detected by `isa`).
            Isa::Avx512 => return ("AVX-512", |rounds| unsafe { x86::avx512(rounds) }),
            // Safety: the CPU has AVX2 and FMA (detected by `isa`).
            Isa::Avx2 => return ("AVX2+FMA", |rounds| unsafe { x86::avx2(rounds) }),
            Isa::Portable => {}
        }
    }
    ("scalar", scalar)
}

/// The f32 multiply-add peak in GFLOP/s on `threads` threads (the best of `runs`), and the
/// instruction set it used. `rounds` multiply-adds per accumulator and thread (30 million take
/// about a quarter of a second on a 3 GHz core).
pub fn fma_peak_gflops(threads: usize, rounds: u64, runs: usize) -> (f64, &'static str) {
    let (name, fma) = widest_fma();
    let best = (0..runs.max(1))
        .map(|_| {
            let start = Instant::now();
            let results: Vec<(f32, u64)> = std::thread::scope(|s| {
                let handles: Vec<_> = (0..threads.max(1)).map(|_| s.spawn(move || fma(rounds))).collect();
                handles.into_iter().map(|h| h.join().expect("FMA thread")).collect()
            });
            // The sums are used, so the loops cannot be optimised away.
            std::hint::black_box(results.iter().map(|r| r.0).sum::<f32>());
            let lanes: u64 = results.iter().map(|r| r.1).sum();
            (lanes * rounds * ACCUMULATORS as u64 * 2) as f64 / start.elapsed().as_secs_f64() / 1e9
        })
        .fold(0.0, f64::max);
    (best, name)
}

/// The memory bandwidth in GB/s that streaming kernels can reach: `y ← y + x` over two buffers of
/// `bytes / 2` each (far past the last-level cache: 256 MiB in all is safe) on the current rayon
/// pool, counting what each element moves — x and y read, y written, 12 bytes — the best of `runs`.
/// (A plain copy would hide the read a cache makes before it writes a line, so the update is the
/// fairer ceiling for kernels that read what they write, as most fused kernels do.)
pub fn stream_bandwidth_gbps(bytes: usize, runs: usize) -> f64 {
    let n = (bytes / 8).max(1);
    let x: Vec<f32> = (0..n).map(|i| (i % 1024) as f32).collect();
    let mut y: Vec<f32> = (0..n).map(|i| (i % 512) as f32).collect();
    let chunk = n.div_ceil(rayon::current_num_threads() * 4).max(1 << 14);
    (0..runs.max(1))
        .map(|_| {
            let start = Instant::now();
            y.par_chunks_mut(chunk).zip(x.par_chunks(chunk)).for_each(|(y, x)| {
                y.iter_mut().zip(x).for_each(|(y, x)| *y += x);
            });
            std::hint::black_box(&y);
            (12 * n) as f64 / start.elapsed().as_secs_f64() / 1e9
        })
        .fold(0.0, f64::max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ceilings_are_measured() {
        let (one, name) = fma_peak_gflops(1, 2_000_000, 3);
        assert!(one > 0.5, "{name}: {one} GFLOP/s");
        assert!(stream_bandwidth_gbps(1 << 24, 2) > 0.1);
    }
}
