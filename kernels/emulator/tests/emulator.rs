//! The CUDA emulator's own behaviour: what it reports instead of
//! hanging or passing silently — a deadlock at a barrier, a missing barrier (in a block or a
//! cluster of blocks, or an asynchronous copy's wait), a misaligned vector load or store, a broken
//! WMMA contract or ldmatrix row address, shared memory read before it is written, the wrong
//! number of arguments, a source that does not compile, a warpgroup product whose operands change
//! before its wait or that is never waited for — the ldmatrix layout against the PTX ISA's, and
//! the launch plans' refusals, which need no device. The kernels themselves are checked by the GPU
//! tests (`cuda_kernels.rs` and the others), which `.ci/run` also runs on the emulator
//! (`EMERGENT_EMULATE_CUDA=1`, see DEVELOPERS.md).

use cuda_emulator::{emulator, Args, Shape, Source};
use half::bf16;

/// `blocks` blocks of `threads` threads.
fn grid(blocks: usize, threads: u32) -> Shape {
    Shape::blocks(blocks as u32, threads)
}

#[test]
fn a_deadlock_an_unknown_kernel_and_an_oversized_block_are_errors() {
    // Half the block waits at a barrier the other half never reaches: the emulator reports it.
    static SOURCE: Source = Source {
        name: "deadlock.cu",
        text: "extern \"C\" __global__ void split(float* x) {\n\
                 if (threadIdx.x < 16) { __syncthreads(); x[0] = 1.0f; }\n\
                 else { __syncwarp(); x[1] = 1.0f; }\n}\n",
        kernels: &["split"],
    };
    let mut x = vec![0.0f32; 2];
    let emu = emulator(&SOURCE).unwrap();
    let mut args = Args::new();
    args.slice_mut(&mut x);
    // Safety: `split(float* x)` writes x[0] and x[1].
    let err = unsafe { emu.launch("split", grid(1, 32), &mut args) }.unwrap_err();
    assert!(err.to_string().contains("deadlocked"), "{err}");
    // Safety: refused before anything runs (a name the source lacks, a block too large).
    let err = unsafe { emu.launch("splitt", grid(1, 32), &mut args) }.unwrap_err();
    assert!(err.to_string().contains("deadlock.cu: no kernel splitt"), "{err}");
    let err = unsafe { emu.launch("split", grid(1, 2048), &mut args) }.unwrap_err();
    assert!(err.to_string().contains("1 to 1024 threads a block"), "{err}");
}

#[test]
fn a_missing_barrier_shows_as_a_wrong_result() {
    // Each thread writes its slot, then reads its neighbour's without __syncthreads: the emulator's
    // shuffled thread order makes some reads see the old value (as a GPU may).
    static SOURCE: Source = Source {
        name: "race.cu",
        text: "extern \"C\" __global__ void neighbour(int sync, float base, float* out) {\n\
                 __shared__ float slots[256];\n\
                 slots[threadIdx.x] = base + threadIdx.x;\n\
                 if (sync) __syncthreads();\n\
                 out[threadIdx.x] = slots[(threadIdx.x + 1) % 256];\n}\n",
        kernels: &["neighbour"],
    };
    let emu = emulator(&SOURCE).unwrap();
    for (sync, base) in [(1i32, 1000.0f32), (0, 2000.0)] {
        // A new base each launch: the slots' values from the launch before must not pass as right.
        let want: Vec<f32> = (0..256).map(|i| base + ((i + 1) % 256) as f32).collect();
        let mut out = vec![-1.0f32; 256];
        let mut args = Args::new();
        args.value(sync).value(base).slice_mut(&mut out);
        // Safety: `neighbour(int, float, float* out)` writes 256 floats.
        unsafe { emu.launch("neighbour", grid(1, 256), &mut args) }.unwrap();
        drop(args);
        assert_eq!(out == want, sync == 1, "sync {sync}");
    }
}

#[test]
fn warps_drift_apart_between_barriers() {
    // Each warp's lane 0 writes its warp's slot, the warp meets at __syncwarp (a point where every
    // thread switches), then lane 0 reads the next warp's slot. Without __syncthreads nothing
    // orders that read after the other warp's write: warps that run in step would hide it, but a
    // warp may rest a round, so in some of 64 blocks a slot is read before it is written (NaN:
    // shared memory starts as garbage).
    static SOURCE: Source = Source {
        name: "drift.cu",
        text: "extern \"C\" __global__ void next_warp(int sync, float* out) {\n\
                 extern __shared__ float slots[];\n\
                 int warp = threadIdx.x / 32, warps = blockDim.x / 32;\n\
                 if (threadIdx.x % 32 == 0) slots[warp] = 1.0f + warp;\n\
                 __syncwarp();\n\
                 if (sync) __syncthreads();\n\
                 if (threadIdx.x % 32 == 0) out[blockIdx.x * warps + warp] = slots[(warp + 1) % warps];\n}\n",
        kernels: &["next_warp"],
    };
    let emu = emulator(&SOURCE).unwrap();
    let (blocks, warps) = (64, 8);
    let want: Vec<f32> = (0..blocks * warps).map(|i| 1.0 + ((i % warps + 1) % warps) as f32).collect();
    let cfg = grid(blocks, 32 * warps as u32).with_shared(4 * warps);
    for sync in [1i32, 0] {
        let mut out = vec![-1.0f32; blocks * warps];
        let mut args = Args::new();
        args.value(sync).slice_mut(&mut out);
        // Safety: `next_warp(int, float* out)` writes a float per warp of each block.
        unsafe { emu.launch("next_warp", cfg, &mut args) }.unwrap();
        drop(args);
        if sync == 1 {
            assert_eq!(out, want);
        } else {
            assert!(out.iter().any(|v| v.is_nan()), "every slot was written before it was read: {out:?}");
        }
    }
}

#[test]
fn the_blocks_of_a_cluster_run_together_each_with_its_own_shared_memory() {
    // Each block writes its dynamic shared memory, then every thread reads the next block's
    // (DSMEM) after a cluster barrier. Without the barrier the next block may not have started
    // (or written): an error. So is reading a block that has exited, or a static variable.
    static SOURCE: Source = Source {
        name: "ring.cu",
        text: "extern \"C\" __global__ void ring(int sync, float base, float* out) {\n\
                 extern __shared__ float slots[];\n\
                 slots[threadIdx.x] = base + 100.0f * blockIdx.x + threadIdx.x;\n\
                 if (sync) cluster_sync();\n\
                 unsigned rank = cluster_block_rank(), next = (rank + 1) % cluster_blocks();\n\
                 out[blockIdx.x * blockDim.x + threadIdx.x] = *peer_shared(slots + threadIdx.x, next);\n\
                 if (sync) cluster_sync();\n}\n\
                 extern \"C\" __global__ void late(float* out) {\n\
                 extern __shared__ float slots[];\n\
                 if (cluster_block_rank() == 0) return;\n\
                 cluster_sync();\n\
                 out[0] = *peer_shared(slots, 0);\n}\n\
                 extern \"C\" __global__ void stray(float* out) {\n\
                 __shared__ float fixed[1];\n\
                 out[0] = *peer_shared(fixed, 0);\n}\n",
        kernels: &["ring", "late", "stray"],
    };
    let emu = emulator(&SOURCE).unwrap();
    let (blocks, cluster, threads) = (6u32, 3u32, 64u32);
    let cfg = grid(blocks as usize, threads).with_shared(threads as usize * 4);
    // Block b reads block first + (b − first + 1) % 3 of its cluster (first = 3·(b / 3)).
    let want: Vec<f32> = (0..blocks * threads)
        .map(|i| {
            let (b, t) = (i / threads, i % threads);
            let next = b / cluster * cluster + (b % cluster + 1) % cluster;
            1000.0 + 100.0 * next as f32 + t as f32
        })
        .collect();
    let mut out = vec![-1.0f32; (blocks * threads) as usize];
    let mut args = Args::new();
    args.value(1i32).value(1000.0f32).slice_mut(&mut out);
    // Safety: `ring(int, float, float* out)` writes blocks·threads floats.
    unsafe { emu.launch("ring", cfg.in_clusters(cluster), &mut args) }.unwrap();
    drop(args);
    assert_eq!(out, want);
    let mut args = Args::new();
    args.value(0i32).value(1000.0f32).slice_mut(&mut out);
    // Safety: as above.
    let err = unsafe { emu.launch("ring", cfg.in_clusters(cluster), &mut args) }.unwrap_err();
    assert!(err.to_string().contains("before a cluster barrier"), "{err}");
    // A grid that is not whole clusters is refused.
    let err = unsafe { emu.launch("ring", cfg.in_clusters(4), &mut args) }.unwrap_err();
    assert!(err.to_string().contains("not made of clusters of 4"), "{err}");
    drop(args);
    for (kernel, error) in [("late", "has exited"), ("stray", "not in the block's dynamic shared memory")] {
        let mut args = Args::new();
        args.slice_mut(&mut out);
        // Safety: `late(float* out)` and `stray(float* out)` write out[0].
        let err = unsafe { emu.launch(kernel, cfg.in_clusters(2), &mut args) }.unwrap_err();
        assert!(err.to_string().contains(error), "{kernel}: {err}");
    }
}

#[test]
fn shared_memory_starts_as_garbage_in_every_block() {
    // Block 0 writes its shared memory; every block then reads it: block 0 its values, block 1 the
    // garbage (NaN) a block's shared memory starts with, not block 0's leftovers.
    static SOURCE: Source = Source {
        name: "unwritten.cu",
        text: "extern \"C\" __global__ void unwritten(float* out) {\n\
                 extern __shared__ float tile[];\n\
                 if (blockIdx.x == 0) tile[threadIdx.x] = 1.0f;\n\
                 __syncthreads();\n\
                 out[blockIdx.x * blockDim.x + threadIdx.x] = tile[threadIdx.x];\n}\n",
        kernels: &["unwritten"],
    };
    let emu = emulator(&SOURCE).unwrap();
    let cfg = grid(2, 32).with_shared(32 * 4);
    let mut out = vec![0.0f32; 64];
    let mut args = Args::new();
    args.slice_mut(&mut out);
    // Safety: `unwritten(float* out)` writes 2·32 floats.
    unsafe { emu.launch("unwritten", cfg, &mut args) }.unwrap();
    drop(args);
    assert!(out[..32].iter().all(|&v| v == 1.0) && out[32..].iter().all(|v| v.is_nan()), "{out:?}");
}

#[test]
fn an_async_copy_lands_at_its_commit_or_at_its_wait() {
    // Each thread copies 16 bytes global → shared by cp.async; after the barrier a neighbour reads
    // them. Waited for, every copy is there. Not waited for, each group lands at one end or the
    // other, drawn per group: some neighbours read the copy (landed at its commit, as a refill issued
    // too early would show) and the others the old contents, zeros (as a missing wait would show).
    static SOURCE: Source = Source {
        name: "async.cu",
        text: "extern \"C\" __global__ void staged(int wait, const float* x, float* out) {\n\
                 extern __shared__ __align__(16) float tile[];\n\
                 tile[4 * threadIdx.x] = 0.0f;\n\
                 __syncthreads();\n\
                 cp_async16(tile + 4 * threadIdx.x, x + 4 * threadIdx.x, true);\n\
                 cp_async_commit();\n\
                 if (wait) cp_async_wait<0>();\n\
                 __syncthreads();\n\
                 out[threadIdx.x] = tile[4 * ((threadIdx.x + 1) % blockDim.x)];\n}\n",
        kernels: &["staged"],
    };
    let emu = emulator(&SOURCE).unwrap();
    let x: Vec<f32> = (0..128).map(|i| i as f32 + 1.0).collect();
    let want: Vec<f32> = (0..32).map(|t| x[4 * ((t + 1) % 32)]).collect();
    let cfg = grid(1, 32).with_shared(128 * 4);
    for wait in [1i32, 0] {
        let mut out = vec![-1.0f32; 32];
        let mut args = Args::new();
        args.value(wait).slice(&x).slice_mut(&mut out);
        // Safety: `staged(int, const float* x, float* out)` reads 128 floats of x, writes 32.
        unsafe { emu.launch("staged", cfg, &mut args) }.unwrap();
        drop(args);
        if wait == 1 {
            assert_eq!(out, want);
        } else {
            let early = out.iter().zip(&want).filter(|(o, w)| o == w).count();
            let late = out.iter().filter(|&&o| o == 0.0).count();
            assert!(early > 0 && late > 0 && early + late == 32, "{out:?}");
        }
    }
}

#[test]
fn a_misaligned_vector_access_is_an_error_as_on_the_gpu() {
    // A float4 read from x + xo and a uint2 written at y + yo: fine 16 and 8 bytes in, a fault
    // (the GPU's "misaligned address") 4 bytes in.
    static SOURCE: Source = Source {
        name: "vectors.cu",
        text: "extern \"C\" __global__ void vectors(int xo, int yo, const float* x, float* y) {\n\
                 float4 v = *reinterpret_cast<const float4*>(x + xo);\n\
                 *reinterpret_cast<uint2*>(y + yo) = make_uint2(1, 2);\n\
                 y[8] = v.x + v.y + v.z + v.w;\n}\n",
        kernels: &["vectors"],
    };
    let emu = emulator(&SOURCE).unwrap();
    #[repr(align(16))]
    struct Aligned([f32; 16]);
    let x = Aligned([1.0; 16]);
    for (xo, yo, fine) in [(4i32, 2i32, true), (1, 2, false), (4, 1, false)] {
        let mut y = Aligned([0.0; 16]);
        let mut args = Args::new();
        args.value(xo).value(yo).slice(&x.0).slice_mut(&mut y.0);
        // Safety: `vectors(int, int, const float* x, float* y)` reads x[xo…xo + 3] and writes
        // y[yo], y[yo + 1] and y[8], all inside the 16 floats.
        let result = unsafe { emu.launch("vectors", grid(1, 1), &mut args) };
        match result {
            Ok(()) => assert!(fine && y.0[8] == 4.0, "{xo}, {yo}"),
            Err(err) => assert!(!fine && err.to_string().contains("misaligned address"), "{xo}, {yo}: {err}"),
        }
    }
}

#[test]
fn ldmatrix_hands_each_lane_the_words_the_ptx_isa_gives_it() {
    // Four 8 × 8 matrices of 16-bit elements, matrix i's row r 32 bytes apart, element e of it
    // 100·i + 10·r + e (word w holding elements 2w and 2w + 1, the first in its low half). Lane l
    // names row l % 8 of matrix l / 8. The PTX ISA gives lane 4r + w word w of row r of each matrix
    // (x4: four matrices, x2: the first two, named by lanes 0–15), and with .trans lane
    // (g, q) = 4g + q the elements g of rows 2q and 2q + 1. A row address 4 bytes off 16 is a fault.
    static SOURCE: Source = Source {
        name: "ldmatrix.cu",
        text: "extern \"C\" __global__ void load(int misalign, unsigned* out) {\n\
                 __shared__ __align__(16) unsigned tile[256];\n\
                 for (int w = threadIdx.x; w < 256; w += 32) {\n\
                     unsigned element = 100 * (w / 64) + 10 * (w % 64 / 8) + 2 * (w % 8);\n\
                     tile[w] = element | (element + 1) << 16;\n\
                 }\n\
                 __syncthreads();\n\
                 int l = threadIdx.x;\n\
                 unsigned four[4], two[2], trans_four[4], trans_two[2];\n\
                 ldmatrix(four, tile + 64 * (l / 8) + 8 * (l % 8) + misalign);\n\
                 ldmatrix(two, tile + 64 * (l / 8 % 2) + 8 * (l % 8));\n\
                 ldmatrix_trans(trans_four, tile + 64 * (l / 8) + 8 * (l % 8));\n\
                 ldmatrix_trans(trans_two, tile + 64 * (l / 8 % 2) + 8 * (l % 8));\n\
                 for (int i = 0; i < 4; ++i) out[12 * l + i] = four[i], out[12 * l + 6 + i] = trans_four[i];\n\
                 for (int i = 0; i < 2; ++i) out[12 * l + 4 + i] = two[i], out[12 * l + 10 + i] = trans_two[i];\n}\n",
        kernels: &["load"],
    };
    let emu = emulator(&SOURCE).unwrap();
    let element = |i: u32, r: u32, e: u32| 100 * i + 10 * r + e;
    let pair = |low: u32, high: u32| low | high << 16;
    let want: Vec<u32> = (0..32)
        .flat_map(|t: u32| {
            let (g, q) = (t / 4, t % 4);
            let word = |i| pair(element(i, g, 2 * q), element(i, g, 2 * q + 1));
            let transposed = |i| pair(element(i, 2 * q, g), element(i, 2 * q + 1, g));
            [0, 1, 2, 3, 0, 1].map(word).into_iter().chain([0, 1, 2, 3, 0, 1].map(transposed))
        })
        .collect();
    for misalign in [0i32, 1] {
        let mut out = vec![0u32; 12 * 32];
        let mut args = Args::new();
        args.value(misalign).slice_mut(&mut out);
        // Safety: `load(int, unsigned* out)` writes 12 words per lane of one warp.
        let result = unsafe { emu.launch("load", grid(1, 32), &mut args) };
        drop(args);
        match (misalign, result) {
            (0, Ok(())) => assert_eq!(out, want),
            (1, Err(err)) => assert!(err.to_string().contains("not 16-byte aligned"), "{err}"),
            (_, result) => panic!("misalign {misalign}: {result:?}"),
        }
    }
}

#[test]
fn the_emulator_checks_wmma_pointers_and_the_argument_count() {
    // A fragment loaded from a pointer 2 bytes past a 32-byte boundary breaks WMMA's contract.
    static SOURCE: Source = Source {
        name: "misaligned.cu",
        text: "#include <mma.h>\n\
                 extern \"C\" __global__ void load(int offset, const __nv_bfloat16* a, float* out) {\n\
                 __shared__ __align__(32) __nv_bfloat16 tile[2 * 256];\n\
                 for (int i = threadIdx.x; i < 512; i += 32) tile[i] = a[i];\n\
                 __syncthreads();\n\
                 nvcuda::wmma::fragment<nvcuda::wmma::matrix_a, 16, 16, 16, __nv_bfloat16, nvcuda::wmma::row_major> f;\n\
                 nvcuda::wmma::load_matrix_sync(f, tile + offset, 16);\n\
                 out[threadIdx.x] = (float)f.x[0];\n}\n",
        kernels: &["load"],
    };
    let emu = emulator(&SOURCE).unwrap();
    let a = vec![bf16::from_f32(1.0); 512];
    for offset in [16i32, 1] {
        let mut out = vec![0.0f32; 32];
        let mut args = Args::new();
        args.value(offset).slice(&a).slice_mut(&mut out);
        // Safety: `load(int, const bf16* a, float* out)` reads 512 values of a, writes 32 of out.
        let result = unsafe { emu.launch("load", grid(1, 32), &mut args) };
        match offset {
            16 => assert!(result.is_ok(), "{result:?}"),
            _ => assert!(result.unwrap_err().to_string().contains("not 32-byte aligned")),
        }
    }
    let mut args = Args::new();
    args.value(0i32);
    // Safety: refused before the kernel runs.
    let err = unsafe { emu.launch("load", grid(1, 32), &mut args) }.unwrap_err();
    assert!(err.to_string().contains("takes 3 arguments, not 1"), "{err}");
}

#[test]
fn a_source_that_does_not_compile_is_refused_with_the_compilers_message() {
    static SOURCE: Source = Source {
        name: "broken.cu",
        text: "extern \"C\" __global__ void k(float* x) { x[0] = nope; }\n",
        kernels: &["k"],
    };
    let err = emulator(&SOURCE).err().expect("a compile error").to_string();
    assert!(err.contains("building broken.cu") && err.contains("nope"), "{err}");
}

#[test]
fn warpgroup_products_run_at_their_wait_and_must_be_waited_for() {
    // One warpgroup: D (64 × 256) = A·Bᵀ for A all ones and B all twos (16 deep): 32 everywhere.
    // The tile is overwritten with zeros after the product is issued: the product reads shared
    // memory when it is waited for (as the GPU may), so waiting first gives 32, waiting after
    // the overwrite 0; and returning without a wait is a broken contract.
    static SOURCE: Source = Source {
        name: "wgmma.cu",
        text: concat!(
            "#include <cuda_bf16.h>\n",
            include_str!("../../src/cuda/warpgroup_mma.cuh"),
            "extern \"C\" __global__ void product(int wait_first, int never_wait, float* out) {\n\
             extern __shared__ __align__(1024) __nv_bfloat16 tiles[];\n\
             for (int i = threadIdx.x; i < 320 * 64; i += 128) tiles[i] = __float2bfloat16_rn(i < 64 * 64 ? 1.0f : 2.0f);\n\
             __syncthreads();\n\
             float d[128] = {};\n\
             wgmma_m64n256k16(d, wgmma_descriptor(tiles), wgmma_descriptor(tiles + 64 * 64), 1);\n\
             wgmma_commit();\n\
             if (never_wait) return;\n\
             if (wait_first) wgmma_wait<0>();\n\
             __syncthreads();\n\
             for (int i = threadIdx.x; i < 320 * 64; i += 128) tiles[i] = __float2bfloat16_rn(0.0f);\n\
             __syncthreads();\n\
             wgmma_wait<0>();\n\
             out[threadIdx.x] = d[0] + d[127];\n}\n"
        ),
        kernels: &["product"],
    };
    let emu = emulator(&SOURCE).unwrap();
    let cfg = grid(1, 128).with_shared(320 * 64 * 2);
    for (wait_first, never_wait, want) in [(1i32, 0i32, Some(64.0f32)), (0, 0, Some(0.0)), (0, 1, None)] {
        let mut out = vec![-1.0f32; 128];
        let mut args = Args::new();
        args.value(wait_first).value(never_wait).slice_mut(&mut out);
        // Safety: `product(int, int, float* out)` writes 128 floats; 40 KB of dynamic shared memory.
        let result = unsafe { emu.launch("product", cfg, &mut args) };
        drop(args);
        match want {
            Some(want) => {
                result.unwrap();
                assert!(out.iter().all(|&x| x == want), "wait first {wait_first}: {:?}", &out[..4]);
            }
            None => assert!(result.unwrap_err().to_string().contains("never waited for")),
        }
    }
}
