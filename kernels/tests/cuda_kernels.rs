//! The CUDA kernels against the CPU kernels (the reference) on random inputs. They need a GPU
//! (`#[ignore]`d elsewhere; run with `--include-ignored` on the GPU machine); without a driver,
//! opening a device is a clear error.

use cudarc::driver::CudaSlice;
use half::bf16;
use kernels::adamw::cuda::{adamw_multi_tensor, AdamWTensorSlices};
use kernels::attention::cuda::{attention_backward, attention_forward};
use kernels::attention::HeadLayout;
use kernels::cross_entropy::cuda::{cross_entropy, cross_entropy_bf16_in_place, CrossEntropyGrad};
use kernels::cuda::{driver_available, CudaError, Gpu};
use kernels::gelu::cuda::{gelu_backward, gelu_forward, GeluDy, GeluInput};
use kernels::gemm::cuda::{gemm_f32, gemm_wmma_bf16, GemmVersion, WmmaVersion};
use kernels::gemm::{gemm, MatRef};
use kernels::layer_norm::cuda::{
    layer_norm_backward, layer_norm_backward_plan, layer_norm_forward, LayerNormDx, LayerNormDy, LayerNormVersion,
};
use kernels::layer_norm::{layer_norm_backward_rows, layer_norm_rows};
use kernels::softmax::cuda::{softmax, softmax_backward, softmax_plan, SoftmaxVersion};
use kernels::softmax::{log_softmax_backward_rows, log_softmax_rows, softmax_backward_rows, softmax_rows};

mod common;
use common::{max_elementwise_rel_err, max_normalized_err, max_rel_err, random, reference_attention};

fn upload(gpu: &Gpu, v: &[f32]) -> CudaSlice<f32> {
    gpu.stream.clone_htod(v).unwrap()
}

fn download(gpu: &Gpu, v: &CudaSlice<f32>) -> Vec<f32> {
    gpu.stream.clone_dtoh(v).unwrap()
}

/// A zeroed-looking bf16 buffer for a kernel's copy of `(rows, cols)` values in rows `stride`
/// apart: filled with 7s, so that the padding the kernel must not write shows.
fn bf16_copy_buffer(gpu: &Gpu, rows: usize, stride: usize) -> CudaSlice<bf16> {
    gpu.stream.clone_htod(&vec![bf16::from_f32(7.0); rows * stride]).unwrap()
}

/// The kernel's bf16 copy holds `values` rounded, row by row, and its padding is untouched.
fn assert_bf16_copy(gpu: &Gpu, copy: &CudaSlice<bf16>, values: &[f32], (cols, stride): (usize, usize), what: &str) {
    let copy = gpu.stream.clone_dtoh(copy).unwrap();
    for (r, row) in values.chunks(cols).enumerate() {
        let want: Vec<bf16> = row.iter().map(|&x| bf16::from_f32(x)).collect();
        assert_eq!(copy[r * stride..r * stride + cols], want[..], "{what}: row {r} of the bf16 copy");
        assert!(copy[r * stride + cols..(r + 1) * stride].iter().all(|&x| x == bf16::from_f32(7.0)), "{what}: padding");
    }
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
fn the_memory_pool_keeps_freed_memory_through_synchronizations() {
    let gpu = Gpu::new(0).unwrap();
    // Every GPU this engine targets allocates in stream order, from a pool that would otherwise
    // hand its free memory back at each synchronization (the default threshold is 0).
    assert_eq!(gpu.memory_pool_release_threshold().unwrap(), Some(u64::MAX));
}

#[test]
#[ignore = "needs a CUDA GPU"]
fn softmax_versions_and_backward_match_the_cpu() {
    let gpu = Gpu::new(0).unwrap();
    // Rows in registers (1000), staged in shared memory (a 50257-token vocabulary, and 50304), and
    // too long for that (60000: read twice); all but 5 and 50257 in float4 packs, and 1000 once more
    // from one float past an aligned start (float by float).
    let staged = |cols| softmax_plan(SoftmaxVersion::BlockPerRow, false, (1, cols)).unwrap().cfg.shared_mem_bytes;
    assert_eq!((staged(1000), staged(50257) as usize, staged(60000)), (0, 50257 * 4, 0));
    for (rows, cols, offset) in [(7, 5, 0), (64, 1000, 0), (64, 1000, 1), (3, 50257, 0), (3, 50304, 0), (2, 60000, 0)] {
        let (mut x, dy) = (random(rows * cols + offset, 1), random(rows * cols, 2));
        if cols > 50000 {
            // Masked entries (−∞), a whole leading run of them in row 0: packs of −∞ into an empty
            // softmax state, and among finite values.
            for (i, v) in x.iter_mut().enumerate() {
                if i < 1000 || i % 3 == 0 {
                    *v = f32::NEG_INFINITY;
                }
            }
        }
        let (xd, dyd) = (upload(&gpu, &x), upload(&gpu, &dy));
        let (x, xd) = (&x[offset..], xd.slice(offset..));
        for log in [false, true] {
            let (mut want, mut want_dx) = (vec![0.0; rows * cols], vec![0.0; rows * cols]);
            if log {
                log_softmax_rows(x, &mut want, cols);
                log_softmax_backward_rows(&want, &dy, &mut want_dx, cols);
            } else {
                softmax_rows(x, &mut want, cols);
                softmax_backward_rows(&want, &dy, &mut want_dx, cols);
            }
            // Clusters of 1, 2 and 8 blocks: a whole row in one block, halves, and slices of
            // which some are empty (5 columns over 8 blocks).
            let clusters = [1, 2, 8].map(SoftmaxVersion::ClusterPerRow);
            let versions = [SoftmaxVersion::ThreadPerRow, SoftmaxVersion::WarpPerRow, SoftmaxVersion::BlockPerRow];
            for version in versions.into_iter().chain(clusters) {
                // Log-softmax is written for the block- and cluster-per-row versions only (the
                // plan refuses it).
                if log && matches!(version, SoftmaxVersion::ThreadPerRow | SoftmaxVersion::WarpPerRow) {
                    continue;
                }
                // A cluster of one block holds rows of at most 32 768 values.
                if version == SoftmaxVersion::ClusterPerRow(1) && cols > 32 * 1024 {
                    continue;
                }
                let mut yd = gpu.stream.alloc_zeros::<f32>(rows * cols).unwrap();
                softmax(&gpu, version, log, &xd, &mut yd, (rows, cols)).unwrap();
                // Probabilities are small: compared elementwise; log-probabilities as they are.
                let compare = if log { max_rel_err } else { max_elementwise_rel_err };
                let err = compare(&download(&gpu, &yd), &want);
                assert!(err <= 1e-5, "{version:?} log {log} {rows}×{cols}: {err}");
            }
            let (yd, mut dxd) = (upload(&gpu, &want), gpu.stream.alloc_zeros::<f32>(rows * cols).unwrap());
            softmax_backward(&gpu, log, (&yd.slice(..), &dyd.slice(..)), &mut dxd, (rows, cols)).unwrap();
            let err = max_normalized_err(&download(&gpu, &dxd), &want_dx);
            assert!(err <= 1e-5, "backward log {log} {rows}×{cols}: {err}");
        }
    }
}

#[test]
#[ignore = "needs a CUDA GPU"]
fn a_device_without_clusters_is_refused_the_cluster_softmax() {
    // The source compiled for this device first; then the same device taken for an sm_80 one.
    let mut gpu = Gpu::new(0).unwrap();
    let (rows, cols) = (2, 300);
    let x = upload(&gpu, &random(rows * cols, 4));
    let mut y = gpu.stream.alloc_zeros::<f32>(rows * cols).unwrap();
    softmax(&gpu, SoftmaxVersion::BlockPerRow, false, &x.slice(..), &mut y, (rows, cols)).unwrap();
    gpu.arch = "sm_80";
    let err = softmax(&gpu, SoftmaxVersion::ClusterPerRow(2), false, &x.slice(..), &mut y, (rows, cols)).unwrap_err();
    assert!(err
        .to_string()
        .contains("softmax_cluster_per_row needs thread-block clusters (sm_90 or later), not sm_80"));
}

#[test]
#[ignore = "needs a CUDA GPU"]
fn a_fully_masked_row_has_a_softmax_of_zeros_as_on_the_cpu() {
    let gpu = Gpu::new(0).unwrap();
    // Row 1 entirely −∞ beside a row with values: zeros on the CPU, and in every GPU version
    // (through each path: registers, shared memory, two reads, a cluster's slices).
    for cols in [300, 50304, 60000] {
        let mut x = random(2 * cols, 3);
        x[cols..].fill(f32::NEG_INFINITY);
        let mut want = vec![0.0; 2 * cols];
        softmax_rows(&x, &mut want, cols);
        assert!(want[cols..].iter().all(|&p| p == 0.0));
        let xd = upload(&gpu, &x);
        let versions = [SoftmaxVersion::ThreadPerRow, SoftmaxVersion::WarpPerRow, SoftmaxVersion::BlockPerRow];
        for version in versions.into_iter().chain([SoftmaxVersion::ClusterPerRow(8)]) {
            let mut yd = gpu.stream.alloc_zeros::<f32>(2 * cols).unwrap();
            softmax(&gpu, version, false, &xd.slice(..), &mut yd, (2, cols)).unwrap();
            let err = max_elementwise_rel_err(&download(&gpu, &yd), &want);
            assert!(err <= 1e-5, "{version:?} {cols}: {err}");
        }
    }
}

/// True where `got` and `want` are both NaN or agree within `tolerance` (relative, as
/// [`max_elementwise_rel_err`]); the first disagreement otherwise.
fn same_nans_and_close(got: &[f32], want: &[f32], tolerance: f32) -> Result<(), String> {
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        let close = g == w || (g - w).abs() <= tolerance * w.abs().max(f32::MIN_POSITIVE);
        if g.is_nan() != w.is_nan() || (!w.is_nan() && !close) {
            return Err(format!("element {i}: {g} where the CPU gives {w}"));
        }
    }
    Ok(())
}

#[test]
#[ignore = "needs a CUDA GPU"]
fn a_nan_makes_its_softmax_row_nan_in_every_version_as_on_the_cpu() {
    let gpu = Gpu::new(0).unwrap();
    // Rows: one NaN among values, NaN only, a NaN among masked (−∞) entries, fully masked (zeros),
    // and a clean row — through registers, shared memory, two reads and a cluster's slices.
    for cols in [300, 50304, 60000] {
        let mut x = random(5 * cols, 9);
        x[cols / 2] = f32::NAN;
        x[cols..2 * cols].fill(f32::NAN);
        x[2 * cols..3 * cols].fill(f32::NEG_INFINITY);
        x[2 * cols + cols - 1] = f32::NAN;
        x[3 * cols..4 * cols].fill(f32::NEG_INFINITY);
        let xd = upload(&gpu, &x);
        for log in [false, true] {
            let mut want = vec![0.0; 5 * cols];
            if log {
                log_softmax_rows(&x, &mut want, cols);
            } else {
                softmax_rows(&x, &mut want, cols);
            }
            assert!(want[..3 * cols].iter().all(|v| v.is_nan()) && want[4 * cols..].iter().all(|v| v.is_finite()));
            let versions = [SoftmaxVersion::ThreadPerRow, SoftmaxVersion::WarpPerRow, SoftmaxVersion::BlockPerRow];
            for version in versions.into_iter().chain([2, 8].map(SoftmaxVersion::ClusterPerRow)) {
                if log && matches!(version, SoftmaxVersion::ThreadPerRow | SoftmaxVersion::WarpPerRow) {
                    continue;
                }
                let mut yd = gpu.stream.alloc_zeros::<f32>(5 * cols).unwrap();
                softmax(&gpu, version, log, &xd.slice(..), &mut yd, (5, cols)).unwrap();
                let verdict = same_nans_and_close(&download(&gpu, &yd), &want, 1e-5);
                assert!(verdict.is_ok(), "{version:?} log {log} {cols}: {}", verdict.unwrap_err());
            }
        }
    }
}

#[test]
#[ignore = "needs a CUDA GPU"]
fn a_nan_query_or_key_spreads_as_in_the_formulas_in_every_attention_version() {
    use kernels::attention::cuda::{AttentionShape, AttentionVersion};
    let gpu = Gpu::new(0).unwrap();
    // Three heads of 40 causal positions: head 0's query row 5 NaN (its output row alone turns
    // NaN), head 1's key row 9 NaN (every row that sees it, 9 onwards), head 2 clean (as without
    // any NaN). 40 rows reach a second, partial tile in every version.
    let (bh, t, d) = (3, 40, 32);
    let (mut q, mut k) = (random(bh * t * d, 31), random(bh * t * d, 32));
    let (v, dout) = (random(bh * t * d, 33), random(bh * t * d, 34));
    let clean_q = q.clone();
    q[5 * d + 3] = f32::NAN;
    k[(t + 9) * d] = f32::NAN;
    let row_is_nan = |x: &[f32], head: usize, row: usize| x[(head * t + row) * d..][..d].iter().all(|v| v.is_nan());
    let row_is_finite =
        |x: &[f32], head: usize, row: usize| x[(head * t + row) * d..][..d].iter().all(|v| v.is_finite());
    let head2 = |x: &[f32]| x[2 * t * d..].to_vec();
    let want = reference_attention((&head2(&clean_q), &head2(&k), &head2(&v), &head2(&dout)), (t, t, d), true);
    for version in AttentionVersion::ALL {
        let shape = AttentionShape { bh, t, s: t, d, causal: true, scale: 1.0 / (d as f32).sqrt() };
        let layout = HeadLayout::dense(t, d);
        let (qd, kd, vd, dod) = (upload(&gpu, &q), upload(&gpu, &k), upload(&gpu, &v), upload(&gpu, &dout));
        let zeros = |len| gpu.stream.alloc_zeros::<f32>(len).unwrap();
        let (mut od, mut lse, mut dot) = (zeros(bh * t * d), zeros(bh * t), zeros(bh * t));
        let inputs = [(&qd.slice(..), layout), (&kd.slice(..), layout), (&vd.slice(..), layout)];
        attention_forward(&gpu, version, shape, inputs, (&mut od, layout, None), &mut lse).unwrap();
        let n = bh * t * d;
        let grad_layouts = [layout, layout.shifted(n), layout.shifted(2 * n)];
        let mut grads = zeros(3 * n);
        let saved = [(&od.slice(..), layout), (&dod.slice(..), layout)];
        let g = (&mut grads, grad_layouts);
        attention_backward(&gpu, version, shape, inputs, saved, &lse.slice(..), &mut dot, g).unwrap();
        let (o, grads) = (download(&gpu, &od), download(&gpu, &grads));
        let (dq, dk) = (&grads[..n], &grads[n..2 * n]);
        for row in 0..t {
            assert!(
                row_is_nan(&o, 0, row) == (row == 5) && row_is_finite(&o, 0, row) == (row != 5),
                "{version:?} head 0 row {row}"
            );
            assert!(
                row_is_nan(&o, 1, row) == (row >= 9) && row_is_finite(&o, 1, row) == (row < 9),
                "{version:?} head 1 row {row}"
            );
        }
        assert!(row_is_nan(dq, 0, 5) && row_is_nan(dk, 1, 9), "{version:?}: the gradients read the NaN");
        let tolerance = if version.is_bf16() { 3e-2 } else { 1e-4 };
        for (what, got, want) in [("O", head2(&o), &want[0]), ("dQ", head2(dq), &want[1]), ("dK", head2(dk), &want[2])]
        {
            let err = max_rel_err(&got, want);
            assert!(err <= tolerance, "{version:?} clean head {what}: {err}");
        }
    }
}

#[test]
#[ignore = "needs a CUDA GPU"]
fn layer_norm_versions_and_backward_match_the_cpu() {
    let gpu = Gpu::new(0).unwrap();
    // 768 columns: rows held in registers (float4 packs; 770: float by float), dγ/dβ partials in
    // shared memory; 7000: neither; 5000 rows of 100: more rows than the backward's warps, so each
    // warp sums several rows' dγ and dβ.
    for (rows, cols) in [(33, 768), (9, 770), (5, 7000), (5000, 100)] {
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
            // With y's bf16 copy, in rows padded by 3 (whose starts are not 8-byte aligned: the
            // copy element by element) and in rows 8-byte aligned (a pack's copy one store).
            for stride in [cols + 3, cols.next_multiple_of(8) + 8] {
                let mut copy = bf16_copy_buffer(&gpu, rows, stride);
                let out = (Some(&mut yd), Some((&mut copy, stride)));
                layer_norm_forward(&gpu, version, &xd.slice(..), params, 1e-5, out, &mut md, &mut rd, dims).unwrap();
                let got = download(&gpu, &yd);
                assert!(max_rel_err(&got, &y) <= 1e-5, "{version:?} {rows}×{cols}");
                let what = format!("layer norm {version:?} {rows}×{cols}, copy rows {stride} apart");
                assert_bf16_copy(&gpu, &copy, &got, (cols, stride), &what);
                // The copy alone (no f32 y: an output only a linear layer reads) holds the same.
                let mut alone = bf16_copy_buffer(&gpu, rows, stride);
                let out = (None, Some((&mut alone, stride)));
                layer_norm_forward(&gpu, version, &xd.slice(..), params, 1e-5, out, &mut md, &mut rd, dims).unwrap();
                assert_bf16_copy(&gpu, &alone, &got, (cols, stride), &format!("{what}, the copy alone"));
                assert!(max_rel_err(&download(&gpu, &md), &mean) <= 1e-5, "{version:?} {rows}×{cols}");
                assert!(max_rel_err(&download(&gpu, &rd), &rstd) <= 1e-5, "{version:?} {rows}×{cols}");
            }
        }
        assert_eq!(layer_norm_backward_plan((rows, cols)).1, cols <= 6144);
        let (md, rd) = (upload(&gpu, &mean), upload(&gpu, &rstd));
        let zeros = |n| gpu.stream.alloc_zeros::<f32>(n).unwrap();
        let params = [&xd.slice(..), &gd.slice(..), &md.slice(..), &rd.slice(..)];
        // dy in f32 and in bf16 (as a product writes it), against the CPU's backward on dy's values
        // as the GPU reads them; dx on its own, and added in place into a gradient received
        // already (that gradient plus the CPU's dx).
        let dy_bf16: Vec<bf16> = dy.iter().map(|&v| bf16::from_f32(v)).collect();
        let widened: Vec<f32> = dy_bf16.iter().map(|v| v.to_f32()).collect();
        let (dyd, dyd_bf16) = (upload(&gpu, &dy), gpu.stream.clone_htod(&dy_bf16).unwrap());
        let before = random(rows * cols, 4);
        let dys =
            [("f32", LayerNormDy::F32(dyd.slice(..)), &dy), ("bf16", LayerNormDy::Bf16(dyd_bf16.slice(..)), &widened)];
        for (kind, dy_on, values) in &dys {
            let (mut dx, mut dgamma, mut dbeta) = (vec![0.0; rows * cols], vec![0.0; cols], vec![0.0; cols]);
            layer_norm_backward_rows(&x, &gamma, &mean, &rstd, values, &mut dx, &mut dgamma, &mut dbeta, cols);
            let added: Vec<f32> = before.iter().zip(&dx).map(|(s, d)| s + d).collect();
            for (how, want_dx) in [("alone", &dx), ("added in place", &added)] {
                let (mut out, mut dgd, mut dbd) = (upload(&gpu, &before), zeros(cols), zeros(cols));
                let into =
                    if how == "alone" { LayerNormDx::Alone(&mut out) } else { LayerNormDx::AddedInPlace(&mut out) };
                layer_norm_backward(&gpu, (params, dy_on), (into, &mut dgd, &mut dbd), (rows, cols)).unwrap();
                for (name, got, want) in [("dx", &out, want_dx), ("dgamma", &dgd, &dgamma), ("dbeta", &dbd, &dbeta)] {
                    let err = max_rel_err(&download(&gpu, got), want);
                    assert!(err <= 1e-4, "backward {rows}×{cols}, {kind} dy, dx {how}, {name}: {err}");
                }
            }
        }
    }
    // Buffers too short for the shape are refused, with their lengths.
    let (x, short) = (upload(&gpu, &random(100, 5)), gpu.stream.alloc_zeros::<f32>(10).unwrap());
    let (mut dx, mut dg, mut db) = (gpu.stream.alloc_zeros::<f32>(90).unwrap(), short.clone(), short.clone());
    let params = [&x.slice(..), &short.slice(..), &short.slice(..), &short.slice(..)];
    let dy = LayerNormDy::F32(x.slice(..));
    let err = layer_norm_backward(&gpu, (params, &dy), (LayerNormDx::Alone(&mut dx), &mut dg, &mut db), (10, 10))
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("layer_norm_backward: 10 rows of 10, buffers of [100, 100, 10, 10, 10, 10, 10] and dx of 90"),
        "{err}"
    );
}

#[test]
#[ignore = "needs a CUDA GPU"]
fn gemm_versions_match_the_cpu() {
    let gpu = Gpu::new(0).unwrap();
    for (m, n, k) in [(64, 64, 64), (130, 260, 70), (256, 512, 384), (144, 80, 48), (272, 400, 208)] {
        let (a, b) = (random(m * k, 5), random(k * n, 6));
        let mut want = vec![0.0; m * n];
        gemm(MatRef::row_major(&a, m, k), MatRef::row_major(&b, k, n), &mut want, n, false);
        for version in [GemmVersion::Naive, GemmVersion::Tiled, GemmVersion::RegisterBlocked] {
            let (ad, bd) = (upload(&gpu, &a), upload(&gpu, &b));
            let mut cd = gpu.stream.alloc_zeros::<f32>(m * n).unwrap();
            gemm_f32(&gpu, version, &ad, &bd, &mut cd, (m, n, k)).unwrap();
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
            for version in WmmaVersion::ALL {
                let mut cd = gpu.stream.alloc_zeros::<f32>(m * n).unwrap();
                gemm_wmma_bf16(&gpu, version, &ad, &bd, &mut cd, (m, n, k)).unwrap();
                let err = max_rel_err(&download(&gpu, &cd), &want);
                assert!(err <= 1e-3, "{version:?} {m}×{n}×{k}: {err}");
            }
        }
    }
    // Buffers too short for the shape are refused before any launch, with their lengths.
    let short = gpu.stream.alloc_zeros::<half::bf16>(16).unwrap();
    let mut c = gpu.stream.alloc_zeros::<f32>(64 * 64).unwrap();
    let err = gemm_wmma_bf16(&gpu, WmmaVersion::Pipelined, &short, &short, &mut c, (64, 64, 64)).unwrap_err();
    assert!(err.to_string().contains("buffers of 16, 16 and 4096 elements for 64×64×64"), "{err}");
}

/// GELU's backward from an f32 u and dy, into du, du with its bf16 copy, and the copy alone, in
/// packs and element by element (from an unaligned u): the CPU's backward, the copy that result
/// rounded.
#[test]
#[ignore = "needs a CUDA GPU"]
fn gelu_backward_writes_du_its_copy_or_the_copy_alone() {
    use kernels::gelu::GeluApproximation;
    let gpu = Gpu::new(0).unwrap();
    let (x, dy) = (random(10_000, 9), random(10_000, 10));
    let (xd, dyd) = (upload(&gpu, &x), upload(&gpu, &dy));
    for (tanh, approx) in [(false, GeluApproximation::Erf), (true, GeluApproximation::Tanh)] {
        for offset in [0, 1] {
            let n = 9900;
            let mut want = vec![0.0; n];
            kernels::gelu::gelu_backward(&x[offset..offset + n], &dy[offset..offset + n], &mut want, approx);
            let (u, dy) = (GeluInput::F32(xd.slice(offset..offset + n)), GeluDy::F32(dyd.slice(offset..offset + n)));
            let what = format!("GELU {approx:?} backward, offset {offset}");
            let mut du = gpu.stream.alloc_zeros::<f32>(n).unwrap();
            gelu_backward(&gpu, tanh, &u, &dy, (Some(&mut du), None), 100).unwrap();
            let got = download(&gpu, &du);
            assert!(max_rel_err(&got, &want) <= 1e-5, "{what}");
            let mut copy = bf16_copy_buffer(&gpu, 99, 104);
            gelu_backward(&gpu, tanh, &u, &dy, (Some(&mut du), Some((&mut copy, 104))), 100).unwrap();
            assert_bf16_copy(&gpu, &copy, &download(&gpu, &du), (100, 104), &format!("{what}, with a copy"));
            let mut alone = bf16_copy_buffer(&gpu, 99, 104);
            gelu_backward(&gpu, tanh, &u, &dy, (None, Some((&mut alone, 104))), 100).unwrap();
            assert_bf16_copy(&gpu, &alone, &got, (100, 104), &format!("{what}, the copy alone"));
        }
    }
    let (u, dy) = (GeluInput::F32(xd.slice(..100)), GeluDy::F32(dyd.slice(..90)));
    let err = gelu_backward(&gpu, true, &u, &dy, (None, Some((&mut bf16_copy_buffer(&gpu, 10, 10), 10))), 10);
    assert!(err.unwrap_err().to_string().contains("gelu_backward: 100 elements, dy of 90, into 100, in rows of 10"));
    let err = gelu_backward(&gpu, true, &u, &GeluDy::F32(dyd.slice(..100)), (None, None), 10);
    assert!(err.unwrap_err().to_string().contains("gelu_backward: an output in f32, in bf16 or both"));
}

/// GELU and its backward of a bf16 product with the bias its product left out (the MLP's
/// pre-activation under bf16 products, `u = product + bias[column]`), dy in bf16: f32 outputs
/// with their bf16 copies, and the copies alone, in packs of 4 and element by element (from an
/// unaligned product), against the CPU's on the same u (the bf16 product widened, the bias added
/// in f32) and dy. A dy in another precision than u's, and a bias shorter than a row, are refused.
#[test]
#[ignore = "needs a CUDA GPU"]
fn gelu_of_a_bf16_product_adds_its_bias() {
    use kernels::gelu::{gelu, GeluApproximation};
    let gpu = Gpu::new(0).unwrap();
    let to_bf16 = |v: Vec<f32>| -> Vec<bf16> { v.iter().map(|&x| bf16::from_f32(x)).collect() };
    let (product, bias, dy) = (to_bf16(random(10_000, 11)), random(100, 12), to_bf16(random(10_000, 13)));
    let (pd, bd, dyd) =
        (gpu.stream.clone_htod(&product).unwrap(), upload(&gpu, &bias), gpu.stream.clone_htod(&dy).unwrap());
    let (n, cols) = (9900, 100);
    for (tanh, approx) in [(false, GeluApproximation::Erf), (true, GeluApproximation::Tanh)] {
        for offset in [0, 1] {
            let u: Vec<f32> = (0..n).map(|i| product[offset + i].to_f32() + bias[i % cols]).collect();
            let dy_values: Vec<f32> = dy[offset..offset + n].iter().map(|v| v.to_f32()).collect();
            let (mut want_y, mut want_du) = (vec![0.0; n], vec![0.0; n]);
            gelu(&u, &mut want_y, approx);
            kernels::gelu::gelu_backward(&u, &dy_values, &mut want_du, approx);
            let input = GeluInput::Bf16Product { product: pd.slice(offset..offset + n), bias: bd.slice(..) };
            let dy = GeluDy::Bf16(dyd.slice(offset..offset + n));
            let what = format!("GELU {approx:?} of a bf16 product, offset {offset}");
            let (mut out, mut copy) = (gpu.stream.alloc_zeros::<f32>(n).unwrap(), bf16_copy_buffer(&gpu, 99, 104));
            gelu_forward(&gpu, tanh, &input, (Some(&mut out), Some((&mut copy, 104))), cols).unwrap();
            let y = download(&gpu, &out);
            assert!(max_rel_err(&y, &want_y) <= 1e-5, "{what}");
            assert_bf16_copy(&gpu, &copy, &y, (100, 104), &format!("{what}, with a copy"));
            let mut alone = bf16_copy_buffer(&gpu, 99, 104);
            gelu_forward(&gpu, tanh, &input, (None, Some((&mut alone, 104))), cols).unwrap();
            assert_bf16_copy(&gpu, &alone, &y, (100, 104), &format!("{what}, the copy alone"));
            let mut copy = bf16_copy_buffer(&gpu, 99, 104);
            gelu_backward(&gpu, tanh, &input, &dy, (Some(&mut out), Some((&mut copy, 104))), cols).unwrap();
            let du = download(&gpu, &out);
            assert!(max_rel_err(&du, &want_du) <= 1e-5, "{what}, backward");
            assert_bf16_copy(&gpu, &copy, &du, (100, 104), &format!("{what}, backward with a copy"));
            let mut alone = bf16_copy_buffer(&gpu, 99, 104);
            gelu_backward(&gpu, tanh, &input, &dy, (None, Some((&mut alone, 104))), cols).unwrap();
            assert_bf16_copy(&gpu, &alone, &du, (100, 104), &format!("{what}, backward, the copy alone"));
        }
    }
    let input = GeluInput::Bf16Product { product: pd.slice(..1000), bias: bd.slice(..50) };
    let err = gelu_forward(&gpu, true, &input, (None, Some((&mut bf16_copy_buffer(&gpu, 10, 100), 100))), 100);
    assert!(err.unwrap_err().to_string().contains("gelu: 1000 elements in rows of 100, a bias of 50"));
    let (u, dy) = (GeluInput::F32(bd.slice(..100)), GeluDy::Bf16(dyd.slice(..100)));
    let err = gelu_backward(&gpu, true, &u, &dy, (None, Some((&mut bf16_copy_buffer(&gpu, 1, 100), 100))), 100);
    assert!(err.unwrap_err().to_string().contains("gelu_backward: dy in its input's precision"));
}

#[test]
#[ignore = "needs a CUDA GPU"]
fn gelu_and_fused_cross_entropy_match_the_cpu() {
    use kernels::cross_entropy::{cross_entropy_backward, cross_entropy_forward};
    use kernels::gelu::{gelu, GeluApproximation};
    let gpu = Gpu::new(0).unwrap();
    let x = random(10_000, 7);
    for (tanh, approx) in [(false, GeluApproximation::Erf), (true, GeluApproximation::Tanh)] {
        let mut want = vec![0.0; x.len()];
        gelu(&x, &mut want, approx);
        let (xd, mut yd) = (upload(&gpu, &x), gpu.stream.alloc_zeros::<f32>(x.len()).unwrap());
        let u = GeluInput::F32(xd.slice(..));
        gelu_forward(&gpu, tanh, &u, (Some(&mut yd), None), 100).unwrap();
        assert!(max_rel_err(&download(&gpu, &yd), &want) <= 1e-5, "{approx:?}");
        // With its bf16 copy: rows of 100 padded to 104.
        let mut copy = bf16_copy_buffer(&gpu, 100, 104);
        gelu_forward(&gpu, tanh, &u, (Some(&mut yd), Some((&mut copy, 104))), 100).unwrap();
        let got = download(&gpu, &yd);
        assert!(max_rel_err(&got, &want) <= 1e-5, "{approx:?}");
        assert_bf16_copy(&gpu, &copy, &got, (100, 104), &format!("GELU {approx:?}"));
        // The copy alone (in packs, and element by element from an unaligned x).
        for offset in [0, 1] {
            let mut alone = bf16_copy_buffer(&gpu, 100, 104);
            let x = GeluInput::F32(xd.slice(offset..offset + 9900));
            gelu_forward(&gpu, tanh, &x, (None, Some((&mut alone, 104))), 100).unwrap();
            let values = &got[offset..offset + 9900];
            assert_bf16_copy(&gpu, &alone, values, (100, 104), &format!("GELU {approx:?} in bf16 alone"));
        }
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
    let dloss = dloss.slice(..);
    // Dense gradient rows, 50257 apart: every other row starts 16-byte aligned (packs), the others
    // go element by element.
    let grad = CrossEntropyGrad { dloss: &dloss, row_losses: None, dlogits: (&mut dld, vocab), image: None };
    cross_entropy(&gpu, (&ld.slice(..), vocab), &td, -100, Some(&mut lossd), Some(grad), (rows, vocab)).unwrap();
    assert!(max_rel_err(&download(&gpu, &lossd), &losses) <= 1e-5);
    assert!(max_elementwise_rel_err(&download(&gpu, &dld), &dlogits) <= 1e-5);
    // The backward alone, in one pass from the forward's losses (log Σ exp = loss + z_target),
    // reading the logits in rows 50260 apart (a product's padded output, NaN in the padding), with
    // its bf16 copy in rows padded to 50264 (the padding left as it was).
    let padded: Vec<f32> = logits.chunks(vocab).flat_map(|row| row.iter().copied().chain([f32::NAN; 3])).collect();
    let ld = upload(&gpu, &padded);
    let stride = 50264;
    let mut dld = gpu.stream.alloc_zeros::<f32>(rows * vocab).unwrap();
    let mut image = bf16_copy_buffer(&gpu, rows, stride);
    let row_losses = lossd.slice(..);
    let grad = CrossEntropyGrad {
        dloss: &dloss,
        row_losses: Some(&row_losses),
        dlogits: (&mut dld, vocab),
        image: Some((&mut image, stride)),
    };
    cross_entropy(&gpu, (&ld.slice(..), vocab + 3), &td, -100, None, Some(grad), (rows, vocab)).unwrap();
    let dld = download(&gpu, &dld);
    assert!(max_elementwise_rel_err(&dld, &dlogits) <= 1e-5, "one pass");
    assert_bf16_copy(&gpu, &image, &dld, (vocab, stride), "cross-entropy gradient");
    // The gradient in rows 50260 apart, as the tensor layer allocates it: every row in float4
    // packs, with the copy (8-byte stores) and without; the padding left as it was (NaN here).
    for with_copy in [true, false] {
        let mut dld = upload(&gpu, &vec![f32::NAN; rows * (vocab + 3)]);
        let mut image = bf16_copy_buffer(&gpu, rows, stride);
        let grad = CrossEntropyGrad {
            dloss: &dloss,
            row_losses: Some(&row_losses),
            dlogits: (&mut dld, vocab + 3),
            image: with_copy.then_some((&mut image, stride)),
        };
        cross_entropy(&gpu, (&ld.slice(..), vocab + 3), &td, -100, None, Some(grad), (rows, vocab)).unwrap();
        let got = download(&gpu, &dld);
        assert!(got.chunks(vocab + 3).all(|row| row[vocab..].iter().all(|p| p.is_nan())), "padding written");
        let dense: Vec<f32> = got.chunks(vocab + 3).flat_map(|row| row[..vocab].to_vec()).collect();
        assert!(max_elementwise_rel_err(&dense, &dlogits) <= 1e-5, "in packs, copy {with_copy}");
        if with_copy {
            assert_bf16_copy(&gpu, &image, &dense, (vocab, stride), "cross-entropy gradient in packs");
        }
    }
    // A gradient buffer too short for its rows is refused.
    let mut short = gpu.stream.alloc_zeros::<f32>(rows * vocab).unwrap();
    let grad = CrossEntropyGrad {
        dloss: &dloss,
        row_losses: Some(&row_losses),
        dlogits: (&mut short, vocab + 3),
        image: None,
    };
    let err = cross_entropy(&gpu, (&ld.slice(..), vocab + 3), &td, -100, None, Some(grad), (rows, vocab)).unwrap_err();
    assert!(err.to_string().contains("a gradient of 5 rows of 50257, 50260 apart"), "{err}");
}

/// The fused classifier's pass over bf16 logits against the CPU kernels on the same (widened)
/// values: losses to f32 rounding, the gradient written over the logits to bf16's rounding (one
/// unit in the last place: the GPU's exponential may round a value to the other side of a bf16
/// tie); rows whose target is ignored give 0 and a zero row; the rows' padding is left as it was.
#[test]
#[ignore = "needs a CUDA GPU"]
fn the_classifier_pass_over_bf16_logits_matches_the_cpu() {
    use kernels::cross_entropy::{cross_entropy_backward, cross_entropy_forward};
    let gpu = Gpu::new(0).unwrap();
    let (rows, vocab, scale) = (6, 50257, 0.2f32);
    let logits: Vec<bf16> = random(rows * vocab, 9).iter().map(|&x| bf16::from_f32(4.0 * x)).collect();
    let widened: Vec<f32> = logits.iter().map(|x| x.to_f32()).collect();
    let targets: Vec<i64> = vec![17, 50256, 0, -100, 12345, 3];
    let as_option: Vec<Option<usize>> = targets.iter().map(|&t| (t >= 0).then_some(t as usize)).collect();
    let (mut losses, mut dlogits) = (vec![0.0; rows], vec![0.0; rows * vocab]);
    cross_entropy_forward(&widened, &as_option, vocab, &mut losses);
    let dloss: Vec<f32> = as_option.iter().map(|t| if t.is_some() { scale } else { 0.0 }).collect();
    cross_entropy_backward(&widened, &as_option, &dloss, vocab, &mut dlogits);
    let td = gpu.stream.clone_htod(&targets).unwrap();
    // Rows 50260 apart (every row 8-byte aligned: packs of 4) and 50257 apart (every other row
    // element by element); the padding holds 7s.
    for stride in [vocab + 3, vocab] {
        let padded: Vec<bf16> = logits
            .chunks(vocab)
            .flat_map(|row| row.iter().copied().chain(std::iter::repeat_n(bf16::from_f32(7.0), stride - vocab)))
            .collect();
        let mut ld = gpu.stream.clone_htod(&padded).unwrap();
        let mut lossd = gpu.stream.alloc_zeros::<f32>(rows).unwrap();
        // Losses only: the logits stay as they were.
        cross_entropy_bf16_in_place(&gpu, (&mut ld, stride), &td, -100, &mut lossd, None, (rows, vocab)).unwrap();
        assert!(max_rel_err(&download(&gpu, &lossd), &losses) <= 1e-5, "losses, rows {stride} apart");
        assert_eq!(gpu.stream.clone_dtoh(&ld).unwrap(), padded, "the logits without the gradient");
        // With the gradient, in place.
        cross_entropy_bf16_in_place(&gpu, (&mut ld, stride), &td, -100, &mut lossd, Some(scale), (rows, vocab))
            .unwrap();
        assert!(max_rel_err(&download(&gpu, &lossd), &losses) <= 1e-5, "losses with the gradient");
        let got = gpu.stream.clone_dtoh(&ld).unwrap();
        for (r, row) in got.chunks(stride).enumerate() {
            assert!(row[vocab..].iter().all(|&p| p == bf16::from_f32(7.0)), "row {r}'s padding, {stride} apart");
            for (c, (g, want)) in row[..vocab].iter().zip(&dlogits[r * vocab..(r + 1) * vocab]).enumerate() {
                let err = (g.to_f32() - want).abs();
                assert!(err <= want.abs() / 256.0, "row {r} col {c}: {g} for {want}, rows {stride} apart");
            }
        }
        assert!(got[3 * stride..3 * stride + vocab].iter().all(|&g| g == bf16::ZERO), "the ignored row");
    }
    // Logits too short for their rows are refused.
    let mut short = gpu.stream.alloc_zeros::<bf16>(rows * vocab).unwrap();
    let mut lossd = gpu.stream.alloc_zeros::<f32>(rows).unwrap();
    let err = cross_entropy_bf16_in_place(&gpu, (&mut short, vocab + 3), &td, -100, &mut lossd, None, (rows, vocab))
        .unwrap_err();
    assert!(err.to_string().contains("6 rows of 50257 logits 50260 apart need more than 301542 bf16"), "{err}");
    // So are losses (or targets) fewer than the rows.
    let mut ld = gpu.stream.alloc_zeros::<bf16>(rows * vocab).unwrap();
    let mut few = gpu.stream.alloc_zeros::<f32>(rows - 1).unwrap();
    let err =
        cross_entropy_bf16_in_place(&gpu, (&mut ld, vocab), &td, -100, &mut few, None, (rows, vocab)).unwrap_err();
    assert!(err.to_string().contains("6 rows need 6 targets and losses, got 6 and 5"), "{err}");
}

#[test]
#[ignore = "needs a CUDA GPU"]
fn launches_refuse_buffers_too_small_for_their_shapes() {
    let gpu = Gpu::new(0).unwrap();
    let (x, mut y) = (upload(&gpu, &random(100, 1)), gpu.stream.alloc_zeros::<f32>(100).unwrap());
    // A bf16 copy of 10 rows of 10 needs 10 · stride elements.
    let mut short = bf16_copy_buffer(&gpu, 9, 10);
    let u = GeluInput::F32(x.slice(..));
    let err = gelu_forward(&gpu, true, &u, (Some(&mut y), Some((&mut short, 10))), 10).unwrap_err();
    assert!(err.to_string().contains("a bf16 copy of 90 elements for 10 rows of 10, 10 apart"), "{err}");
    let err = gelu_forward(&gpu, true, &u, (Some(&mut y), None), 30).unwrap_err();
    assert!(err.to_string().contains("gelu: 100 elements in rows of 30"), "{err}");
    let mut short_y = gpu.stream.alloc_zeros::<f32>(90).unwrap();
    let err = gelu_forward(&gpu, true, &u, (Some(&mut short_y), None), 10).unwrap_err();
    assert!(err.to_string().contains("gelu: 100 elements into 90, in rows of 10"), "{err}");
    let err = gelu_forward(&gpu, true, &u, (None, None), 10).unwrap_err();
    assert!(err.to_string().contains("an output in f32, in bf16 or both"), "{err}");
    // A layer norm of 10 rows of 10 into 90 floats, or into no output at all.
    let (gamma, beta) = (upload(&gpu, &random(10, 2)), upload(&gpu, &random(10, 3)));
    let (params, version) = ((&gamma.slice(..), &beta.slice(..)), LayerNormVersion::WarpPerRow);
    let (mut mean, mut rstd) = (gpu.stream.alloc_zeros::<f32>(10).unwrap(), gpu.stream.alloc_zeros::<f32>(10).unwrap());
    let mut y90 = gpu.stream.alloc_zeros::<f32>(90).unwrap();
    let out = (Some(&mut y90), None);
    let err = layer_norm_forward(&gpu, version, &x.slice(..), params, 1e-5, out, &mut mean, &mut rstd, (10, 10));
    assert!(err.unwrap_err().to_string().contains("layer_norm: 10 × 10 into 90 elements"));
    let err =
        layer_norm_forward(&gpu, version, &x.slice(..), params, 1e-5, (None, None), &mut mean, &mut rstd, (10, 10));
    assert!(err.unwrap_err().to_string().contains("layer_norm: an output in f32, in bf16 or both"));
    // Cross-entropy logits: 10 rows of 10, 11 apart, need 109 floats; rows closer than their length.
    let t = gpu.stream.clone_htod(&[0i64; 10]).unwrap();
    let mut losses = gpu.stream.alloc_zeros::<f32>(10).unwrap();
    let err = cross_entropy(&gpu, (&x.slice(..), 11), &t, -100, Some(&mut losses), None, (10, 10)).unwrap_err();
    assert!(err.to_string().contains("10 rows of 10 logits 11 apart need more than 100 floats"), "{err}");
    let err = cross_entropy(&gpu, (&x.slice(..), 9), &t, -100, Some(&mut losses), None, (10, 10)).unwrap_err();
    assert!(err.to_string().contains("10 rows of 10 logits 9 apart"), "{err}");
    // A multi-tensor AdamW tensor whose moment is shorter than the parameter.
    let (mut p, g) = (upload(&gpu, &random(64, 2)), upload(&gpu, &random(64, 3)));
    let (mut m, mut v) = (gpu.stream.alloc_zeros::<f32>(32).unwrap(), gpu.stream.alloc_zeros::<f32>(64).unwrap());
    let tensor = AdamWTensorSlices {
        n: 64,
        param: &mut p,
        grad: g.slice(..),
        m: &mut m,
        v: &mut v,
        decay: 1.0,
        step: 1e-3,
        image: None,
    };
    let err = adamw_multi_tensor(&gpu, &mut [tensor], [0.9, 0.999, 1e-8, 1.0], None).unwrap_err();
    assert!(err.to_string().contains("adamw tensor 0: 64 elements, buffers of [64, 64, 32, 64]"), "{err}");
}

#[test]
#[ignore = "needs a CUDA GPU"]
fn fused_attention_matches_the_formulas() {
    use kernels::attention::cuda::{AttentionShape, AttentionVersion};
    let gpu = Gpu::new(0).unwrap();
    // (batch, heads, t, s, d, causal): causal self-attention, causal with more keys than queries (a
    // cache), no mask; every version (the tiled ones for d ≤ 64), with tiles cut off at the
    // sequence ends; each with dense heads and with heads read and written in a scattered layout.
    let shapes =
        [(1, 3, 100, 100, 64, true), (2, 2, 40, 70, 32, true), (2, 1, 33, 50, 16, false), (1, 1, 70, 70, 100, true)];
    for (version, (b, h, t, s, d, causal)) in AttentionVersion::ALL.iter().flat_map(|v| shapes.map(|x| (*v, x))) {
        if version != AttentionVersion::RowPerThread && d > 64 {
            continue;
        }
        let bh = b * h;
        let shape = AttentionShape { bh, t, s, d, causal, scale: 1.0 / (d as f32).sqrt() };
        // bf16 operands on the tensor cores; f32 elsewhere.
        let tolerance = if version.is_bf16() { 3e-2 } else { 1e-4 };
        let (q, k, v, dout) =
            (random(bh * t * d, 11), random(bh * s * d, 12), random(bh * s * d, 13), random(bh * t * d, 14));
        let dense = |rows: usize| (HeadLayout::dense(rows, d), bh * rows * d);
        let scattered = |gap: usize| {
            move |rows: usize| {
                let (layout, width) = scattered(h, rows, d, gap);
                (layout, b * (rows * width + 3 * gap) + 5 * gap)
            }
        };
        let (unaligned, aligned) = (scattered(1), scattered(4));
        type Lay<'a> = &'a dyn Fn(usize) -> (HeadLayout, usize);
        for (name, lay) in [("dense", &dense as Lay), ("scattered", &unaligned), ("scattered, aligned", &aligned)] {
            let ((ql, qn), (kl, kn), (ol, on)) = (lay(t), lay(s), lay(t));
            // Every element outside the heads is noise the kernels must neither read nor write.
            let placed = |x: &[f32], (layout, len): (HeadLayout, usize), rows: usize, seed: u64| {
                let mut buffer = random(len, seed);
                place(x, &mut buffer, &layout, (bh, rows, d));
                upload(&gpu, &buffer)
            };
            let (qd, kd) = (placed(&q, (ql, qn), t, 21), placed(&k, (kl, kn), s, 22));
            let (vd, dod) = (placed(&v, (kl, kn), s, 23), placed(&dout, (ol, on), t, 24));
            let o_noise = random(on, 25);
            let mut od = upload(&gpu, &o_noise);
            let zeros = |len| gpu.stream.alloc_zeros::<f32>(len).unwrap();
            let (mut lse, mut dot) = (zeros(bh * t), zeros(bh * t));
            let inputs = [(&qd.slice(..), ql), (&kd.slice(..), kl), (&vd.slice(..), kl)];
            // O's bf16 copy: the buffer as rows of O's row stride, each padded by 3.
            let (row, stride) = (ol.row_stride, ol.row_stride + 3);
            let mut copy = bf16_copy_buffer(&gpu, on.div_ceil(row), stride);
            let out = (&mut od, ol, Some((&mut copy, stride)));
            if version == AttentionVersion::Pipelined && name == "scattered" {
                // K's and V's rows are not 16-byte aligned: the pipelined forward refuses them.
                let err = attention_forward(&gpu, version, shape, inputs, out, &mut lse).unwrap_err();
                assert!(err.to_string().contains("not all 16-byte aligned"), "{err}");
                continue;
            }
            attention_forward(&gpu, version, shape, inputs, out, &mut lse).unwrap();
            // dq, dk, dv one after another in one buffer of noise: the backward writes every element
            // of the heads (D's kernel zeroes dq, which the others add into) and nothing else.
            let grad_layouts = [ql, kl.shifted(qn), kl.shifted(qn + kn)];
            let grad_noise = vec![7.5f32; qn + 2 * kn];
            let mut grads = upload(&gpu, &grad_noise);
            let saved = [(&od.slice(..), ol), (&dod.slice(..), ol)];
            let g = (&mut grads, grad_layouts);
            attention_backward(&gpu, version, shape, inputs, saved, &lse.slice(..), &mut dot, g).unwrap();
            let (o_buffer, grads) = (download(&gpu, &od), download(&gpu, &grads));
            let got = [
                take(&o_buffer, &ol, (bh, t, d)),
                take(&grads, &grad_layouts[0], (bh, t, d)),
                take(&grads, &grad_layouts[1], (bh, s, d)),
                take(&grads, &grad_layouts[2], (bh, s, d)),
            ];
            for n in 0..bh {
                let part = |x: &[f32], rows: usize| x[n * rows * d..(n + 1) * rows * d].to_vec();
                let want =
                    reference_attention((&part(&q, t), &part(&k, s), &part(&v, s), &part(&dout, t)), (t, s, d), causal);
                for (i, (what, (g, w))) in ["O", "dQ", "dK", "dV"].iter().zip(got.iter().zip(&want)).enumerate() {
                    let err = max_rel_err(&part(g, if i < 2 { t } else { s }), w);
                    let case = format!("{version:?} {name} {b}×{h}×{t}×{s}×{d} causal {causal}, sequence {n}, {what}");
                    assert!(err <= tolerance, "{case}: {err}");
                }
            }
            // The copy holds the heads' elements rounded, where they lie in the buffer, and nothing else.
            let mut want_copy = vec![bf16::from_f32(7.0); on.div_ceil(row) * stride];
            for n in 0..bh {
                for i in 0..t {
                    for c in 0..d {
                        let at = row_start(&ol, n, i) + c;
                        want_copy[at / row * stride + at % row] = bf16::from_f32(o_buffer[at]);
                    }
                }
            }
            assert!(gpu.stream.clone_dtoh(&copy).unwrap() == want_copy, "{version:?} {name}: O's bf16 copy");
            // Outside the heads the output and the gradients keep their noise.
            let mut o_heads = o_noise.clone();
            place(&got[0], &mut o_heads, &ol, (bh, t, d));
            assert_eq!(o_buffer, o_heads, "{version:?} {name}: the output outside its heads");
            let mut grad_heads = grad_noise.clone();
            for (i, rows) in [t, s, s].into_iter().enumerate() {
                place(&got[i + 1], &mut grad_heads, &grad_layouts[i], (bh, rows, d));
            }
            assert_eq!(grads, grad_heads, "{version:?} {name}: the gradients outside their heads");
        }
    }
}

#[test]
#[ignore = "needs a CUDA GPU"]
fn attention_layouts_that_do_not_fit_their_buffers_are_refused() {
    use kernels::attention::cuda::{AttentionShape, AttentionVersion};
    let gpu = Gpu::new(0).unwrap();
    let (bh, t, d) = (2, 8, 16);
    let shape = AttentionShape { bh, t, s: t, d, causal: true, scale: 0.25 };
    let x = upload(&gpu, &random(bh * t * d, 1));
    let (mut o, mut lse) = (upload(&gpu, &vec![0.0; bh * t * d]), upload(&gpu, &vec![0.0; bh * t]));
    let dense = HeadLayout::dense(t, d);
    let cases = [
        ("past the end", [dense.shifted(1), dense, dense], dense, "reaches element"),
        ("overlapping output rows", [dense; 3], HeadLayout { row_stride: d / 2, ..dense }, "bad layout"),
        ("heads that overlap", [dense; 3], HeadLayout { heads: 2, head_stride: 1, ..dense }, "overlaps itself"),
    ];
    for (name, inputs, out, why) in cases {
        let x = x.slice(..);
        let inputs = inputs.map(|layout| (&x, layout));
        let err = attention_forward(&gpu, AttentionVersion::Tiled, shape, inputs, (&mut o, out, None), &mut lse)
            .expect_err(name)
            .to_string();
        assert!(err.contains(why), "{name}: {err}");
    }
}

/// Where sequence `n`'s row `r` starts under `layout`.
fn row_start(layout: &HeadLayout, n: usize, r: usize) -> usize {
    layout.offset
        + n / layout.heads * layout.batch_stride
        + n % layout.heads * layout.head_stride
        + r * layout.row_stride
}

/// Dense `(batch, rows, d)` matrices written into `buffer` where `layout` says.
fn place(dense: &[f32], buffer: &mut [f32], layout: &HeadLayout, (batch, rows, d): (usize, usize, usize)) {
    for n in 0..batch {
        for r in 0..rows {
            let at = row_start(layout, n, r);
            buffer[at..at + d].copy_from_slice(&dense[(n * rows + r) * d..][..d]);
        }
    }
}

/// The `(batch, rows, d)` matrices that `layout` reads from `buffer`, dense.
fn take(buffer: &[f32], layout: &HeadLayout, (batch, rows, d): (usize, usize, usize)) -> Vec<f32> {
    let mut dense = Vec::with_capacity(batch * rows * d);
    for n in 0..batch {
        for r in 0..rows {
            dense.extend_from_slice(&buffer[row_start(layout, n, r)..][..d]);
        }
    }
    dense
}

/// Heads of `d` columns, `h` to a row of a `(b, rows, width)` buffer, in a layout where no stride
/// is the dense one: `gap` columns between heads, `2·gap` after the last, `3·gap` elements between
/// batch entries, `5·gap` before the first (gap 1: no row 16-byte aligned; gap 4: every row); the
/// buffer's other elements belong to no head.
fn scattered(h: usize, rows: usize, d: usize, gap: usize) -> (HeadLayout, usize) {
    let width = h * (d + gap) + 2 * gap;
    let layout = HeadLayout {
        offset: 5 * gap,
        heads: h,
        batch_stride: rows * width + 3 * gap,
        head_stride: d + gap,
        row_stride: width,
    };
    (layout, width)
}
