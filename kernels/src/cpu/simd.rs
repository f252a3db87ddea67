//! Compiling a loop for the widest SIMD this CPU has, chosen at run time.
//!
//! The workspace is built for baseline x86-64 (SSE2, 4 f32 lanes) so the binary runs anywhere.
//! [`widest`] runs a closure inside a function compiled with AVX-512 (or AVX2+FMA) enabled; the
//! closure is inlined there, so the compiler vectorises its loops 16 (or 8) lanes wide. Results do
//! not change: Rust never reorders or fuses float operations on its own, so the same operations
//! run in the same order, only more at a time.

/// Runs `f`, compiled for AVX-512 or AVX2+FMA when this CPU has them (and [`super::isa`] allows
/// them). Put the whole hot loop
/// inside `f` (one call per chunk of work, not per element), mark the closure `#[inline(always)]`
/// and have it call `#[inline(always)]` functions: code that is not inlined into the wide function
/// is compiled without the wide instructions (a closure with slicing or panics in it is not
/// inlined on its own).
#[inline(always)]
pub fn widest<R>(f: impl FnOnce() -> R) -> R {
    #[cfg(target_arch = "x86_64")]
    {
        use super::isa::{isa, Isa};
        match isa() {
            // Safety: the CPU has the features the function is compiled for (detected by `isa`).
            Isa::Avx512 => return unsafe { x86::avx512(f) },
            // Safety: as above.
            Isa::Avx2 => return unsafe { x86::avx2(f) },
            Isa::Portable => {}
        }
    }
    f()
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    #[target_feature(enable = "avx512f,avx2,fma")]
    pub unsafe fn avx512<R>(f: impl FnOnce() -> R) -> R {
        f()
    }

    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn avx2<R>(f: impl FnOnce() -> R) -> R {
        f()
    }
}

#[cfg(test)]
mod tests {
    use super::widest;

    #[test]
    fn same_results_as_the_baseline_loop() {
        let x: Vec<f32> = (0..1000).map(|i| (i as f32 - 500.0) / 37.0).collect();
        let kernel = |x: &[f32]| x.iter().map(|&v| crate::expf::expf(v) / (1.0 + v * v)).collect::<Vec<f32>>();
        let sum = |x: &[f32]| x.iter().fold(0.0f32, |s, &v| s + v * 1.5);
        assert_eq!(widest(|| kernel(&x)), kernel(&x));
        assert_eq!(widest(|| sum(&x)).to_bits(), sum(&x).to_bits());
    }
}
