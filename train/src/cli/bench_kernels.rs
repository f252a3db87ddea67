//! `emergent bench kernels`: on the CPU, the kernels of [`crate::kernel_bench`], each checked and
//! timed against this machine's measured ceilings; on a GPU, the table of every CUDA kernel version
//! against cuBLAS (GEMM) and the device-to-device copy bandwidth (memory-bound kernels), with each
//! kernel's registers and shared memory from ptxas.

use crate::error::{Result, TrainError};
use crate::kernel_bench::{self, report, Ceiling, CpuKernel, Format, KERNELS};
use crate::trainer::available_bytes;
use kernels::cuda::bench::{
    against_targets, bench_attention, bench_cross_entropy, bench_gemm, bench_layer_norm, bench_softmax,
    bench_softmax_clusters, bench_wgmma, BenchRow,
};
use kernels::cuda::{compile, include_paths, ptxas_report, Gpu, SOURCES};
use std::io::Write;
use std::path::{Path, PathBuf};

/// `$PTXAS`, else the CUDA toolkit's.
fn ptxas() -> Option<PathBuf> {
    let candidates = [std::env::var("PTXAS").ok().map(PathBuf::from), Some(PathBuf::from("/usr/local/cuda/bin/ptxas"))];
    candidates.into_iter().flatten().find(|p| p.exists())
}

/// The CPU bench: `kernels` by name (all if none), at `shapes` (one kernel's; else each kernel's
/// default shapes), `iters` timed runs each, printed as `format`. A variant that disagrees with the
/// reference is printed as failed and the command ends with an error after the table.
pub fn run_cpu(kernels: &[String], shapes: &[String], iters: usize, format: Format, out: &mut dyn Write) -> Result<()> {
    let io = |e| TrainError::io(Path::new("<stdout>"), e);
    let chosen: Vec<&dyn CpuKernel> = match kernels.is_empty() {
        true => KERNELS.to_vec(),
        false => kernels.iter().map(|k| kernel_bench::find(k)).collect::<Result<_>>()?,
    };
    let runs: Vec<(&dyn CpuKernel, Vec<usize>)> = match (shapes.is_empty(), chosen.as_slice()) {
        (true, _) => chosen.iter().flat_map(|&k| k.default_shapes().into_iter().map(move |s| (k, s))).collect(),
        (false, &[kernel]) => {
            shapes.iter().map(|s| Ok((kernel, kernel_bench::parse_shape(kernel, s)?))).collect::<Result<_>>()?
        }
        (false, _) => {
            return Err(TrainError::Invalid(
                "--shape means one kernel's dims: name exactly one --kernel with it".into(),
            ))
        }
    };
    let ceiling = Ceiling::measure();
    report::write_ceiling(format, &ceiling, out).map_err(io)?;
    let mut failed = Vec::new();
    for (kernel, shape) in runs {
        for m in kernel_bench::measure(kernel, &shape, iters, &ceiling, available_bytes())? {
            report::write_row(format, &m, &ceiling, out).map_err(io)?;
            if !m.passed {
                failed.push(format!("{} {} at {:?} (error {:.1e})", m.kernel, m.variant, m.shape, m.max_error));
            }
        }
    }
    match failed.is_empty() {
        true => Ok(()),
        false => Err(TrainError::Invalid(format!("disagreed with the reference: {}", failed.join("; ")))),
    }
}

pub fn run(size: usize, iters: usize, out: &mut dyn std::io::Write) -> Result<()> {
    let io = |e| TrainError::io(Path::new("<stdout>"), e);
    let gpu = Gpu::shared(0)?;
    if gpu.name == kernels::cuda::emulated_cuda::DEVICE_NAME {
        return Err(TrainError::Invalid(format!(
            "bench kernels times kernels on a GPU; {} runs them on the CPU ({} is set), where the table's \
             shapes would take hours and its times would measure the emulation",
            gpu.name,
            kernels::cuda::emulated_cuda::ENV
        )));
    }
    writeln!(out, "{} ({})", gpu.name, gpu.arch).map_err(io)?;
    writeln!(out, "| kernel | shape | median ms | throughput | % of reference | max rel. error |").map_err(io)?;
    writeln!(out, "|---|---|---|---|---|---|").map_err(io)?;
    // Each group's rows are written as soon as they are measured, so a fault leaves those before it.
    let mut measured: Vec<BenchRow> = Vec::new();
    let mut write_rows = |rows: Vec<BenchRow>| -> Result<()> {
        for r in rows {
            writeln!(
                out,
                "| {} | {} | {:.3} | {:.1} {} | {:.1}% | {:.1e} |",
                r.kernel, r.shape, r.median_ms, r.throughput, r.unit, r.percent_of_reference, r.max_rel_err
            )
            .map_err(io)?;
            measured.push(r);
        }
        out.flush().map_err(io)
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
        writeln!(out, "\n{note}").map_err(io)?;
    }
    writeln!(out, "\nthe fastest correct version of each kernel against its target:").map_err(io)?;
    for line in against_targets(&measured) {
        writeln!(out, "- {line}").map_err(io)?;
    }
    match ptxas() {
        Some(ptxas) => {
            writeln!(out, "\nregisters and shared memory ({}):", ptxas.display()).map_err(io)?;
            for source in SOURCES {
                let ptx = compile(source, gpu.arch, &include_paths())?;
                writeln!(out, "{}", ptxas_report(&ptx, source.name, gpu.arch, &ptxas)?).map_err(io)?;
            }
        }
        None => writeln!(out, "\n(ptxas not found: set PTXAS to list registers and shared memory)").map_err(io)?,
    }
    Ok(())
}
