//! The CPU table of `emergent bench kernels`: the chosen kernels at the chosen shapes, after the
//! machine's ceilings.

use super::{report, Ceiling, CpuKernel, Format, KERNELS};
use crate::{Error, Result};
use std::io::Write;

/// The CPU bench: `kernels` by name (all if none), at `shapes` (one kernel's; else each kernel's
/// default shapes), `iters` timed runs each, printed as `format`; shapes whose buffers would not fit
/// in `memory` bytes are refused. A variant that disagrees with the reference is printed as failed
/// and the command ends with an error after the table.
pub fn run(
    kernels: &[String],
    shapes: &[String],
    iters: usize,
    format: Format,
    memory: Option<f64>,
    out: &mut dyn Write,
) -> Result<()> {
    let chosen: Vec<&dyn CpuKernel> = match kernels.is_empty() {
        true => KERNELS.to_vec(),
        false => kernels.iter().map(|k| super::find(k)).collect::<Result<_>>()?,
    };
    let runs: Vec<(&dyn CpuKernel, Vec<usize>)> = match (shapes.is_empty(), chosen.as_slice()) {
        (true, _) => chosen.iter().flat_map(|&k| k.default_shapes().into_iter().map(move |s| (k, s))).collect(),
        (false, &[kernel]) => {
            shapes.iter().map(|s| Ok((kernel, super::parse_shape(kernel, s)?))).collect::<Result<_>>()?
        }
        (false, _) => {
            return Err(Error::Invalid("--shape means one kernel's dims: name exactly one --kernel with it".into()))
        }
    };
    let ceiling = Ceiling::measure();
    report::write_ceiling(format, &ceiling, out)?;
    let mut failed = Vec::new();
    for (kernel, shape) in runs {
        for m in super::measure(kernel, &shape, iters, &ceiling, memory)? {
            report::write_row(format, &m, &ceiling, out)?;
            if !m.passed {
                failed.push(format!("{} {} at {:?} (error {:.1e})", m.kernel, m.variant, m.shape, m.max_error));
            }
        }
    }
    match failed.is_empty() {
        true => Ok(()),
        false => Err(Error::Invalid(format!("disagreed with the reference: {}", failed.join("; ")))),
    }
}
