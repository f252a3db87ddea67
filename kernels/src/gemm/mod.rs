//! General matrix multiply, `C = A·B` or `C += A·B`, for f32 and f64.
//!
//! Two versions side by side:
//! - [`gemm_naive`]: the textbook triple loop, the reference for tests and benchmarks.
//! - [`gemm`]: the BLIS/GotoBLAS scheme. B is packed into `KC×NR` micro-panels and A into `MR×KC`
//!   micro-panels so the micro-kernel streams both from cache; the `MR×NR` tile of C lives in
//!   registers for the whole `KC` loop. The micro-kernel is chosen at run time: for f32, 14×32 with
//!   AVX-512 (28 zmm accumulators), 6×16 with AVX2+FMA (12 ymm accumulators), or portable Rust.
//!   Row blocks of C are spread over the rayon pool. The AVX-512 and AVX2 kernels pack with vector
//!   moves and in-register 16×16 or 8×8 transposes (`pack_simd`); packing buffers are kept per
//!   thread between products. The first pass over k stores C without reading it ([`TileStore`]), adding a bias row
//!   as it stores when asked, so C needs no zero-fill and a linear layer's bias no pass of its own.
//! - [`gemm_bf16`]: the same scheme in mixed precision, f32 operands rounded to bf16 as they are
//!   packed (two k steps a 32-bit word) and summed in f32, by AVX512_BF16's `vdpbf16ps` where the
//!   CPU has it.
//!
//! Operands are strided views ([`MatRef`]), so transposed operands (`Aᵀ` is `A` with its strides
//! swapped) cost nothing extra: the packing step absorbs the strides.
//!
//! [`PackedB`] packs a B once, whole, for several products that share it (an attention head's keys
//! and values, used by each block of its queries).

pub mod cuda;
mod tensor_map;

mod microkernel;
mod naive;
mod pack;
#[cfg(target_arch = "x86_64")]
mod pack_simd;
mod packed_b;

pub use microkernel::{bf16_microkernels, GemmScalar, MicroKernel, MicroKernelSpec, PackA, PackB, TileStore};
pub use naive::gemm_naive;
pub use packed_b::PackedB;

use crate::cpu::SendPtr;
use rayon::prelude::*;
use std::mem::MaybeUninit;

/// Below this many multiply-adds a GEMM runs on the calling thread: rayon's fork costs more.
const PARALLEL_MIN_MACS: usize = 48 * 48 * 48;

/// A read-only strided matrix: element `(i, j)` is `data[offset + i·row_stride + j·col_stride]`.
#[derive(Clone, Copy, Debug)]
pub struct MatRef<'a, T> {
    pub data: &'a [T],
    pub offset: usize,
    pub rows: usize,
    pub cols: usize,
    pub row_stride: usize,
    pub col_stride: usize,
}

impl<'a, T: Copy> MatRef<'a, T> {
    /// A row-major matrix with `rows × cols` elements packed densely from `data[0]`.
    pub fn row_major(data: &'a [T], rows: usize, cols: usize) -> Self {
        Self { data, offset: 0, rows, cols, row_stride: cols, col_stride: 1 }
    }

    /// The transpose as a view: rows and columns (and their strides) swap, no data moves.
    pub fn t(self) -> Self {
        Self { rows: self.cols, cols: self.rows, row_stride: self.col_stride, col_stride: self.row_stride, ..self }
    }

    #[inline(always)]
    pub fn at(&self, i: usize, j: usize) -> T {
        self.data[self.offset + i * self.row_stride + j * self.col_stride]
    }
}

/// `C = A·B` (or `C += A·B` with `accumulate`), C row-major with leading dimension `ldc`.
///
/// `A` is `m×k`, `B` is `k×n`, `C[i·ldc + j]` for `i < m`, `j < n`.
/// Panics if the shapes disagree or C is too short (the tensor layer checks both first).
pub fn gemm<T: GemmScalar>(a: MatRef<T>, b: MatRef<T>, c: &mut [T], ldc: usize, accumulate: bool) {
    gemm_with(T::best_microkernel(), a, b, c, ldc, accumulate)
}

/// [`gemm`] with a given micro-kernel (any of `T::available_microkernels()`): for tests and
/// benchmarks that compare kernels.
pub fn gemm_with<T: GemmScalar>(
    spec: MicroKernelSpec<T>,
    a: MatRef<T>,
    b: MatRef<T>,
    c: &mut [T],
    ldc: usize,
    accumulate: bool,
) {
    check_c(a.rows, b.cols, ldc, c.len());
    assert_eq!(a.cols, b.rows, "gemm: inner dimensions differ");
    unsafe { gemm_unchecked(spec, a, b, SendPtr::new(c), ldc, Output::of(accumulate), true) }
}

/// `C = A·B` (or `C += A·B`) in mixed precision: A and B rounded to bf16 (to nearest, ties to
/// even) as they are packed, each product exact in f32 and summed in f32 — what PyTorch's CPU bf16
/// autocast computes for a matrix product. Through AVX512_BF16's `vdpbf16ps` (two k steps an
/// instruction) where the CPU has it, else this CPU's f32 kernel on the rounded operands (see
/// [`bf16_microkernels`]).
pub fn gemm_bf16(a: MatRef<f32>, b: MatRef<f32>, c: &mut [f32], ldc: usize, accumulate: bool) {
    gemm_with(bf16_microkernels()[0], a, b, c, ldc, accumulate)
}

/// [`gemm`] on the calling thread only: for kernels that already run independent products in
/// parallel (fused attention), where forking inside each would only add overhead.
pub fn gemm_serial<T: GemmScalar>(a: MatRef<T>, b: MatRef<T>, c: &mut [T], ldc: usize, accumulate: bool) {
    check_c(a.rows, b.cols, ldc, c.len());
    assert_eq!(a.cols, b.rows, "gemm: inner dimensions differ");
    unsafe { gemm_unchecked(T::best_microkernel(), a, b, SendPtr::new(c), ldc, Output::of(accumulate), false) }
}

/// [`gemm_serial`] on micro-kernel `spec`, writing through a raw pointer, for callers whose tasks
/// write disjoint `m × n` blocks of one buffer with interleaved rows (attention heads packed side
/// by side in a row).
///
/// # Safety
/// `c` must address `(m−1)·ldc + n` elements; the call reads and writes only
/// `C[i·ldc + j]` for `i < m`, `j < n`, and nothing else may access those elements meanwhile.
pub unsafe fn gemm_serial_raw<T: GemmScalar>(
    spec: MicroKernelSpec<T>,
    a: MatRef<T>,
    b: MatRef<T>,
    c: *mut T,
    ldc: usize,
    accumulate: bool,
) {
    assert!(a.rows == 0 || b.cols == 0 || ldc >= b.cols, "gemm: ldc {ldc} < n {}", b.cols);
    assert_eq!(a.cols, b.rows, "gemm: inner dimensions differ");
    gemm_unchecked(spec, a, b, SendPtr(c), ldc, Output::of(accumulate), false)
}

/// `C[t] = A[t]·B[t]` (`+ bias` on every row, when given) for each batch entry `t`, where `A[t]`
/// starts at `a_offsets[t]` (instead of `a.offset`), `B[t]` at `b_offsets[t]`, and `C[t]` at
/// `t·c_batch_stride`. Offsets rather than one stride, so broadcast batch dims (stride 0) and any
/// batch layout work. C is written, never read, so it may be freshly allocated, uninitialised
/// memory (no zero-fill first); the bias (`n` elements) is added as each tile is stored.
/// Independent small products run in parallel; large ones parallelise inside. `spec`: the
/// micro-kernel (`T::best_microkernel()`, or the first of [`bf16_microkernels`] for the
/// mixed-precision product of [`gemm_bf16`]).
#[allow(clippy::too_many_arguments)]
pub fn gemm_batched<T: GemmScalar>(
    spec: MicroKernelSpec<T>,
    a: MatRef<T>,
    a_offsets: &[usize],
    b: MatRef<T>,
    b_offsets: &[usize],
    c: &mut [MaybeUninit<T>],
    ldc: usize,
    c_batch_stride: usize,
    bias: Option<&[T]>,
) {
    assert_eq!(a.cols, b.rows, "gemm_batched: inner dimensions differ");
    assert_eq!(a_offsets.len(), b_offsets.len(), "gemm_batched: batch sizes differ");
    if let Some(bias) = bias {
        assert!(bias.len() >= b.cols, "gemm_batched: a bias of {} for {} columns", bias.len(), b.cols);
    }
    let batch = a_offsets.len();
    if batch == 0 || a.rows == 0 || b.cols == 0 {
        return;
    }
    check_c(a.rows, b.cols, ldc, c.len().saturating_sub((batch - 1) * c_batch_stride));
    assert!(c_batch_stride >= (a.rows - 1) * ldc + b.cols || batch == 1, "gemm_batched: C batches overlap");
    // Writing initialised values through a pointer to possibly uninitialised memory is sound.
    let c_ptr = SendPtr(c.as_mut_ptr().cast::<T>());
    let output = bias.map_or(Output::Overwrite, Output::AddBias);
    // Enough independent products to keep every thread busy: one product per task, each on one
    // thread (no fork/join inside). Otherwise parallelise inside each product.
    let threads = rayon::current_num_threads();
    let small = batch >= 2 * threads || a.rows * a.cols * b.cols < PARALLEL_MIN_MACS * 8;
    let one = |t: usize| {
        let at = MatRef { offset: a_offsets[t], ..a };
        let bt = MatRef { offset: b_offsets[t], ..b };
        // Safety: C was checked long enough for every batch, and batches do not overlap.
        unsafe {
            let ct = SendPtr(c_ptr.get().add(t * c_batch_stride));
            gemm_unchecked(spec, at, bt, ct, ldc, output, !small)
        }
    };
    if small && batch > 1 {
        (0..batch).into_par_iter().for_each(one);
    } else {
        (0..batch).for_each(one);
    }
}

/// What the product does with C: the first pass over k stores its tiles this way; later passes
/// accumulate.
#[derive(Clone, Copy)]
enum Output<'a, T> {
    /// `C = A·B`, C not read.
    Overwrite,
    /// `C += A·B`.
    Accumulate,
    /// `C = A·B + bias` on every row, C not read.
    AddBias(&'a [T]),
}

impl<T> Output<'_, T> {
    fn of(accumulate: bool) -> Self {
        if accumulate {
            Output::Accumulate
        } else {
            Output::Overwrite
        }
    }
}

fn check_c(m: usize, n: usize, ldc: usize, c_len: usize) {
    if m > 0 && n > 0 {
        assert!(ldc >= n, "gemm: ldc {ldc} < n {n}");
        assert!(c_len >= (m - 1) * ldc + n, "gemm: C has {c_len} elements, needs {}", (m - 1) * ldc + n);
    }
}

/// The blocked driver. Safety: `c` must address `(m−1)·ldc + n` writable elements, initialised
/// when `output` accumulates.
unsafe fn gemm_unchecked<T: GemmScalar>(
    spec: MicroKernelSpec<T>,
    a: MatRef<T>,
    b: MatRef<T>,
    c: SendPtr<T>,
    ldc: usize,
    output: Output<T>,
    allow_parallel: bool,
) {
    let (m, k, n) = (a.rows, a.cols, b.cols);
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        for i in 0..m {
            for j in 0..n {
                let out = c.get().add(i * ldc + j);
                match output {
                    Output::Overwrite => out.write(T::ZERO),
                    Output::Accumulate => {}
                    Output::AddBias(bias) => out.write(bias[j]),
                }
            }
        }
        return;
    }
    let MicroKernelSpec { kernel, mr, nr, kc: kc_max, mc: mc_max, nc: nc_max, pack_a, pack_b, .. } = spec;
    let threads = if allow_parallel && m * n * k >= PARALLEL_MIN_MACS { rayon::current_num_threads() } else { 1 };
    let row_blocks = split_rows(m, mr, mc_max, threads);
    // When there are fewer row blocks than threads (short, wide products), split columns too.
    let col_chunks = if row_blocks.len() >= threads { 1 } else { threads };
    let packed_b_len = round_up(n.min(nc_max), nr) * spec.words(kc_max.min(k));
    with_packing_buffer(Packed::B, packed_b_len, |packed_b| {
        for jc in (0..n).step_by(nc_max) {
            let nc = (n - jc).min(nc_max);
            let panels = nc.div_ceil(nr);
            let panels_per_chunk = panels.div_ceil(col_chunks);
            for pc in (0..k).step_by(kc_max) {
                let kc = (k - pc).min(kc_max);
                // The panels' depth in packed words (a word is one k step, or two for bf16 pairs).
                let words = spec.words(kc);
                pack_b(&mut packed_b[..panels * nr * words], b, pc, kc, jc, nc, nr, threads > 1);
                let packed_b = &*packed_b;
                // The first pass over k stores as `output` says; the later ones add to it.
                let store = |jr: usize| match (pc, output) {
                    (0, Output::Overwrite) => TileStore::Overwrite,
                    (0, Output::AddBias(bias)) => TileStore::AddBias(bias[jc + jr..].as_ptr()),
                    _ => TileStore::Accumulate,
                };
                let work = |(block, chunk): ((usize, usize), usize)| {
                    let (ic, mc) = block;
                    let first_panel = chunk * panels_per_chunk;
                    let last_panel = (first_panel + panels_per_chunk).min(panels);
                    if first_panel >= last_panel {
                        return;
                    }
                    // This thread's buffer (packing overwrites all of it).
                    with_packing_buffer(Packed::A, round_up(mc, mr) * words, |packed_a| {
                        pack_a(packed_a, a, ic, mc, pc, kc, mr);
                        for panel in first_panel..last_panel {
                            let jr = panel * nr;
                            let pb = packed_b[panel * nr * words..].as_ptr();
                            for ir in (0..mc).step_by(mr) {
                                let pa = packed_a[(ir / mr) * mr * words..].as_ptr();
                                let tile = c.get().add((ic + ir) * ldc + jc + jr);
                                kernel(words, pa, pb, tile, ldc, (mc - ir).min(mr), (nc - jr).min(nr), store(jr));
                            }
                        }
                    })
                };
                let items: Vec<_> =
                    row_blocks.iter().flat_map(|&blk| (0..col_chunks).map(move |ch| (blk, ch))).collect();
                if threads > 1 {
                    items.into_par_iter().for_each(work);
                } else {
                    items.into_iter().for_each(work);
                }
            }
        }
    })
}

/// Which operand a packing buffer holds.
#[derive(Clone, Copy)]
enum Packed {
    A,
    B,
}

/// Runs `f` on this thread's packing buffer for `which`, at least `len` long, kept between
/// products so that packing allocates (and zero-fills) nothing after a thread's first product of
/// each size. A product started while the buffer is lent out (a nested one, on a thread that
/// waits for its own work) gets a fresh buffer.
fn with_packing_buffer<T: GemmScalar, R>(which: Packed, len: usize, f: impl FnOnce(&mut [T]) -> R) -> R {
    T::packing_buffers().with(|buffers| {
        let slot = &buffers[which as usize];
        let mut buffer = slot.take();
        if buffer.len() < len {
            buffer.resize(len, T::ZERO);
        }
        let result = f(&mut buffer[..len]);
        slot.set(buffer);
        result
    })
}

/// Splits `m` rows into blocks of at most about `max_rows` rows, each a whole number of `mr`-row
/// micro-panels, as equal as possible and their count a multiple of `threads`, so every thread
/// gets the same work.
fn split_rows(m: usize, mr: usize, max_rows: usize, threads: usize) -> Vec<(usize, usize)> {
    let panels = m.div_ceil(mr);
    let blocks = m.div_ceil(max_rows).div_ceil(threads).max(1) * threads;
    let blocks = blocks.min(panels);
    let (per_block, extra) = (panels / blocks, panels % blocks);
    let mut start = 0;
    (0..blocks)
        .map(|b| {
            let rows = ((per_block + (b < extra) as usize) * mr).min(m - start);
            let block = (start, rows);
            start += rows;
            block
        })
        .collect()
}

fn round_up(x: usize, to: usize) -> usize {
    x.div_ceil(to) * to
}

#[cfg(test)]
mod tests;
