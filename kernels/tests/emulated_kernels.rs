//! The CUDA kernels run on the CPU emulator (`kernels::cuda::emulator`) against the CPU kernels,
//! each launched with the plan the GPU launch uses: the kernels' logic is checked on every machine,
//! CI included. `cuda_kernels.rs` makes the same checks on a GPU.

use half::bf16;
use kernels::cpu::gemm::{gemm, MatRef};
use kernels::cpu::layer_norm::{layer_norm_backward_rows, layer_norm_rows};
use kernels::cpu::softmax::{log_softmax_backward_rows, log_softmax_rows, softmax_backward_rows, softmax_rows};
use kernels::cuda::emulator::{emulator, Args, DeviceBuffer};
use kernels::cuda::launch::{self, *};
use kernels::cuda::{source, CudaError};

mod common;
use common::{max_rel_err, random, reference_attention};

/// Runs `plan` from `file` on the emulator.
fn run(file: &'static str, plan: Plan, args: &mut Args<'_>) {
    let emu = emulator(source(file)).unwrap_or_else(|e| panic!("{e}"));
    // Safety: each test passes the kernel's arguments in the order of its signature, with buffers
    // of the sizes the plan's launch covers.
    unsafe { emu.launch(plan.kernel, plan.cfg, args) }.unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn softmax_versions_and_backward_match_the_cpu() {
    for (rows, cols) in [(7, 5), (40, 1000), (2, 50257)] {
        let (x, dy) = (random(rows * cols, 1), random(rows * cols, 2));
        for log in [false, true] {
            let (mut want, mut want_dx) = (vec![0.0; rows * cols], vec![0.0; rows * cols]);
            if log {
                log_softmax_rows(&x, &mut want, cols);
                log_softmax_backward_rows(&want, &dy, &mut want_dx, cols);
            } else {
                softmax_rows(&x, &mut want, cols);
                softmax_backward_rows(&want, &dy, &mut want_dx, cols);
            }
            for version in [SoftmaxVersion::ThreadPerRow, SoftmaxVersion::WarpPerRow, SoftmaxVersion::BlockPerRow] {
                let Ok(plan) = launch::softmax_plan(version, log, (rows, cols)) else {
                    assert!(log && version != SoftmaxVersion::BlockPerRow, "{version:?} refused softmax");
                    continue;
                };
                let mut y = vec![0.0; rows * cols];
                let mut args = Args::new();
                if version == SoftmaxVersion::BlockPerRow {
                    args.value(i32::from(log));
                }
                args.value(rows as i32).value(cols as i32).slice(&x).slice_mut(&mut y);
                run("softmax.cu", plan, &mut args);
                let err = max_rel_err(&y, &want);
                assert!(err <= 1e-5, "{version:?} log {log} {rows}×{cols}: {err}");
            }
            let mut dx = vec![0.0; rows * cols];
            let mut args = Args::new();
            args.value(i32::from(log)).value(rows as i32).value(cols as i32);
            args.slice(&want).slice(&dy).slice_mut(&mut dx);
            run("softmax.cu", launch::softmax_backward_plan((rows, cols)), &mut args);
            let err = max_rel_err(&dx, &want_dx);
            assert!(err <= 1e-5, "backward log {log} {rows}×{cols}: {err}");
        }
    }
}

#[test]
fn plans_refuse_what_their_kernels_cannot_do() {
    let err = launch::softmax_plan(SoftmaxVersion::WarpPerRow, true, (4, 4)).unwrap_err();
    assert!(matches!(&err, CudaError::Driver(m) if m.contains("block-per-row")), "{err}");
    assert!(launch::softmax_plan(SoftmaxVersion::BlockPerRow, true, (4, 4)).is_ok());
    // Attention: d ≤ 128 for any version, d ≤ 64 for the tiled ones, s ≥ t when causal.
    let shape = |d, t, s| AttentionShape { bh: 2, t, s, d, causal: true, scale: 0.1 };
    for version in [AttentionVersion::RowPerThread, AttentionVersion::Tiled, AttentionVersion::TensorCores] {
        for bad in [shape(129, 8, 8), shape(0, 8, 8), shape(64, 9, 8)] {
            assert!(launch::attention_forward_plan(version, bad).is_err(), "{version:?} {bad:?}");
            assert!(launch::attention_backward_plans(version, bad).is_err(), "{version:?} {bad:?}");
        }
        let wide = launch::attention_forward_plan(version, shape(100, 8, 8));
        assert_eq!(wide.is_ok(), version == AttentionVersion::RowPerThread, "{version:?} d = 100");
    }
    assert_eq!(AttentionVersion::best_for(64, true), AttentionVersion::TensorCores);
    assert_eq!(AttentionVersion::best_for(64, false), AttentionVersion::Tiled);
    assert_eq!(AttentionVersion::best_for(100, true), AttentionVersion::RowPerThread);
    // Register blocking loads B by float4; the tensor-core GEMMs take multiples of 16.
    assert!(launch::gemm_f32_plan(GemmVersion::RegisterBlocked, (8, 6, 8)).is_err());
    assert!(launch::gemm_f32_plan(GemmVersion::Tiled, (8, 6, 8)).is_ok());
    assert!(launch::gemm_wmma_plan(WmmaVersion::Pipelined, (32, 32, 24)).is_err());
}

#[test]
fn layer_norm_versions_and_backward_match_the_cpu() {
    // 768 columns: the dγ/dβ partials in shared memory; 7000: straight into global memory.
    for (rows, cols) in [(33, 768), (5, 7000)] {
        let (x, gamma, beta, dy) = (random(rows * cols, 2), random(cols, 3), random(cols, 4), random(rows * cols, 5));
        let (mut y, mut mean, mut rstd) = (vec![0.0; rows * cols], vec![0.0; rows], vec![0.0; rows]);
        layer_norm_rows(&x, &gamma, &beta, 1e-5, &mut y, &mut mean, &mut rstd, cols);
        for version in [LayerNormVersion::ThreadPerRow, LayerNormVersion::WarpPerRow, LayerNormVersion::BlockPerRow] {
            let (mut yd, mut md, mut rd) = (vec![0.0; rows * cols], vec![0.0; rows], vec![0.0; rows]);
            let mut args = Args::new();
            args.value(rows as i32).value(cols as i32).value(1e-5f32).slice(&x).slice(&gamma).slice(&beta);
            args.slice_mut(&mut yd).slice_mut(&mut md).slice_mut(&mut rd);
            run("layer_norm.cu", launch::layer_norm_plan(version, rows), &mut args);
            drop(args);
            for (name, got, want) in [("y", &yd, &y), ("mean", &md, &mean), ("rstd", &rd, &rstd)] {
                let err = max_rel_err(got, want);
                assert!(err <= 1e-5, "{version:?} {rows}×{cols} {name}: {err}");
            }
        }
        let (mut dx, mut dgamma, mut dbeta) = (vec![0.0; rows * cols], vec![0.0; cols], vec![0.0; cols]);
        layer_norm_backward_rows(&x, &gamma, &mean, &rstd, &dy, &mut dx, &mut dgamma, &mut dbeta, cols);
        let (plan, shared) = launch::layer_norm_backward_plan((rows, cols));
        assert_eq!(shared, cols <= 6144);
        let (mut dxd, mut dgd, mut dbd) = (vec![0.0; rows * cols], vec![0.0; cols], vec![0.0; cols]);
        let mut args = Args::new();
        args.value(rows as i32).value(cols as i32).value(i32::from(shared));
        args.slice(&x).slice(&gamma).slice(&mean).slice(&rstd).slice(&dy);
        args.slice_mut(&mut dxd).slice_mut(&mut dgd).slice_mut(&mut dbd);
        run("layer_norm.cu", plan, &mut args);
        drop(args);
        for (name, got, want) in [("dx", &dxd, &dx), ("dgamma", &dgd, &dgamma), ("dbeta", &dbd, &dbeta)] {
            let err = max_rel_err(got, want);
            assert!(err <= 1e-4, "backward {rows}×{cols} {name}: {err}");
        }
    }
}

#[test]
fn gemm_versions_match_the_cpu() {
    for (m, n, k) in [(64, 64, 64), (130, 260, 70), (144, 80, 48)] {
        let (a, b) = (random(m * k, 5), random(k * n, 6));
        let mut want = vec![0.0; m * n];
        gemm(MatRef::row_major(&a, m, k), MatRef::row_major(&b, k, n), &mut want, n, false);
        for version in [GemmVersion::Naive, GemmVersion::Tiled, GemmVersion::RegisterBlocked] {
            let mut c = vec![0.0; m * n];
            let mut args = Args::new();
            args.value(m as i32).value(n as i32).value(k as i32).slice(&a).slice(&b).slice_mut(&mut c);
            run("gemm.cu", launch::gemm_f32_plan(version, (m, n, k)).unwrap(), &mut args);
            drop(args);
            let err = max_rel_err(&c, &want);
            assert!(err <= 1e-4, "{version:?} {m}×{n}×{k}: {err}");
        }
        // Tensor cores: bf16 inputs, f32 accumulation, against the product of the rounded inputs.
        let Ok(_) = launch::gemm_wmma_plan(WmmaVersion::Direct, (m, n, k)) else {
            assert!(m % 16 != 0 || n % 16 != 0 || k % 16 != 0);
            continue;
        };
        // bf16 operands in memory as the driver allocates it (the direct version loads fragments
        // straight from A and B, which needs 32-byte alignment).
        let to_bf16 = |v: &[f32]| DeviceBuffer::from_slice(&v.iter().map(|&x| bf16::from_f32(x)).collect::<Vec<_>>());
        let (ah, bh) = (to_bf16(&a), to_bf16(&b));
        let rounded = |v: &[bf16]| v.iter().map(|x| x.to_f32()).collect::<Vec<f32>>();
        let (ar, br) = (rounded(&ah), rounded(&bh));
        gemm(MatRef::row_major(&ar, m, k), MatRef::row_major(&br, k, n), &mut want, n, false);
        for version in [WmmaVersion::Direct, WmmaVersion::SharedTiles, WmmaVersion::Pipelined] {
            // The direct version stores fragments straight to C: 32-byte aligned, as on the GPU.
            let mut c = DeviceBuffer::from_slice(&vec![0.0f32; m * n]);
            let mut args = Args::new();
            args.value(m as i32).value(n as i32).value(k as i32).slice(&ah).slice(&bh).slice_mut(&mut c);
            run("gemm.cu", launch::gemm_wmma_plan(version, (m, n, k)).unwrap(), &mut args);
            drop(args);
            let err = max_rel_err(&c, &want);
            assert!(err <= 1e-4, "{version:?} {m}×{n}×{k}: {err}");
        }
    }
}

#[test]
fn fused_attention_matches_the_formulas() {
    // Causal self-attention, causal with more keys than queries (a cache), no mask; tiles cut off
    // at the sequence ends (and, for the tensor cores, a second block of queries and keys); the
    // tiled kernels for d ≤ 64.
    let shapes = [
        (2, 40, 40, 64, true),
        (1, 90, 130, 64, true),
        (2, 40, 70, 32, true),
        (1, 33, 50, 20, false),
        (1, 20, 20, 100, true),
    ];
    let versions = [AttentionVersion::RowPerThread, AttentionVersion::Tiled, AttentionVersion::TensorCores];
    for (version, (bh, t, s, d, causal)) in versions.iter().flat_map(|v| shapes.map(|x| (*v, x))) {
        let shape = AttentionShape { bh, t, s, d, causal, scale: 1.0 / (d as f32).sqrt() };
        // bf16 operands (8 significant bits) on the tensor cores: errors up to 1.4% seen here,
        // where a wrong mask or tile is off by order 1; f32 elsewhere.
        let tolerance = if version == AttentionVersion::TensorCores { 3e-2 } else { 1e-4 };
        let Ok(forward) = launch::attention_forward_plan(version, shape) else {
            assert!(version != AttentionVersion::RowPerThread && d > 64);
            continue;
        };
        let (q, k, v, dout) =
            (random(bh * t * d, 11), random(bh * s * d, 12), random(bh * s * d, 13), random(bh * t * d, 14));
        let (mut o, mut lse, mut dot) = (vec![0.0; bh * t * d], vec![0.0; bh * t], vec![0.0; bh * t]);
        let (t32, s32, d32, c32) = (t as i32, s as i32, d as i32, i32::from(causal));
        let mut args = Args::new();
        args.value(t32).value(s32).value(d32).value(c32).value(shape.scale);
        args.slice(&q).slice(&k).slice(&v).slice_mut(&mut o).slice_mut(&mut lse);
        run("attention.cu", forward, &mut args);
        drop(args);
        let (mut dq, mut dk, mut dv) = (vec![0.0; bh * t * d], vec![0.0; bh * s * d], vec![0.0; bh * s * d]);
        for plan in launch::attention_backward_plans(version, shape).unwrap() {
            let mut args = Args::new();
            if plan.kernel == "attention_backward_dot" {
                args.value((bh * t) as i64).value(d32).slice(&o).slice(&dout).slice_mut(&mut dot);
            } else {
                args.value(t32).value(s32).value(d32).value(c32).value(shape.scale);
                args.slice(&q).slice(&k).slice(&v).slice(&dout).slice(&lse).slice(&dot);
                match plan.kernel {
                    "attention_backward_tiled" | "attention_backward_tensor_cores" => {
                        args.slice_mut(&mut dq).slice_mut(&mut dk).slice_mut(&mut dv)
                    }
                    "attention_backward_dkdv" => args.slice_mut(&mut dk).slice_mut(&mut dv),
                    _ => args.slice_mut(&mut dq),
                };
            }
            run("attention.cu", plan, &mut args);
        }
        for n in 0..bh {
            let part = |x: &[f32], rows: usize| x[n * rows * d..(n + 1) * rows * d].to_vec();
            let want =
                reference_attention((&part(&q, t), &part(&k, s), &part(&v, s), &part(&dout, t)), (t, s, d), causal);
            let got = [part(&o, t), part(&dq, t), part(&dk, s), part(&dv, s)];
            for (name, (g, w)) in ["O", "dQ", "dK", "dV"].iter().zip(got.iter().zip(&want)) {
                let err = max_rel_err(g, w);
                assert!(err <= tolerance, "{version:?} {t}×{s}×{d} causal {causal}, sequence {n}, {name}: {err}");
            }
        }
    }
}

#[test]
fn gelu_and_fused_cross_entropy_match_the_cpu() {
    use kernels::cpu::cross_entropy::{cross_entropy_backward, cross_entropy_forward};
    use kernels::cpu::gelu::{gelu, gelu_backward, GeluApproximation};
    let (x, dy) = (random(3000, 7), random(3000, 8));
    for (tanh, approx) in [(0i32, GeluApproximation::Erf), (1, GeluApproximation::Tanh)] {
        let (mut want, mut want_dx) = (vec![0.0; x.len()], vec![0.0; x.len()]);
        gelu(&x, &mut want, approx);
        gelu_backward(&x, &dy, &mut want_dx, approx);
        let (mut y, mut dx) = (vec![0.0; x.len()], vec![0.0; x.len()]);
        let n = x.len() as i64;
        let mut args = Args::new();
        args.value(tanh).value(n).slice(&x).slice_mut(&mut y);
        run("gelu.cu", Plan { kernel: "gelu_forward", cfg: elementwise(x.len()) }, &mut args);
        let mut args = Args::new();
        args.value(tanh).value(n).slice(&x).slice(&dy).slice_mut(&mut dx);
        run("gelu.cu", Plan { kernel: "gelu_backward", cfg: elementwise(x.len()) }, &mut args);
        drop(args);
        assert!(max_rel_err(&y, &want) <= 1e-5, "{approx:?}");
        assert!(max_rel_err(&dx, &want_dx) <= 1e-5, "{approx:?} backward");
    }
    // 4 rows of a 50257-token vocabulary; row 2 is ignored (-100).
    let (rows, vocab) = (4, 50257);
    let logits = random(rows * vocab, 9);
    let targets: Vec<i64> = vec![17, 50256, -100, 12345];
    let as_option: Vec<Option<usize>> = targets.iter().map(|&t| (t >= 0).then_some(t as usize)).collect();
    let dloss = [0.25f32; 4];
    let (mut losses, mut dlogits) = (vec![0.0; rows], vec![0.0; rows * vocab]);
    cross_entropy_forward(&logits, &as_option, vocab, &mut losses);
    cross_entropy_backward(&logits, &as_option, &dloss, vocab, &mut dlogits);
    let (mut got_losses, mut got_dlogits) = (vec![0.0; rows], vec![0.0; rows * vocab]);
    let mut args = Args::new();
    args.value(rows as i32).value(vocab as i32).slice(&logits).slice(&targets).value(-100i64);
    args.slice(&dloss).slice_mut(&mut got_losses).slice_mut(&mut got_dlogits);
    run("cross_entropy.cu", launch::cross_entropy_plan((rows, vocab)), &mut args);
    drop(args);
    assert!(max_rel_err(&got_losses, &losses) <= 1e-5);
    assert!(max_rel_err(&got_dlogits, &dlogits) <= 1e-5);
}

#[test]
fn a_kernel_that_deadlocks_is_an_error_not_a_hang() {
    use kernels::cuda::KernelSource;
    // Half the block waits at a barrier the other half never reaches: the emulator reports it.
    static SOURCE: KernelSource = KernelSource {
        name: "deadlock.cu",
        source: "extern \"C\" __global__ void split(float* x) {\n\
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
}

#[test]
fn a_missing_barrier_shows_as_a_wrong_result() {
    use kernels::cuda::KernelSource;
    // Each thread writes its slot, then reads its neighbour's without __syncthreads: the emulator's
    // shuffled thread order makes some reads see the old value (as a GPU may).
    static SOURCE: KernelSource = KernelSource {
        name: "race.cu",
        source: "extern \"C\" __global__ void neighbour(int sync, float base, float* out) {\n\
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
fn the_emulator_checks_wmma_pointers_and_the_argument_count() {
    use kernels::cuda::KernelSource;
    // A fragment loaded from a pointer 2 bytes past a 32-byte boundary breaks WMMA's contract.
    static SOURCE: KernelSource = KernelSource {
        name: "misaligned.cu",
        source: "#include <mma.h>\n\
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
