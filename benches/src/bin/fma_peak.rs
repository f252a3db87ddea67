//! The CPU's f32 multiply-add ceiling, the number a GEMM's GFLOP/s is a share of: 12 independent
//! accumulators (enough to hide the FMA latency) updated in a loop with no memory traffic, on 1 and
//! on all threads, with the widest FMA this CPU runs (AVX-512, else AVX2). Prints GFLOP/s, the
//! best of 5 runs each. `cargo run --release -p benches --bin fma_peak`.

use std::time::Instant;

/// Fused multiply-adds per accumulator and run.
const ROUNDS: u64 = 30_000_000;
const ACCUMULATORS: usize = 12;

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::{ACCUMULATORS, ROUNDS};
    use std::arch::x86_64::*;

    /// `acc ← acc·a + b`, ROUNDS times on each of 12 zmm registers (16 lanes): 2 flops a lane.
    #[target_feature(enable = "avx512f")]
    pub unsafe fn avx512() -> (f32, u64) {
        let (a, b) = (_mm512_set1_ps(1.000_000_1), _mm512_set1_ps(0.999_999_9));
        let mut acc = [_mm512_setzero_ps(); ACCUMULATORS];
        for _ in 0..ROUNDS {
            for x in &mut acc {
                *x = _mm512_fmadd_ps(*x, a, b);
            }
        }
        (acc.iter().map(|&x| _mm512_reduce_add_ps(x)).sum(), 16)
    }

    /// The same on ymm registers (8 lanes).
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn avx2() -> (f32, u64) {
        let (a, b) = (_mm256_set1_ps(1.000_000_1), _mm256_set1_ps(0.999_999_9));
        let mut acc = [_mm256_setzero_ps(); ACCUMULATORS];
        for _ in 0..ROUNDS {
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

/// The FMA loop this CPU runs best, its name, and the lanes of one FMA; `None` without AVX2+FMA.
#[allow(clippy::type_complexity)]
fn widest_fma() -> Option<(&'static str, unsafe fn() -> (f32, u64))> {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            return Some(("AVX-512", x86::avx512));
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
            return Some(("AVX2+FMA", x86::avx2));
        }
    }
    None
}

fn main() {
    let Some((name, fma)) = widest_fma() else {
        eprintln!("fma_peak: this CPU has neither AVX-512 nor AVX2+FMA");
        std::process::exit(1);
    };
    let all = std::thread::available_parallelism().map_or(1, |n| n.get());
    for threads in [1, all] {
        let best = (0..5)
            .map(|_| {
                let start = Instant::now();
                let runs: Vec<_> = (0..threads)
                    // Safety: `widest_fma` checked that this CPU has the loop's instructions.
                    .map(|_| std::thread::spawn(move || unsafe { fma() }))
                    .collect();
                let results: Vec<(f32, u64)> = runs.into_iter().map(|r| r.join().expect("FMA thread")).collect();
                // The sums are used, so the loops cannot be optimised away.
                std::hint::black_box(results.iter().map(|r| r.0).sum::<f32>());
                let lanes: u64 = results.iter().map(|r| r.1).sum();
                (lanes * ROUNDS * ACCUMULATORS as u64 * 2) as f64 / start.elapsed().as_secs_f64() / 1e9
            })
            .fold(0.0, f64::max);
        println!("{name} FMA peak, {threads} thread(s): {best:.1} GFLOP/s");
    }
}
