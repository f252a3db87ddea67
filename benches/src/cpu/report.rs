//! What the kernel bench measured, and how it prints it: a table for the terminal, JSON lines or
//! CSV for scripts.

use super::Work;
use kernels::cpu::ceiling::{fma_peak_gflops, stream_bandwidth_gbps};
use serde::Serialize;
use std::io::Write;

/// This machine's ceilings, measured on the current rayon pool's threads.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Ceiling {
    pub threads: usize,
    /// The f32 multiply-add peak, and the instructions it used.
    pub fma_gflops: f64,
    pub fma: &'static str,
    /// Bytes read plus written per second by a streaming update (`y ← y + x`) past the caches.
    pub stream_gbps: f64,
}

impl Ceiling {
    /// Measures both (about a second).
    pub fn measure() -> Self {
        let threads = rayon::current_num_threads();
        let (fma_gflops, fma) = fma_peak_gflops(threads, 30_000_000, 3);
        Self { threads, fma_gflops, fma, stream_gbps: stream_bandwidth_gbps(256 << 20, 3) }
    }

    /// Flops per byte where a kernel stops being limited by memory and starts being limited by
    /// arithmetic (the roofline's ridge).
    pub fn ridge(&self) -> f64 {
        self.fma_gflops / self.stream_gbps
    }
}

/// One variant of one kernel at one shape.
#[derive(Debug, Clone, Serialize)]
pub struct Measurement {
    pub kernel: &'static str,
    pub variant: &'static str,
    pub shape: Vec<usize>,
    /// Largest error against the reference, relative to `max(1, |reference|)`, and the limit.
    pub max_error: f64,
    pub tolerance: f64,
    pub passed: bool,
    /// Median seconds of a run (none: the variant failed its check and was not timed).
    pub seconds: Option<f64>,
    pub gflops: Option<f64>,
    pub gbps: Option<f64>,
    /// `"compute"` or `"memory"`: which ceiling the kernel's flops per byte put it under.
    pub bound: &'static str,
    /// The throughput as a share of that ceiling.
    pub share_of_ceiling: Option<f64>,
}

impl Measurement {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        kernel: &'static str,
        variant: &'static str,
        shape: &[usize],
        max_error: f64,
        tolerance: f64,
        seconds: Option<f64>,
        work: Work,
        ceiling: &Ceiling,
    ) -> Self {
        let compute_bound = work.flops >= ceiling.ridge() * work.bytes;
        let gflops = seconds.map(|s| work.flops / s / 1e9);
        let gbps = seconds.map(|s| work.bytes / s / 1e9);
        let share = match compute_bound {
            true => gflops.map(|g| g / ceiling.fma_gflops),
            false => gbps.map(|g| g / ceiling.stream_gbps),
        };
        Self {
            kernel,
            variant,
            shape: shape.to_vec(),
            max_error,
            tolerance,
            passed: seconds.is_some(),
            seconds,
            gflops,
            gbps,
            bound: if compute_bound { "compute" } else { "memory" },
            share_of_ceiling: share,
        }
    }

    fn shape_text(&self) -> String {
        self.shape.iter().map(usize::to_string).collect::<Vec<_>>().join("x")
    }
}

/// How `bench kernels` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Table,
    /// One JSON object per line: the ceiling first, then a measurement per line.
    JsonLines,
    Csv,
}

/// Prints the ceiling (once, before the rows).
pub fn write_ceiling(format: Format, ceiling: &Ceiling, out: &mut dyn Write) -> std::io::Result<()> {
    match format {
        Format::Table => writeln!(
            out,
            "ceilings on {} thread(s): {:.1} GFLOP/s ({} FMA peak), {:.1} GB/s (streaming y += x); kernels under \
             {:.1} flop/byte are memory-bound\n\n| kernel | variant | shape | max error | ms | GFLOP/s | GB/s | bound | % of ceiling |\n\
             |---|---|---|---|---|---|---|---|---|",
            ceiling.threads,
            ceiling.fma_gflops,
            ceiling.fma,
            ceiling.stream_gbps,
            ceiling.ridge()
        ),
        Format::JsonLines => writeln!(out, "{}", serde_json::json!({ "ceiling": ceiling })),
        Format::Csv => writeln!(
            out,
            "kernel,variant,shape,max_error,tolerance,passed,seconds,gflops,gbps,bound,share_of_ceiling,\
             fma_peak_gflops,stream_gbps"
        ),
    }
}

/// Prints one measurement.
pub fn write_row(format: Format, m: &Measurement, ceiling: &Ceiling, out: &mut dyn Write) -> std::io::Result<()> {
    let opt = |v: Option<f64>, digits: usize| v.map_or(String::new(), |v| format!("{v:.digits$}"));
    match format {
        Format::Table => {
            let timing = match m.seconds {
                Some(s) => format!(
                    "{:.3} | {} | {} | {} | {}",
                    s * 1e3,
                    opt(m.gflops, 1),
                    opt(m.gbps, 1),
                    m.bound,
                    opt(m.share_of_ceiling.map(|s| 100.0 * s), 0)
                ),
                None => format!("FAILED (limit {:.0e}): not timed | | | | ", m.tolerance),
            };
            writeln!(out, "| {} | {} | {} | {:.1e} | {timing} |", m.kernel, m.variant, m.shape_text(), m.max_error)
        }
        Format::JsonLines => writeln!(out, "{}", serde_json::to_string(m).expect("a measurement serialises")),
        Format::Csv => writeln!(
            out,
            "{},{},{},{:e},{:e},{},{},{},{},{},{},{:.3},{:.3}",
            m.kernel,
            m.variant,
            m.shape_text(),
            m.max_error,
            m.tolerance,
            m.passed,
            opt(m.seconds, 9),
            opt(m.gflops, 3),
            opt(m.gbps, 3),
            m.bound,
            opt(m.share_of_ceiling, 4),
            ceiling.fma_gflops,
            ceiling.stream_gbps
        ),
    }
}
