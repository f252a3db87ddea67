//! The CUDA kernels against the CPU kernels (the reference) on random inputs. They need a GPU
//! (`#[ignore]`d elsewhere; run with `--include-ignored` on the GPU machine); without a driver,
//! opening a device is a clear error.

use cudarc::driver::CudaSlice;
use kernels::cpu::gemm::{gemm, MatRef};
use kernels::cpu::layer_norm::layer_norm_rows;
use kernels::cpu::softmax::softmax_rows;
use kernels::cuda::launch::{self, GemmVersion, SoftmaxVersion};
use kernels::cuda::{driver_available, CudaError, Gpu};
use rand::{Rng, SeedableRng};

fn random(n: usize, seed: u64) -> Vec<f32> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    (0..n).map(|_| rng.random_range(-2.0f32..2.0)).collect()
}

fn upload(gpu: &Gpu, v: &[f32]) -> CudaSlice<f32> {
    gpu.stream.clone_htod(v).unwrap()
}

fn download(gpu: &Gpu, v: &CudaSlice<f32>) -> Vec<f32> {
    gpu.stream.clone_dtoh(v).unwrap()
}

/// max |a − b| / max(1, |b|) over the elements.
fn max_rel_err(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x - y).abs() / y.abs().max(1.0)).fold(0.0, f32::max)
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
fn softmax_versions_match_the_cpu() {
    let gpu = Gpu::new(0).unwrap();
    for (rows, cols) in [(7, 5), (64, 1000), (3, 50257)] {
        let x = random(rows * cols, 1);
        let mut want = vec![0.0; rows * cols];
        softmax_rows(&x, &mut want, cols);
        for version in [SoftmaxVersion::ThreadPerRow, SoftmaxVersion::WarpPerRow, SoftmaxVersion::BlockPerRow] {
            let (xd, mut yd) = (upload(&gpu, &x), gpu.stream.alloc_zeros::<f32>(rows * cols).unwrap());
            launch::softmax(&gpu, version, &xd, &mut yd, rows, cols).unwrap();
            let err = max_rel_err(&download(&gpu, &yd), &want);
            assert!(err <= 1e-5, "{version:?} {rows}×{cols}: {err}");
        }
    }
}

#[test]
#[ignore = "needs a CUDA GPU"]
fn layer_norm_matches_the_cpu() {
    let gpu = Gpu::new(0).unwrap();
    let (rows, cols) = (33, 768);
    let (x, gamma, beta) = (random(rows * cols, 2), random(cols, 3), random(cols, 4));
    let (mut y, mut mean, mut rstd) = (vec![0.0; rows * cols], vec![0.0; rows], vec![0.0; rows]);
    layer_norm_rows(&x, &gamma, &beta, 1e-5, &mut y, &mut mean, &mut rstd, cols);
    let (xd, gd, bd) = (upload(&gpu, &x), upload(&gpu, &gamma), upload(&gpu, &beta));
    let mut yd = gpu.stream.alloc_zeros::<f32>(rows * cols).unwrap();
    let (mut md, mut rd) = (gpu.stream.alloc_zeros::<f32>(rows).unwrap(), gpu.stream.alloc_zeros::<f32>(rows).unwrap());
    launch::layer_norm_forward(&gpu, &xd, &gd, &bd, 1e-5, &mut yd, &mut md, &mut rd, (rows, cols)).unwrap();
    assert!(max_rel_err(&download(&gpu, &yd), &y) <= 1e-5);
    assert!(max_rel_err(&download(&gpu, &rd), &rstd) <= 1e-5);
}

#[test]
#[ignore = "needs a CUDA GPU"]
fn gemm_versions_match_the_cpu() {
    let gpu = Gpu::new(0).unwrap();
    for (m, n, k) in [(64, 64, 64), (130, 260, 70), (256, 512, 384)] {
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
            let mut cd = gpu.stream.alloc_zeros::<f32>(m * n).unwrap();
            launch::gemm_wmma_bf16(&gpu, &ad, &bd, &mut cd, (m, n, k)).unwrap();
            let rounded = |v: &[half::bf16]| v.iter().map(|x| x.to_f32()).collect::<Vec<_>>();
            let mut want = vec![0.0; m * n];
            let (ar, br) = (rounded(&ah), rounded(&bh));
            gemm(MatRef::row_major(&ar, m, k), MatRef::row_major(&br, k, n), &mut want, n, false);
            assert!(max_rel_err(&download(&gpu, &cd), &want) <= 1e-3);
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
    let (ld, td) = (upload(&gpu, &logits), gpu.stream.clone_htod(&targets).unwrap());
    let (mut lossd, mut dld) =
        (gpu.stream.alloc_zeros::<f32>(rows).unwrap(), gpu.stream.alloc_zeros::<f32>(rows * vocab).unwrap());
    launch::cross_entropy(&gpu, &ld, &td, -100, scale, &mut lossd, &mut dld, (rows, vocab)).unwrap();
    assert!(max_rel_err(&download(&gpu, &lossd), &losses) <= 1e-5);
    assert!(max_rel_err(&download(&gpu, &dld), &dlogits) <= 1e-5);
}

/// Causal attention for one sequence in f64, forward and backward written out:
/// `P = softmax(Q·Kᵀ/√d + M)`, `O = P·V`; `dV = Pᵀ·dO`, `dS = P ⊙ (dO·Vᵀ − rowsum(dO ⊙ O))`,
/// `dQ = dS·K/√d`, `dK = dSᵀ·Q/√d`. Returns `(O, dQ, dK, dV)` as f32.
fn reference_attention(q: &[f32], k: &[f32], v: &[f32], dout: &[f32], t: usize, d: usize) -> [Vec<f32>; 4] {
    let scale = 1.0 / (d as f64).sqrt();
    let at = |x: &[f32], i: usize, c: usize| x[i * d + c] as f64;
    let mut p = vec![0.0f64; t * t];
    for i in 0..t {
        let s: Vec<f64> = (0..=i).map(|j| (0..d).map(|c| at(q, i, c) * at(k, j, c)).sum::<f64>() * scale).collect();
        let m = s.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let z: f64 = s.iter().map(|x| (x - m).exp()).sum();
        for j in 0..=i {
            p[i * t + j] = (s[j] - m).exp() / z;
        }
    }
    let (mut o, mut dq, mut dk, mut dv) = (vec![0.0; t * d], vec![0.0; t * d], vec![0.0; t * d], vec![0.0; t * d]);
    for i in 0..t {
        for c in 0..d {
            o[i * d + c] = (0..t).map(|j| p[i * t + j] * at(v, j, c)).sum::<f64>();
        }
    }
    for i in 0..t {
        let row_dot: f64 = (0..d).map(|c| at(dout, i, c) * o[i * d + c]).sum();
        for j in 0..=i {
            let dp: f64 = (0..d).map(|c| at(dout, i, c) * at(v, j, c)).sum();
            let ds = p[i * t + j] * (dp - row_dot);
            for c in 0..d {
                dq[i * d + c] += ds * at(k, j, c) * scale;
                dk[j * d + c] += ds * at(q, i, c) * scale;
                dv[j * d + c] += p[i * t + j] * at(dout, i, c);
            }
        }
    }
    [o, dq, dk, dv].map(|x| x.iter().map(|&y| y as f32).collect())
}

#[test]
#[ignore = "needs a CUDA GPU"]
fn fused_causal_attention_matches_the_formulas() {
    use kernels::cuda::launch::AttentionShape;
    let gpu = Gpu::new(0).unwrap();
    let (bh, t, d) = (3, 100, 64);
    let shape = AttentionShape { bh, t, d };
    let n = bh * t * d;
    let (q, k, v, dout) = (random(n, 11), random(n, 12), random(n, 13), random(n, 14));
    let (qd, kd, vd, dod) = (upload(&gpu, &q), upload(&gpu, &k), upload(&gpu, &v), upload(&gpu, &dout));
    let zeros = |len| gpu.stream.alloc_zeros::<f32>(len).unwrap();
    let (mut od, mut lse, mut dot) = (zeros(n), zeros(bh * t), zeros(bh * t));
    launch::attention_forward(&gpu, shape, (&qd, &kd, &vd), &mut od, &mut lse).unwrap();
    let (mut dq, mut dk, mut dv) = (zeros(n), zeros(n), zeros(n));
    launch::attention_backward(&gpu, shape, (&qd, &kd, &vd), (&od, &lse, &dod), &mut dot, (&mut dq, &mut dk, &mut dv))
        .unwrap();
    let got = [download(&gpu, &od), download(&gpu, &dq), download(&gpu, &dk), download(&gpu, &dv)];
    for s in 0..bh {
        let part = |x: &[f32]| x[s * t * d..(s + 1) * t * d].to_vec();
        let want = reference_attention(&part(&q), &part(&k), &part(&v), &part(&dout), t, d);
        for (name, (g, w)) in ["O", "dQ", "dK", "dV"].iter().zip(got.iter().zip(&want)) {
            let err = max_rel_err(&part(g), w);
            assert!(err <= 1e-4, "sequence {s}, {name}: {err}");
        }
    }
}
