//! The GPU table of `emergent bench kernels --device cuda`: every CUDA kernel version against
//! cuBLAS (GEMM) and the device-to-device copy bandwidth (memory-bound kernels), then each
//! kernel's registers and shared memory from ptxas.

use super::{
    against_targets, bench_attention, bench_cross_entropy, bench_gemm, bench_layer_norm, bench_softmax,
    bench_softmax_clusters, bench_wgmma, BenchRow,
};
use crate::Result;
use kernels::cuda::{compile, include_paths, ptxas_report, Gpu, SOURCES};
use std::io::Write;
use std::path::PathBuf;

/// `$PTXAS`, else the CUDA toolkit's.
fn ptxas() -> Option<PathBuf> {
    let candidates = [std::env::var("PTXAS").ok().map(PathBuf::from), Some(PathBuf::from("/usr/local/cuda/bin/ptxas"))];
    candidates.into_iter().flatten().find(|p| p.exists())
}

/// The table on GPU 0: GEMMs at `size`³, the memory-bound kernels and attention at GPT-2's
/// shapes, each the median of `iters` timed runs; rows are written as they are measured.
pub fn run(size: usize, iters: usize, out: &mut dyn Write) -> Result<()> {
    let gpu = Gpu::shared(0)?;
    writeln!(out, "{} ({})", gpu.name, gpu.arch)?;
    writeln!(out, "| kernel | shape | median ms | throughput | % of reference | max rel. error |")?;
    writeln!(out, "|---|---|---|---|---|---|")?;
    // Each group's rows are written as soon as they are measured, so a fault leaves those before it.
    let mut measured: Vec<BenchRow> = Vec::new();
    let mut write_rows = |rows: Vec<BenchRow>| -> Result<()> {
        for r in rows {
            writeln!(
                out,
                "| {} | {} | {:.3} | {:.1} {} | {:.1}% | {:.1e} |",
                r.kernel, r.shape, r.median_ms, r.throughput, r.unit, r.percent_of_reference, r.max_rel_err
            )?;
            measured.push(r);
        }
        Ok(out.flush()?)
    };
    write_rows(bench_gemm(&gpu, size, iters)?)?;
    write_rows(bench_softmax(&gpu, 4096, 4096, iters)?)?;
    write_rows(bench_softmax(&gpu, 256, 50304, iters)?)?;
    write_rows(bench_layer_norm(&gpu, 16384, 768, iters)?)?;
    // The LM head's cross-entropy gradient at GPT-2's vocabulary.
    write_rows(bench_cross_entropy(&gpu, 4096, 50257, iters)?)?;
    // GPT-2 124M's attention at T = 1024, batch 8: 12 heads of 64, read from the packed qkv.
    write_rows(bench_attention(&gpu, (8, 12, 1024, 64), iters)?)?;
    // Last, and not fatal: Hopper-only kernels, where a fault would leave the device unusable for
    // whatever came after them.
    let mut notes = Vec::new();
    if gpu.arch == "sm_90a" {
        match bench_wgmma(&gpu, size, iters) {
            Ok(rows) => write_rows(rows)?,
            Err(e) => notes.push(format!("wgmma GEMM failed: {e}")),
        }
    }
    if gpu.compute_capability() >= 90 {
        for (rows, cols) in [(4096, 4096), (256, 50304)] {
            match bench_softmax_clusters(&gpu, rows, cols, iters) {
                Ok(table) => write_rows(table)?,
                Err(e) => notes.push(format!("softmax in clusters at {rows}×{cols} failed: {e}")),
            }
        }
    }
    for note in notes {
        writeln!(out, "\n{note}")?;
    }
    writeln!(out, "\nthe fastest correct version of each kernel against its target:")?;
    for line in against_targets(&measured) {
        writeln!(out, "- {line}")?;
    }
    match ptxas() {
        Some(ptxas) => {
            writeln!(out, "\nregisters and shared memory ({}):", ptxas.display())?;
            for source in SOURCES {
                let ptx = compile(source, gpu.arch, &include_paths())?;
                writeln!(out, "{}", ptxas_report(&ptx, source.name, gpu.arch, &ptxas)?)?;
            }
        }
        None => writeln!(out, "\n(ptxas not found: set PTXAS to list registers and shared memory)")?,
    }
    Ok(())
}
