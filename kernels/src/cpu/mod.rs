//! CPU kernels: rayon for threads; the GEMM's hand-written AVX-512/AVX2 micro-kernels, and plain
//! Rust loops compiled for the widest SIMD the CPU has ([`simd`]) elsewhere.

pub mod ceiling;
pub mod elementwise;
pub mod embedding;
pub mod isa;
pub mod lanes;
pub mod simd;

/// Rows per rayon task for row-wise kernels: enough work per task to amortise scheduling.
pub(crate) fn rows_per_task(cols: usize) -> usize {
    (16384 / cols.max(1)).max(1)
}

/// A raw pointer that may cross threads, for kernels whose tasks write disjoint parts of one buffer.
#[derive(Clone, Copy)]
pub(crate) struct SendPtr<T>(pub(crate) *mut T);
unsafe impl<T> Send for SendPtr<T> {}
unsafe impl<T> Sync for SendPtr<T> {}

impl<T> SendPtr<T> {
    pub(crate) fn new(slice: &mut [T]) -> Self {
        Self(slice.as_mut_ptr())
    }

    /// Read through a method so closures capture the whole `SendPtr`, not its raw field.
    #[inline(always)]
    pub(crate) fn get(self) -> *mut T {
        self.0
    }
}
