//! Micro-kernels: `C[0..mr, 0..nr] (+)= Σ_kk Apanel[kk]·Bpanel[kk]ᵀ`, an outer-product update of one
//! `MR×NR` register tile per step of `kk`. Each kernel comes with the tile shape and the cache
//! blocking that suit it ([`MicroKernelSpec`]); the fastest one this CPU runs is picked at run time.

use super::{pack, MatRef};
use crate::Float;
use std::cell::Cell;
use std::thread::LocalKey;

/// A micro-kernel: `(words, packed A panel, packed B panel, C tile, ldc, valid rows, valid cols,
/// store)`, where `words` is the panels' depth in packed words (one k step each, or two for
/// bf16 pairs).
pub type MicroKernel<T> = unsafe fn(usize, *const T, *const T, *mut T, usize, usize, usize, TileStore<T>);

/// How a micro-kernel stores its tile's sums `S` into C.
#[derive(Clone, Copy, Debug)]
pub enum TileStore<T> {
    /// `C = S`: C is written without being read (it may be uninitialised memory).
    Overwrite,
    /// `C = C + S`.
    Accumulate,
    /// `C[i][j] = bias[j] + S[i][j]`, the pointer at the tile's first column of the bias row: the
    /// bias of a linear layer added as the tile is stored (C is not read).
    AddBias(*const T),
}

/// Packs rows `ic..ic+mc`, columns `pc..pc+kc` of A into micro-panels of `mr` rows:
/// `(buffer, A, ic, mc, pc, kc, mr)`.
pub type PackA<T> = fn(&mut [T], MatRef<T>, usize, usize, usize, usize, usize);

/// Packs rows `pc..pc+kc`, columns `jc..jc+nc` of B into micro-panels of `nr` columns:
/// `(buffer, B, pc, kc, jc, nc, nr, in parallel)`.
pub type PackB<T> = fn(&mut [T], MatRef<T>, usize, usize, usize, usize, usize, bool);

/// A micro-kernel with its register tile (`mr × nr`), its cache blocking — `kc` (depth of a packed
/// block: a `kc × nr` B micro-panel near the core, in L1 or L2, as measured per kernel), `mc` (rows
/// of A packed at once, in L2) and `nc` (columns of B packed at once, in L3) — and the packing it
/// reads: `k_per_word` k steps in each packed word (1: the elements themselves; 2: a pair of bf16
/// in 32 bits, as AVX512_BF16's dot products take them), written by `pack_a` and `pack_b`.
#[derive(Clone, Copy)]
pub struct MicroKernelSpec<T> {
    pub name: &'static str,
    pub kernel: MicroKernel<T>,
    pub mr: usize,
    pub nr: usize,
    pub kc: usize,
    pub mc: usize,
    pub nc: usize,
    pub k_per_word: usize,
    pub pack_a: PackA<T>,
    pub pack_b: PackB<T>,
}

impl<T: Float> MicroKernelSpec<T> {
    /// A kernel that reads the elements themselves (one k step a word).
    fn on_elements(name: &'static str, kernel: MicroKernel<T>, [mr, nr, kc, mc, nc]: [usize; 5]) -> Self {
        Self { name, kernel, mr, nr, kc, mc, nc, k_per_word: 1, pack_a: pack::pack_a, pack_b: pack::pack_b }
    }

    /// Packed words per row of a panel `kc` deep.
    pub fn words(&self, kc: usize) -> usize {
        kc.div_ceil(self.k_per_word)
    }
}

impl<T> std::fmt::Debug for MicroKernelSpec<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({}×{}, kc {}, mc {}, nc {})", self.name, self.mr, self.nr, self.kc, self.mc, self.nc)
    }
}

/// A scalar type the packed GEMM supports.
pub trait GemmScalar: Float {
    /// Every micro-kernel this CPU can run, fastest first (runtime feature detection).
    fn available_microkernels() -> Vec<MicroKernelSpec<Self>>;

    /// The fastest available micro-kernel.
    fn best_microkernel() -> MicroKernelSpec<Self> {
        Self::available_microkernels()[0]
    }

    /// This thread's packing buffers for A and B, kept between products (see
    /// `super::with_packing_buffer`).
    fn packing_buffers() -> &'static LocalKey<[Cell<Vec<Self>>; 2]>;
}

/// Implements [`GemmScalar::packing_buffers`] for one scalar type: a thread-local pair per type.
macro_rules! packing_buffers {
    ($t:ty) => {
        fn packing_buffers() -> &'static LocalKey<[Cell<Vec<$t>>; 2]> {
            thread_local! {
                static BUFFERS: [Cell<Vec<$t>>; 2] = const { [Cell::new(Vec::new()), Cell::new(Vec::new())] };
            }
            &BUFFERS
        }
    };
}

impl GemmScalar for f32 {
    packing_buffers!(f32);

    fn available_microkernels() -> Vec<MicroKernelSpec<f32>> {
        let mut kernels = Vec::new();
        #[cfg(target_arch = "x86_64")]
        {
            use super::pack_simd;
            use crate::cpu::isa::{isa, Isa};
            if isa() >= Isa::Avx512 {
                let kernel = x86::microkernel_f32_avx512_14x32;
                // kc 512 although its B micro-panel (64 KB) outgrows L1: on the training step's
                // products (k = 384 … 2048) fewer passes over C measured 5% faster than kc 256
                // (Zen 4, 7 Dec 2026), and square products from n = 512 up 5–10% faster.
                kernels.push(MicroKernelSpec {
                    pack_a: pack_simd::pack_a_simd::<pack_simd::Avx512>,
                    pack_b: pack_simd::pack_b_simd::<pack_simd::Avx512>,
                    ..MicroKernelSpec::on_elements("avx512 14x32", kernel, [14, 32, 512, 196, 4096])
                });
            }
            if isa() >= Isa::Avx2 {
                let kernel = x86::microkernel_f32_avx2_6x16;
                kernels.push(MicroKernelSpec {
                    pack_a: pack_simd::pack_a_simd::<pack_simd::Avx2>,
                    pack_b: pack_simd::pack_b_simd::<pack_simd::Avx2>,
                    ..MicroKernelSpec::on_elements("avx2+fma 6x16", kernel, [6, 16, 512, 144, 4080])
                });
            }
        }
        let kernel = microkernel_portable::<f32, 6, 16>;
        kernels.push(MicroKernelSpec::on_elements("portable 6x16", kernel, [6, 16, 256, 144, 4080]));
        kernels
    }
}

impl GemmScalar for f64 {
    packing_buffers!(f64);

    fn available_microkernels() -> Vec<MicroKernelSpec<f64>> {
        vec![MicroKernelSpec::on_elements("portable 4x8", microkernel_portable::<f64, 4, 8>, [4, 8, 256, 96, 4080])]
    }
}

/// The micro-kernels of the bf16 product ([`super::gemm_bf16`]), fastest first: f32 operands
/// rounded to bf16 as they are packed, products summed in f32. With AVX512_BF16, `vdpbf16ps` on
/// pairs of bf16 (two k steps a 32-bit word); on every CPU, this CPU's best f32 kernel on the
/// rounded operands (each product exact in f32, so the same numbers but for the order of the
/// sums, at f32 speed).
pub fn bf16_microkernels() -> Vec<MicroKernelSpec<f32>> {
    let mut kernels = Vec::new();
    #[cfg(target_arch = "x86_64")]
    if crate::cpu::isa::avx512_bf16() {
        kernels.push(MicroKernelSpec {
            name: "avx512bf16 14x32",
            kernel: x86::microkernel_bf16_avx512_14x32,
            mr: 14,
            nr: 32,
            kc: 512,
            mc: 196,
            nc: 4096,
            k_per_word: 2,
            pack_a: pack::pack_a_bf16_pairs,
            pack_b: pack::pack_b_bf16_pairs,
        });
    }
    let f32_kernel = f32::best_microkernel();
    kernels.push(MicroKernelSpec {
        name: "f32 kernel on bf16-rounded operands",
        pack_a: pack::pack_a_bf16_rounded,
        pack_b: pack::pack_b_bf16_rounded,
        ..f32_kernel
    });
    kernels
}

/// Portable micro-kernel: the tile is a `[[T; NR]; MR]` array the compiler keeps in registers and
/// vectorises as it can. Used for f64 and on CPUs without AVX2+FMA.
///
/// Safety: `a` holds `kc·MR`, `b` holds `kc·NR` elements; `c` addresses `mr` rows of `nr` elements
/// with row stride `ldc`.
#[allow(clippy::too_many_arguments)]
pub unsafe fn microkernel_portable<T: Float, const MR: usize, const NR: usize>(
    kc: usize,
    a: *const T,
    b: *const T,
    c: *mut T,
    ldc: usize,
    mr: usize,
    nr: usize,
    store: TileStore<T>,
) {
    let a = std::slice::from_raw_parts(a, kc * MR);
    let b = std::slice::from_raw_parts(b, kc * NR);
    let mut acc = [[T::ZERO; NR]; MR];
    for (a_k, b_k) in a.chunks_exact(MR).zip(b.chunks_exact(NR)) {
        for i in 0..MR {
            for j in 0..NR {
                acc[i][j] += a_k[i] * b_k[j];
            }
        }
    }
    write_tile(&acc, c, ldc, mr, nr, store);
}

/// Stores the valid `mr × nr` part of a register tile spilled to memory into C, as `store` says.
///
/// Safety: `c` addresses `mr` rows of `nr` elements with row stride `ldc` (initialised unless the
/// store overwrites); an `AddBias` pointer addresses `nr` elements.
unsafe fn write_tile<T: Float, const NR: usize>(
    tile: &[[T; NR]],
    c: *mut T,
    ldc: usize,
    mr: usize,
    nr: usize,
    store: TileStore<T>,
) {
    for (i, row) in tile.iter().enumerate().take(mr) {
        for (j, &v) in row.iter().enumerate().take(nr) {
            let out = c.add(i * ldc + j);
            let value = match store {
                TileStore::Overwrite => v,
                TileStore::Accumulate => out.read() + v,
                TileStore::AddBias(bias) => bias.add(j).read() + v,
            };
            out.write(value);
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::{write_tile, TileStore};
    use std::arch::x86_64::*;

    /// Defines an f32 micro-kernel for one SIMD width: per step of `kk`, `NV` vector loads of B,
    /// `MR` broadcasts of A and `MR·NV` fused multiply-adds into `MR·NV` accumulator registers.
    macro_rules! simd_microkernel {
        ($name:ident, $features:literal, $vec:ty, $lanes:literal, $mr:literal, $nv:literal,
         $zero:ident, $load:ident, $store:ident, $set1:ident, $fmadd:ident, $add:ident) => {
            /// Safety: as [`super::microkernel_portable`] for this tile shape, on a CPU with the
            /// target features named in the attribute.
            #[allow(clippy::too_many_arguments)]
            #[target_feature(enable = $features)]
            pub unsafe fn $name(
                kc: usize,
                a: *const f32,
                b: *const f32,
                c: *mut f32,
                ldc: usize,
                mr: usize,
                nr: usize,
                store: TileStore<f32>,
            ) {
                const NR: usize = $lanes * $nv;
                let mut acc: [[$vec; $nv]; $mr] = [[$zero(); $nv]; $mr];
                // Start fetching the C tile now; it is needed only after the k loop.
                for i in 0..mr {
                    _mm_prefetch::<_MM_HINT_T0>(c.add(i * ldc) as *const i8);
                    _mm_prefetch::<_MM_HINT_T0>(c.add(i * ldc + NR - 1) as *const i8);
                }
                let (mut a, mut b) = (a, b);
                for _ in 0..kc {
                    let mut bv: [$vec; $nv] = [$zero(); $nv];
                    for (h, v) in bv.iter_mut().enumerate() {
                        *v = $load(b.add($lanes * h));
                    }
                    for (i, acc_row) in acc.iter_mut().enumerate() {
                        let ai = $set1(*a.add(i));
                        for (h, acc_v) in acc_row.iter_mut().enumerate() {
                            *acc_v = $fmadd(ai, bv[h], *acc_v);
                        }
                    }
                    a = a.add($mr);
                    b = b.add(NR);
                }
                if mr == $mr && nr == NR {
                    for (i, acc_row) in acc.iter().enumerate() {
                        for (h, &v) in acc_row.iter().enumerate() {
                            let p = c.add(i * ldc + $lanes * h);
                            let value = match store {
                                TileStore::Overwrite => v,
                                TileStore::Accumulate => $add($load(p), v),
                                TileStore::AddBias(bias) => $add($load(bias.add($lanes * h)), v),
                            };
                            $store(p, value);
                        }
                    }
                } else {
                    // Edge tile: spill the registers, write the valid part.
                    let mut tile = [[0f32; NR]; $mr];
                    for (row, acc_row) in tile.iter_mut().zip(&acc) {
                        for (h, &v) in acc_row.iter().enumerate() {
                            $store(row.as_mut_ptr().add($lanes * h), v);
                        }
                    }
                    write_tile(&tile, c, ldc, mr, nr, store);
                }
            }
        };
    }

    // 6×16 with AVX2: 12 ymm accumulators + 2 for B + 1 broadcast = 15 of 16 registers.
    simd_microkernel!(
        microkernel_f32_avx2_6x16,
        "avx2,fma",
        __m256,
        8,
        6,
        2,
        _mm256_setzero_ps,
        _mm256_loadu_ps,
        _mm256_storeu_ps,
        _mm256_set1_ps,
        _mm256_fmadd_ps,
        _mm256_add_ps
    );

    /// `acc + Σ over each lane's pair a₀·b₀ + a₁·b₁` (`vdpbf16ps`), with the bf16 pairs passed in
    /// f32 registers as the packed words hold them.
    #[inline]
    #[target_feature(enable = "avx512f,avx512bf16")]
    fn dot_bf16_pairs(a: __m512, b: __m512, acc: __m512) -> __m512 {
        // Safety: both are 512 bits; the words already hold bf16 pairs.
        let (a, b) =
            unsafe { (std::mem::transmute::<__m512, __m512bh>(a), std::mem::transmute::<__m512, __m512bh>(b)) };
        _mm512_dpbf16_ps(acc, a, b)
    }

    // The bf16 pairs' 14×32: the f32 kernel's registers, each instruction two k steps.
    simd_microkernel!(
        microkernel_bf16_avx512_14x32,
        "avx512f,avx512bf16",
        __m512,
        16,
        14,
        2,
        _mm512_setzero_ps,
        _mm512_loadu_ps,
        _mm512_storeu_ps,
        _mm512_set1_ps,
        dot_bf16_pairs,
        _mm512_add_ps
    );

    // 14×32 with AVX-512: 28 zmm accumulators + 2 for B + 1 broadcast = 31 of 32 registers.
    simd_microkernel!(
        microkernel_f32_avx512_14x32,
        "avx512f",
        __m512,
        16,
        14,
        2,
        _mm512_setzero_ps,
        _mm512_loadu_ps,
        _mm512_storeu_ps,
        _mm512_set1_ps,
        _mm512_fmadd_ps,
        _mm512_add_ps
    );
}
