//! Elementwise maps over dense slices: parallel chunks when large, each chunk's loop compiled for
//! the widest SIMD available ([`super::simd::widest`]). The tensor crate's unary and binary ops
//! and the GELU kernels run through these.

use super::simd::widest;
use rayon::prelude::*;
use std::mem::MaybeUninit;

/// Elements per parallel task.
const CHUNK: usize = 1 << 14;
/// Below this many elements the work stays on the calling thread.
pub const PARALLEL_MIN_ELEMS: usize = 1 << 15;

/// An output element a kernel writes without reading it: the value itself, or uninitialised
/// memory (`MaybeUninit`: a buffer allocated for the output and never zero-filled first).
pub trait Written<T>: Send {
    fn written(value: T) -> Self;
}

impl<T: Send> Written<T> for T {
    #[inline(always)]
    fn written(value: T) -> T {
        value
    }
}

impl<T: Send> Written<T> for MaybeUninit<T> {
    #[inline(always)]
    fn written(value: T) -> Self {
        MaybeUninit::new(value)
    }
}

/// `out[i] = f(x[i])`. Panics if the lengths differ.
pub fn map<T: Copy + Sync, U: Send>(x: &[T], out: &mut [U], f: impl Fn(T) -> U + Sync) {
    assert_eq!(x.len(), out.len(), "map: input and output lengths differ");
    for_chunks(out, |start, out| {
        widest(
            #[inline(always)]
            || map_loop(&x[start..start + out.len()], out, &f),
        )
    });
}

/// `out[i] = f(a[i], b[i])`. Panics if the lengths differ.
pub fn zip<T: Copy + Sync, U: Send>(a: &[T], b: &[T], out: &mut [U], f: impl Fn(T, T) -> U + Sync) {
    assert!(a.len() == out.len() && b.len() == out.len(), "zip: input and output lengths differ");
    for_chunks(out, |start, out| {
        let end = start + out.len();
        widest(
            #[inline(always)]
            || zip_loop(&a[start..end], &b[start..end], out, &f),
        )
    });
}

/// `out[i] = f(out[i], x[i])`, in place. Panics if the lengths differ.
pub fn update<T: Copy + Sync, U: Copy + Send>(out: &mut [U], x: &[T], f: impl Fn(U, T) -> U + Sync) {
    assert_eq!(x.len(), out.len(), "update: input and output lengths differ");
    for_chunks(out, |start, out| {
        widest(
            #[inline(always)]
            || update_loop(out, &x[start..start + out.len()], &f),
        )
    });
}

/// Runs `work(start, chunk)` over consecutive chunks of `out`, in parallel when `out` is large.
fn for_chunks<U: Send>(out: &mut [U], work: impl Fn(usize, &mut [U]) + Sync) {
    if out.len() >= PARALLEL_MIN_ELEMS {
        out.par_chunks_mut(CHUNK).enumerate().for_each(|(i, chunk)| work(i * CHUNK, chunk));
    } else if !out.is_empty() {
        work(0, out);
    }
}

/// The loop of [`map`] (inlined into the SIMD-compiled caller).
#[inline(always)]
pub fn map_loop<T: Copy, U>(x: &[T], out: &mut [U], f: &impl Fn(T) -> U) {
    for (o, &x) in out.iter_mut().zip(x) {
        *o = f(x);
    }
}

/// The loop of [`update`] (inlined into the SIMD-compiled caller).
#[inline(always)]
pub fn update_loop<T: Copy, U: Copy>(out: &mut [U], x: &[T], f: &impl Fn(U, T) -> U) {
    for (o, &x) in out.iter_mut().zip(x) {
        *o = f(*o, x);
    }
}

/// The loop of [`zip`] (inlined into the SIMD-compiled caller).
#[inline(always)]
pub fn zip_loop<T: Copy, U>(a: &[T], b: &[T], out: &mut [U], f: &impl Fn(T, T) -> U) {
    for ((o, &a), &b) in out.iter_mut().zip(a).zip(b) {
        *o = f(a, b);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn map_and_zip_cover_every_element_small_and_large() {
        for n in [0, 1, 17, PARALLEL_MIN_ELEMS + 3 * CHUNK + 5] {
            let x: Vec<f32> = (0..n).map(|i| i as f32).collect();
            let mut y = vec![f32::NAN; n];
            map(&x, &mut y, |v| 2.0 * v + 1.0);
            assert!(y.iter().enumerate().all(|(i, &v)| v == 2.0 * i as f32 + 1.0), "map, n = {n}");
            let mut z = vec![f64::NAN; n];
            zip(&x, &y, &mut z, |a, b| (b - a) as f64);
            assert!(z.iter().enumerate().all(|(i, &v)| v == i as f64 + 1.0), "zip, n = {n}");
            update(&mut y, &x, |y, x| y - x);
            assert!(y.iter().enumerate().all(|(i, &v)| v == i as f32 + 1.0), "update, n = {n}");
        }
    }

    #[test]
    #[should_panic(expected = "lengths differ")]
    fn zip_refuses_mismatched_lengths() {
        zip(&[1.0f32, 2.0], &[1.0], &mut [0.0f32; 2], |a, b| a + b);
    }
}
