//! The GPU kernel benchmark's tables: every version of each kernel runs and agrees with its
//! reference. They need a GPU (`#[ignore]`d elsewhere; run with `--include-ignored` on the GPU
//! machine); `.ci/run` also runs them on the CUDA emulator.

use kernels::cuda::Gpu;

#[test]
#[ignore = "needs a CUDA GPU"]
fn gemm_benches_run_and_every_version_matches_cublas() {
    use kernel_bench::cuda::{bench_gemm, bench_wgmma};
    let gpu = Gpu::new(0).unwrap();
    // 256³: whole tiles for every version; cuBLAS f32 and 3 f32 kernels, cuBLAS bf16 and 4 WMMA
    // kernels, then cuBLAS with B transposed and the 3 wgmma kernels (sm_90a).
    let mut rows = bench_gemm(&gpu, 256, 1).unwrap();
    assert_eq!(rows.len(), 9, "{rows:?}");
    if gpu.arch == "sm_90a" {
        let wgmma = bench_wgmma(&gpu, 256, 1).unwrap();
        assert_eq!(wgmma.len(), 4, "{wgmma:?}");
        rows.extend(wgmma);
    }
    for row in &rows {
        // bf16 operands against cuBLAS's own bf16 product (and its bf16 output): a few 1e-3.
        let tolerance = if row.kernel.contains("bf16") { 1e-2 } else { 1e-5 };
        assert!(row.median_ms > 0.0 && row.max_rel_err <= tolerance, "{row:?}");
    }
}

#[test]
#[ignore = "needs a CUDA GPU"]
fn memory_bound_benches_run_and_their_versions_agree() {
    use kernel_bench::cuda::{
        against_targets, bench_cross_entropy, bench_layer_norm, bench_softmax, bench_softmax_clusters,
    };
    let gpu = Gpu::new(0).unwrap();
    // Small shapes: the table's rows, each version's output against the first's.
    let mut tables = vec![
        // The copy and three versions.
        ("softmax", bench_softmax(&gpu, 5, 300, 1).unwrap(), 4),
        ("layer norm", bench_layer_norm(&gpu, 7, 96, 1).unwrap(), 4),
        ("cross-entropy gradient", bench_cross_entropy(&gpu, 3, 1000, 1).unwrap(), 4),
    ];
    if gpu.compute_capability() >= 90 {
        // The copy, block per row, and clusters of 2, 4 and 8 blocks.
        tables.push(("softmax clusters", bench_softmax_clusters(&gpu, 5, 300, 1).unwrap(), 5));
    } else {
        let err = bench_softmax_clusters(&gpu, 5, 300, 1).unwrap_err();
        assert!(err.to_string().contains("softmax clusters need sm_90 or later"), "{err}");
    }
    let mut all = Vec::new();
    for (name, rows, count) in tables {
        assert_eq!(rows.len(), count, "{name}: the copy and each version: {rows:?}");
        assert_eq!(rows[0].kernel, "device-to-device copy");
        for row in &rows {
            assert!(row.median_ms > 0.0 && row.throughput > 0.0, "{name}: {row:?}");
            assert!(row.max_rel_err <= 1e-5, "{name}: {row:?}");
        }
        all.extend(rows);
    }
    // The summary: one line for each kernel and shape (the clusters' table shares the softmax's),
    // every version correct.
    let summary = against_targets(&all);
    let names = ["softmax 5×300: ", "layer norm 7×96: ", "cross-entropy gradient 3×1000: "];
    assert_eq!(summary.len(), names.len(), "{summary:?}");
    for (line, name) in summary.iter().zip(names) {
        assert!(line.starts_with(name) && !line.contains("wrong output"), "{line}");
    }
}

#[test]
#[ignore = "needs a CUDA GPU"]
fn attention_bench_times_every_version_both_ways() {
    use kernel_bench::cuda::bench_attention;
    use kernels::attention::cuda::AttentionVersion;
    let gpu = Gpu::new(0).unwrap();
    // GPT-2's layout at a small shape: each version's forward, and forward and backward, against
    // the row-per-thread version's (bf16 operands on the tensor cores).
    let rows = bench_attention(&gpu, (2, 2, 80, 64), 1).unwrap();
    assert_eq!(rows.len(), 2 * AttentionVersion::ALL.len(), "{rows:?}");
    for (row, version) in rows.chunks(2).zip(AttentionVersion::ALL) {
        assert_eq!(row[0].kernel, format!("attention fwd {version:?}"));
        assert_eq!(row[1].kernel, format!("attention fwd+bwd {version:?}"));
        let tolerance = if version.is_bf16() { 3e-2 } else { 1e-4 };
        for r in row {
            assert!(r.median_ms > 0.0 && r.throughput > 0.0 && r.max_rel_err <= tolerance, "{r:?}");
        }
    }
}
