//! The CPU's f32 multiply-add ceiling, the number a GEMM's GFLOP/s is a share of
//! ([`kernels::cpu::ceiling::fma_peak_gflops`]), on 1 and on all threads, the best of 5 runs each.
//! `cargo run --release -p kernel-bench --bin fma_peak`.

use kernels::cpu::ceiling::fma_peak_gflops;

fn main() {
    let all = std::thread::available_parallelism().map_or(1, |n| n.get());
    for threads in [1, all] {
        let (best, name) = fma_peak_gflops(threads, 30_000_000, 5);
        println!("{name} FMA peak, {threads} thread(s): {best:.1} GFLOP/s");
    }
}
