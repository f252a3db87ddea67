//! The CUDA kernels against the CPU kernels (the reference) on random inputs. They need a GPU
//! (`#[ignore]`d elsewhere; run with `--include-ignored` on the GPU machine); without a driver,
//! opening a device is a clear error.

use cudarc::driver::CudaSlice;
use kernels::cpu::gemm::{gemm, MatRef};
use kernels::cpu::layer_norm::{layer_norm_backward_rows, layer_norm_rows};
use kernels::cpu::softmax::{log_softmax_backward_rows, log_softmax_rows, softmax_backward_rows, softmax_rows};
use kernels::cuda::launch::{self, GemmVersion, LayerNormVersion, SoftmaxVersion, WmmaVersion};
use kernels::cuda::{driver_available, CudaError, Gpu};

mod common;
use common::{max_rel_err, random, reference_attention};

fn upload(gpu: &Gpu, v: &[f32]) -> CudaSlice<f32> {
    gpu.stream.clone_htod(v).unwrap()
}

fn download(gpu: &Gpu, v: &CudaSlice<f32>) -> Vec<f32> {
    gpu.stream.clone_dtoh(v).unwrap()
}

#[test]
fn without_a_driver_opening_a_device_is_a_clear_error() {
    if driver_available() {
        return; // a GPU machine: the tests below cover it
    }
    let err = Gpu::new(0).err().expect("no driver here");
    assert_eq!(err, CudaError::NoDriver);
    assert!(err.to_string().contains("no CUDA device"));
}

#[test]
#[ignore = "needs a CUDA GPU"]
fn softmax_versions_and_backward_match_the_cpu() {
    let gpu = Gpu::new(0).unwrap();
    for (rows, cols) in [(7, 5), (64, 1000), (3, 50257)] {
        let (x, dy) = (random(rows * cols, 1), random(rows * cols, 2));
        let (xd, dyd) = (upload(&gpu, &x), upload(&gpu, &dy));
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
                // Log-softmax is written for the block-per-row version only (the plan refuses it).
                if log && version != SoftmaxVersion::BlockPerRow {
                    continue;
                }
                let mut yd = gpu.stream.alloc_zeros::<f32>(rows * cols).unwrap();
                launch::softmax(&gpu, version, log, &xd.slice(..), &mut yd, (rows, cols)).unwrap();
                let err = max_rel_err(&download(&gpu, &yd), &want);
                assert!(err <= 1e-5, "{version:?} log {log} {rows}×{cols}: {err}");
            }
            let (yd, mut dxd) = (upload(&gpu, &want), gpu.stream.alloc_zeros::<f32>(rows * cols).unwrap());
            launch::softmax_backward(&gpu, log, (&yd.slice(..), &dyd.slice(..)), &mut dxd, (rows, cols)).unwrap();
            let err = max_rel_err(&download(&gpu, &dxd), &want_dx);
            assert!(err <= 1e-5, "backward log {log} {rows}×{cols}: {err}");
        }
    }
}

#[test]
#[ignore = "needs a CUDA GPU"]
fn layer_norm_versions_and_backward_match_the_cpu() {
    let gpu = Gpu::new(0).unwrap();
    // 768 columns: rows held in registers, dγ/dβ partials in shared memory; 7000: neither.
    for (rows, cols) in [(33, 768), (5, 7000)] {
        let (x, gamma, beta, dy) = (random(rows * cols, 2), random(cols, 3), random(cols, 4), random(rows * cols, 5));
        let (mut y, mut mean, mut rstd) = (vec![0.0; rows * cols], vec![0.0; rows], vec![0.0; rows]);
        layer_norm_rows(&x, &gamma, &beta, 1e-5, &mut y, &mut mean, &mut rstd, cols);
        let (xd, gd, bd) = (upload(&gpu, &x), upload(&gpu, &gamma), upload(&gpu, &beta));
        for version in [LayerNormVersion::ThreadPerRow, LayerNormVersion::WarpPerRow, LayerNormVersion::BlockPerRow] {
            let mut yd = gpu.stream.alloc_zeros::<f32>(rows * cols).unwrap();
            let (mut md, mut rd) =
                (gpu.stream.alloc_zeros::<f32>(rows).unwrap(), gpu.stream.alloc_zeros::<f32>(rows).unwrap());
            let params = (&gd.slice(..), &bd.slice(..));
            let dims = (rows, cols);
            launch::layer_norm_forward(&gpu, version, &xd.slice(..), params, 1e-5, &mut yd, &mut md, &mut rd, dims)
                .unwrap();
            assert!(max_rel_err(&download(&gpu, &yd), &y) <= 1e-5, "{version:?} {rows}×{cols}");
            assert!(max_rel_err(&download(&gpu, &md), &mean) <= 1e-5, "{version:?} {rows}×{cols}");
            assert!(max_rel_err(&download(&gpu, &rd), &rstd) <= 1e-5, "{version:?} {rows}×{cols}");
        }
        let (mut dx, mut dgamma, mut dbeta) = (vec![0.0; rows * cols], vec![0.0; cols], vec![0.0; cols]);
        layer_norm_backward_rows(&x, &gamma, &mean, &rstd, &dy, &mut dx, &mut dgamma, &mut dbeta, cols);
        assert_eq!(launch::layer_norm_backward_plan((rows, cols)).1, cols <= 6144);
        let (md, rd, dyd) = (upload(&gpu, &mean), upload(&gpu, &rstd), upload(&gpu, &dy));
        let zeros = |n| gpu.stream.alloc_zeros::<f32>(n).unwrap();
        let (mut dxd, mut dgd, mut dbd) = (zeros(rows * cols), zeros(cols), zeros(cols));
        let inputs = [&xd.slice(..), &gd.slice(..), &md.slice(..), &rd.slice(..), &dyd.slice(..)];
        launch::layer_norm_backward(&gpu, inputs, (&mut dxd, &mut dgd, &mut dbd), (rows, cols)).unwrap();
        for (name, got, want) in [("dx", &dxd, &dx), ("dgamma", &dgd, &dgamma), ("dbeta", &dbd, &dbeta)] {
            let err = max_rel_err(&download(&gpu, got), want);
            assert!(err <= 1e-4, "backward {rows}×{cols} {name}: {err}");
        }
    }
}

#[test]
#[ignore = "needs a CUDA GPU"]
fn gemm_versions_match_the_cpu() {
    let gpu = Gpu::new(0).unwrap();
    for (m, n, k) in [(64, 64, 64), (130, 260, 70), (256, 512, 384), (144, 80, 48)] {
        let (a, b) = (random(m * k, 5), random(k * n, 6));
        let mut want = vec![0.0; m * n];
        gemm(MatRef::row_major(&a, m, k), MatRef::row_major(&b, k, n), &mut want, n, false);
        for version in [GemmVersion::Naive, GemmVersion::Tiled, GemmVersion::RegisterBlocked] {
            let (ad, bd) = (upload(&gpu, &a), upload(&gpu, &b));
            let mut cd = gpu.stream.alloc_zeros::<f32>(m * n).unwrap();
            launch::gemm_f32(&gpu, version, &ad, &bd, &mut cd, (m, n, k)).unwrap();
            let err = max_rel_err(&download(&gpu, &cd), &want);
            assert!(err <= 1e-4, "{version:?} {m}×{n}×{k}: {err}");
        }
        // Tensor cores: bf16 inputs (8 bits of mantissa), f32 accumulation.
        if m % 16 == 0 && n % 16 == 0 && k % 16 == 0 {
            let to_bf16 = |v: &[f32]| v.iter().map(|&x| half::bf16::from_f32(x)).collect::<Vec<_>>();
            let (ah, bh) = (to_bf16(&a), to_bf16(&b));
            let (ad, bd) = (gpu.stream.clone_htod(&ah).unwrap(), gpu.stream.clone_htod(&bh).unwrap());
            let rounded = |v: &[half::bf16]| v.iter().map(|x| x.to_f32()).collect::<Vec<_>>();
            let mut want = vec![0.0; m * n];
            let (ar, br) = (rounded(&ah), rounded(&bh));
            gemm(MatRef::row_major(&ar, m, k), MatRef::row_major(&br, k, n), &mut want, n, false);
            for version in [WmmaVersion::Direct, WmmaVersion::SharedTiles, WmmaVersion::Pipelined] {
                let mut cd = gpu.stream.alloc_zeros::<f32>(m * n).unwrap();
                launch::gemm_wmma_bf16(&gpu, version, &ad, &bd, &mut cd, (m, n, k)).unwrap();
                let err = max_rel_err(&download(&gpu, &cd), &want);
                assert!(err <= 1e-3, "{version:?} {m}×{n}×{k}: {err}");
            }
        }
    }
}

#[test]
#[ignore = "needs a CUDA GPU"]
fn gelu_and_fused_cross_entropy_match_the_cpu() {
    use kernels::cpu::cross_entropy::{cross_entropy_backward, cross_entropy_forward};
    use kernels::cpu::gelu::{gelu, GeluApproximation};
    let gpu = Gpu::new(0).unwrap();
    let x = random(10_000, 7);
    for (tanh, approx) in [(false, GeluApproximation::Erf), (true, GeluApproximation::Tanh)] {
        let mut want = vec![0.0; x.len()];
        gelu(&x, &mut want, approx);
        let (xd, mut yd) = (upload(&gpu, &x), gpu.stream.alloc_zeros::<f32>(x.len()).unwrap());
        launch::gelu_forward(&gpu, tanh, &xd, &mut yd).unwrap();
        assert!(max_rel_err(&download(&gpu, &yd), &want) <= 1e-5, "{approx:?}");
    }
    // 5 rows of a 50257-token vocabulary; row 3 is ignored (-100); mean over the 4 others.
    let (rows, vocab) = (5, 50257);
    let logits = random(rows * vocab, 8);
    let targets: Vec<i64> = vec![17, 50256, 0, -100, 12345];
    let as_option: Vec<Option<usize>> = targets.iter().map(|&t| (t >= 0).then_some(t as usize)).collect();
    let mut losses = vec![0.0; rows];
    cross_entropy_forward(&logits, &as_option, vocab, &mut losses);
    let scale = 0.25f32;
    let mut dlogits = vec![0.0; rows * vocab];
    cross_entropy_backward(&logits, &as_option, &[scale; 5], vocab, &mut dlogits);
    let (ld, td, dloss) = (upload(&gpu, &logits), gpu.stream.clone_htod(&targets).unwrap(), upload(&gpu, &[scale; 5]));
    let (mut lossd, mut dld) =
        (gpu.stream.alloc_zeros::<f32>(rows).unwrap(), gpu.stream.alloc_zeros::<f32>(rows * vocab).unwrap());
    let grad = Some((&dloss.slice(..), &mut dld));
    launch::cross_entropy(&gpu, &ld.slice(..), &td, -100, Some(&mut lossd), grad, (rows, vocab)).unwrap();
    assert!(max_rel_err(&download(&gpu, &lossd), &losses) <= 1e-5);
    assert!(max_rel_err(&download(&gpu, &dld), &dlogits) <= 1e-5);
}

#[test]
#[ignore = "needs a CUDA GPU"]
fn fused_attention_matches_the_formulas() {
    use kernels::cuda::launch::{AttentionShape, AttentionVersion};
    let gpu = Gpu::new(0).unwrap();
    // Causal self-attention, causal with more keys than queries (a cache), no mask; both versions
    // (the tiled one for d ≤ 64), with tiles cut off at the sequence ends.
    let shapes = [(3, 100, 100, 64, true), (2, 40, 70, 32, true), (2, 33, 50, 16, false), (1, 70, 70, 100, true)];
    let versions = [AttentionVersion::RowPerThread, AttentionVersion::Tiled, AttentionVersion::TensorCores];
    for (version, (bh, t, s, d, causal)) in versions.iter().flat_map(|v| shapes.map(|x| (*v, x))) {
        if version != AttentionVersion::RowPerThread && d > 64 {
            continue;
        }
        let shape = AttentionShape { bh, t, s, d, causal, scale: 1.0 / (d as f32).sqrt() };
        // bf16 operands on the tensor cores (see emulated_kernels.rs); f32 elsewhere.
        let tolerance = if version == AttentionVersion::TensorCores { 3e-2 } else { 1e-4 };
        let (q, k, v, dout) =
            (random(bh * t * d, 11), random(bh * s * d, 12), random(bh * s * d, 13), random(bh * t * d, 14));
        let (qd, kd, vd, dod) = (upload(&gpu, &q), upload(&gpu, &k), upload(&gpu, &v), upload(&gpu, &dout));
        let zeros = |len| gpu.stream.alloc_zeros::<f32>(len).unwrap();
        let (mut od, mut lse, mut dot) = (zeros(bh * t * d), zeros(bh * t), zeros(bh * t));
        let inputs = (&qd.slice(..), &kd.slice(..), &vd.slice(..));
        launch::attention_forward(&gpu, version, shape, inputs, &mut od, &mut lse).unwrap();
        let (mut dq, mut dk, mut dv) = (zeros(bh * t * d), zeros(bh * s * d), zeros(bh * s * d));
        let saved = (&od.slice(..), &lse.slice(..), &dod.slice(..));
        launch::attention_backward(&gpu, version, shape, inputs, saved, &mut dot, (&mut dq, &mut dk, &mut dv)).unwrap();
        let got = [download(&gpu, &od), download(&gpu, &dq), download(&gpu, &dk), download(&gpu, &dv)];
        for n in 0..bh {
            let part = |x: &[f32], rows: usize| x[n * rows * d..(n + 1) * rows * d].to_vec();
            let want =
                reference_attention((&part(&q, t), &part(&k, s), &part(&v, s), &part(&dout, t)), (t, s, d), causal);
            for (i, (name, (g, w))) in ["O", "dQ", "dK", "dV"].iter().zip(got.iter().zip(&want)).enumerate() {
                let err = max_rel_err(&part(g, if i < 2 { t } else { s }), w);
                assert!(err <= tolerance, "{version:?} {t}×{s}×{d} causal {causal}, sequence {n}, {name}: {err}");
            }
        }
    }
}
