//! The roofline of a training step: each launch the step made, with the bytes and FLOPs its launch
//! wrapper declared, timed at the device's ceilings (`max(bytes / bandwidth, flops / peak)`),
//! grouped by kernel; the totals, the predicted step time and MFU. `bench train --dry-run` prints
//! it without a GPU; on a GPU, `bench train --profile` prints each kernel's measured time beside
//! its prediction.

use std::collections::HashMap;
use tensor::kernel_profile::{product_flops, Cost, KernelTime, Launch, Roofline};

/// One kernel's (or library call's, or driver operation's) launches in a step.
#[derive(Debug, Clone, PartialEq)]
pub struct KernelRow {
    pub name: String,
    pub launches: usize,
    /// What its launches move and compute together.
    pub read: u64,
    pub written: u64,
    pub flops: u64,
    /// Its launches' times at the ceilings, summed.
    pub seconds: f64,
    /// Whether most of that time is bound by arithmetic (else by memory).
    pub compute_bound: bool,
}

/// A step's launches on a roofline, slowest kernel first.
#[derive(Debug, Clone, PartialEq)]
pub struct StepRoofline {
    pub rows: Vec<KernelRow>,
    pub launches: usize,
    pub bytes: u64,
    pub flops: u64,
    pub seconds: f64,
}

/// Groups `launches` by name on `roofline`. A launch's time is its own bound; a kernel's the sum
/// of its launches'; the step's the sum of all (one stream: launches do not overlap).
pub fn summarize(launches: &[Launch], roofline: &Roofline) -> StepRoofline {
    let mut rows: Vec<KernelRow> = Vec::new();
    let mut index: HashMap<&str, usize> = HashMap::new();
    let mut compute_seconds: Vec<f64> = Vec::new();
    for Launch { name, cost } in launches {
        let i = *index.entry(name).or_insert_with(|| {
            rows.push(KernelRow {
                name: name.clone(),
                launches: 0,
                read: 0,
                written: 0,
                flops: 0,
                seconds: 0.0,
                compute_bound: false,
            });
            compute_seconds.push(0.0);
            rows.len() - 1
        });
        let seconds = roofline.seconds(cost);
        let row = &mut rows[i];
        row.launches += 1;
        (row.read, row.written, row.flops) = (row.read + cost.read, row.written + cost.written, row.flops + cost.flops);
        row.seconds += seconds;
        if roofline.compute_bound(cost) {
            compute_seconds[i] += seconds;
        }
    }
    for (row, compute) in rows.iter_mut().zip(compute_seconds) {
        row.compute_bound = compute > row.seconds / 2.0;
    }
    rows.sort_by(|a, b| b.seconds.total_cmp(&a.seconds).then_with(|| a.name.cmp(&b.name)));
    let total = launches.iter().fold(Cost::default(), |sum, l| sum.plus(l.cost));
    StepRoofline {
        launches: launches.len(),
        bytes: total.bytes_moved(),
        flops: total.flops,
        seconds: rows.iter().map(|r| r.seconds).sum(),
        rows,
    }
}

/// The dry run's table: per kernel, launches, GB read and written, GFLOP, predicted ms, its share,
/// and what bounds it.
pub fn write_roofline_table(step: &StepRoofline, out: &mut dyn std::io::Write) -> std::io::Result<()> {
    writeln!(out, "| kernel | launches | GB read | GB written | GFLOP | predicted ms | % of step | bound |")?;
    writeln!(out, "|---|---|---|---|---|---|---|---|")?;
    for row in &step.rows {
        writeln!(
            out,
            "| {} | {} | {:.3} | {:.3} | {:.1} | {:.3} | {:.1} | {} |",
            row.name,
            row.launches,
            row.read as f64 / 1e9,
            row.written as f64 / 1e9,
            row.flops as f64 / 1e9,
            row.seconds * 1e3,
            100.0 * row.seconds / step.seconds.max(f64::MIN_POSITIVE),
            if row.compute_bound { "compute" } else { "memory" }
        )?;
    }
    Ok(())
}

/// The kernel profile as a table: launches and device milliseconds per step of each kernel (and
/// cuBLAS call), slowest first, with its share of the device time, its rate where it is a matrix
/// product, and (given the step's launches on a roofline) the time the roofline predicts for it.
pub fn write_kernel_table(
    rows: &[KernelTime],
    steps: usize,
    predicted: Option<&StepRoofline>,
    out: &mut dyn std::io::Write,
) -> std::io::Result<()> {
    let steps = steps.max(1) as f64;
    let total: f64 = rows.iter().map(|r| r.ms).sum();
    let predicted_ms: HashMap<&str, f64> = predicted
        .map(|p| p.rows.iter().map(|r| (r.name.as_str(), r.seconds * 1e3 / steps)).collect())
        .unwrap_or_default();
    writeln!(out, "device time per kernel: {:.1} ms/step", total / steps)?;
    writeln!(out, "| kernel | launches/step | ms/step | % of device time | TFLOP/s | roofline ms/step |")?;
    writeln!(out, "|---|---|---|---|---|---|")?;
    for row in rows {
        let (launches, ms) = (row.launches as f64 / steps, row.ms / steps);
        // Matrix products are named with their shapes: their rate, the rest none.
        let rate = product_flops(&row.name)
            .map_or(String::new(), |flops| format!("{:.1}", flops * row.launches as f64 / (row.ms * 1e-3) / 1e12));
        let roofline = predicted_ms.get(row.name.as_str()).map_or(String::new(), |ms| format!("{ms:.3}"));
        writeln!(
            out,
            "| {} | {launches} | {ms:.2} | {:.1} | {rate} | {roofline} |",
            row.name,
            100.0 * row.ms / total.max(f64::MIN_POSITIVE)
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tensor::kernel_profile::{Math, H100_SXM};

    fn launch(name: &str, cost: Cost) -> Launch {
        Launch { name: name.into(), cost }
    }

    #[test]
    fn launches_group_by_name_and_add_their_bounds() {
        // A memory-bound copy of 3.35 GB (1 ms at 3.35 TB/s) twice, and a product of 989.4 GFLOP
        // on bf16 tensor cores (1 ms) moving little.
        let copy = Cost::bytes(1_675_000_000, 1_675_000_000);
        let product = Cost::bytes(1000, 1000).with_flops(989_400_000_000, Math::Bf16TensorCores);
        let step = summarize(&[launch("copy", copy), launch("gemm", product), launch("copy", copy)], &H100_SXM);
        assert_eq!(step.launches, 3);
        assert_eq!(step.rows.len(), 2);
        let (first, second) = (&step.rows[0], &step.rows[1]);
        assert_eq!((first.name.as_str(), first.launches), ("copy", 2));
        assert!((first.seconds - 2e-3).abs() < 1e-12 && !first.compute_bound);
        assert_eq!((second.name.as_str(), second.launches), ("gemm", 1));
        assert!((second.seconds - 1e-3).abs() < 1e-12 && second.compute_bound);
        assert!((step.seconds - 3e-3).abs() < 1e-12);
        assert_eq!(step.bytes, 2 * 3_350_000_000 + 2000);
        assert_eq!(step.flops, 989_400_000_000);
    }
}
