//! The summary under the table: each family's fastest correct version against its target.

use super::{BenchRow, Family};

/// One line for each family with a target and each shape it was measured at: its fastest version
/// whose output matched the reference (within [`Family::tolerance`]), that version's share of the
/// reference, and whether it reaches the target; versions with a wrong output are named and left
/// out. (A version measured twice, as block-per-row softmax beside the clusters, counts at its best.)
pub fn against_targets(rows: &[BenchRow]) -> Vec<String> {
    let mut groups: Vec<(Family, &str)> = Vec::new();
    for row in rows.iter().filter(|r| r.family.target_percent().is_some()) {
        if !groups.contains(&(row.family, row.shape.as_str())) {
            groups.push((row.family, &row.shape));
        }
    }
    let mut lines = Vec::new();
    for (family, shape) in groups {
        let Some(target) = family.target_percent() else { continue };
        let versions = rows.iter().filter(|r| r.family == family && r.shape == shape && !r.is_reference);
        let (correct, wrong): (Vec<&BenchRow>, Vec<&BenchRow>) =
            versions.partition(|r| r.max_rel_err <= family.tolerance());
        let best = correct.into_iter().max_by(|a, b| a.percent_of_reference.total_cmp(&b.percent_of_reference));
        let mut line = match best {
            Some(b) => {
                let verdict = if b.percent_of_reference >= target { "met" } else { "NOT met" };
                format!(
                    "{} {shape}: {} at {:.1}% of {} (target {target}%): {verdict}",
                    family.name(),
                    b.kernel,
                    b.percent_of_reference,
                    family.reference()
                )
            }
            None => format!("{} {shape}: no version matched the reference (target {target}%): NOT met", family.name()),
        };
        if !wrong.is_empty() {
            let named: Vec<String> =
                wrong.iter().map(|r| format!("{} (error {:.1e})", r.kernel, r.max_rel_err)).collect();
            line.push_str(&format!("; left out, wrong output: {}", named.join(", ")));
        }
        lines.push(line);
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(kernel: &str, family: Family, shape: &str, percent: f64, max_rel_err: f64) -> BenchRow {
        BenchRow {
            kernel: kernel.into(),
            family,
            is_reference: percent == 100.0 && max_rel_err == 0.0,
            shape: shape.into(),
            median_ms: 1.0,
            throughput: 1.0,
            unit: "GB/s",
            percent_of_reference: percent,
            max_rel_err,
        }
    }

    #[test]
    fn each_family_with_a_target_reports_its_fastest_correct_version_per_shape() {
        let softmax = Family::MemoryBound("softmax");
        let rows = [
            row("cuBLAS sgemm (f32)", Family::F32Gemm, "4096³", 100.0, 0.0),
            row("RegisterBlocked (f32)", Family::F32Gemm, "4096³", 54.3, 1e-6),
            row("cuBLAS gemm (bf16)", Family::TensorCoreGemm, "4096³", 100.0, 0.0),
            row("WMMA Pipelined", Family::TensorCoreGemm, "4096³", 24.7, 3e-3),
            row("wgmma Tma", Family::TensorCoreGemm, "4096³", 91.3, 3e-3),
            row("device-to-device copy", softmax, "4096×4096", 100.0, 0.0),
            row("softmax BlockPerRow", softmax, "4096×4096", 70.9, 0.0),
            row("device-to-device copy", softmax, "256×50304", 100.0, 0.0),
            row("softmax BlockPerRow", softmax, "256×50304", 63.9, 0.0),
            row("softmax ClusterPerRow(8)", softmax, "256×50304", 81.0, 0.5),
            row("softmax ClusterPerRow(4)", softmax, "256×50304", 66.0, 2e-7),
            row("attention fwd Pipelined", Family::Attention, "8×12×1024×64", 141.0, 1e-2),
        ];
        let lines = against_targets(&rows);
        assert_eq!(
            lines,
            [
                "tensor-core GEMM 4096³: wgmma Tma at 91.3% of cuBLAS (target 70%): met",
                "softmax 4096×4096: softmax BlockPerRow at 70.9% of the copy bandwidth (target 70%): met",
                "softmax 256×50304: softmax ClusterPerRow(4) at 66.0% of the copy bandwidth (target 70%): NOT met; \
                 left out, wrong output: softmax ClusterPerRow(8) (error 5.0e-1)",
            ]
        );
        // A family whose only version is wrong has no fastest version.
        let wrong =
            [row("device-to-device copy", softmax, "8×8", 100.0, 0.0), row("softmax X", softmax, "8×8", 90.0, 1.0)];
        assert_eq!(
            against_targets(&wrong),
            ["softmax 8×8: no version matched the reference (target 70%): NOT met; left out, wrong output: softmax X \
              (error 1.0e0)"]
        );
    }
}
