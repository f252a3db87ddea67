//! The harness: every registered kernel's variants agree with their references at shapes that span
//! several parallel tasks and are timed; a wrong or NaN variant is caught and not timed; shapes and
//! names are checked; the output formats parse.

use super::*;

/// A shape of each kernel's dims big enough for several rayon tasks, small enough for a test.
fn test_shape(kernel: &dyn CpuKernel) -> Vec<usize> {
    match kernel.dims() {
        ["M", "N", "K"] => vec![130, 70, 50],
        ["R", "C"] => vec![200, 301],
        ["N", "T", "D"] => vec![3, 130, 24], // query blocks of 64: two full, one partial
        ["N"] => vec![100_003],
        dims => panic!("no test shape for {dims:?}"),
    }
}

fn ceiling() -> Ceiling {
    Ceiling { threads: 2, fma_gflops: 100.0, fma: "test", stream_gbps: 10.0 }
}

#[test]
fn every_variant_of_every_kernel_agrees_with_its_reference_and_is_timed() {
    for kernel in KERNELS {
        let rows = measure(*kernel, &test_shape(*kernel), 2, &ceiling(), None).unwrap();
        assert_eq!(rows.len(), kernel.variants().len());
        for m in rows {
            assert!(m.passed, "{} {}: error {:.1e}", m.kernel, m.variant, m.max_error);
            assert!(m.seconds.unwrap() > 0.0 && m.gflops.unwrap() > 0.0 && m.share_of_ceiling.unwrap() > 0.0);
        }
    }
    assert_eq!(Matmul { bf16: false }.default_shapes().len(), 9, "the baby step's distinct products");
}

use super::matmul::Matmul;

/// Axpy with a wrong coefficient and with a NaN, beside the right one.
struct BrokenAxpy;

impl CpuKernel for BrokenAxpy {
    fn name(&self) -> &'static str {
        "broken-axpy"
    }
    fn dims(&self) -> &'static [&'static str] {
        axpy::Axpy.dims()
    }
    fn default_shapes(&self) -> Vec<Vec<usize>> {
        vec![vec![1000]]
    }
    fn work(&self, s: &[usize]) -> Work {
        axpy::Axpy.work(s)
    }
    fn buffers(&self, s: &[usize], rng: &mut rand::rngs::StdRng) -> Buffers {
        axpy::Axpy.buffers(s, rng)
    }
    fn reference(&self, s: &[usize], b: &Buffers) -> Vec<f64> {
        axpy::Axpy.reference(s, b)
    }
    fn variants(&self) -> &'static [Variant] {
        &[
            Variant {
                name: "a = 0.5001",
                run: |_, b| b.out.iter_mut().zip(&b.inputs[0]).for_each(|(y, &x)| *y += 0.5001 * x),
            },
            Variant { name: "nan", run: |_, b| b.out[7] = f32::NAN },
            Variant { name: "right", run: |_, b| b.out.iter_mut().zip(&b.inputs[0]).for_each(|(y, &x)| *y += 0.5 * x) },
        ]
    }
}

#[test]
fn a_variant_that_disagrees_with_the_reference_fails_and_is_not_timed() {
    let rows = measure(&BrokenAxpy, &[1000], 3, &ceiling(), None).unwrap();
    let [wrong, nan, right] = &rows[..] else { panic!("three rows") };
    assert!(!wrong.passed && wrong.seconds.is_none() && wrong.max_error > 1e-4 && wrong.max_error < 1e-3);
    assert!(!nan.passed && nan.seconds.is_none() && nan.max_error.is_nan());
    assert!(right.passed && right.seconds.is_some() && right.max_error < 1e-6);
    // axpy moves 6 bytes per flop: memory-bound under a ridge of 10 flop/byte.
    assert_eq!(right.bound, "memory");
    assert_eq!(
        Measurement::new("m", "v", &[1], 0.0, 1.0, Some(1.0), Work { flops: 1e9, bytes: 1e6 }, &ceiling()).bound,
        "compute"
    );
}

#[test]
fn shapes_names_and_sizes_are_checked() {
    assert_eq!(parse_shape(&Matmul { bf16: false }, "2048x384x1152").unwrap(), [2048, 384, 1152]);
    for bad in ["2048x384", "2048x0x5", "axbxc", ""] {
        let e = parse_shape(&Matmul { bf16: false }, bad).unwrap_err().to_string();
        assert!(e.contains("3 positive numbers") && e.contains("MxNxK"), "{e}");
    }
    let e = find("softmx").err().expect("an unknown name").to_string();
    assert!(e.contains("no kernel \"softmx\"") && e.contains("softmax, layer-norm"), "{e}");
    let e = measure(&Matmul { bf16: false }, &[100_000, 100_000, 100_000], 1, &ceiling(), Some(16e9))
        .unwrap_err()
        .to_string();
    assert!(e.contains("needs about") && e.contains("16.0 GB available"), "{e}");
}

#[test]
fn the_formats_print_one_parseable_record_per_measurement() {
    let rows = measure(&BrokenAxpy, &[1000], 1, &ceiling(), None).unwrap();
    let print = |format| {
        let mut out = Vec::new();
        report::write_ceiling(format, &ceiling(), &mut out).unwrap();
        for m in &rows {
            report::write_row(format, m, &ceiling(), &mut out).unwrap();
        }
        String::from_utf8(out).unwrap()
    };
    let json = print(Format::JsonLines);
    let lines: Vec<serde_json::Value> = json.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines[0]["ceiling"]["fma_gflops"], 100.0);
    assert_eq!(lines[3]["variant"], "right");
    assert!(lines[1]["seconds"].is_null() && lines[3]["gbps"].as_f64().unwrap() > 0.0);
    let csv = print(Format::Csv);
    let widths: Vec<usize> = csv.lines().map(|l| l.split(',').count()).collect();
    assert!(widths.iter().all(|&w| w == widths[0]) && widths.len() == 4, "{csv}");
    let table = print(Format::Table);
    assert!(table.contains("| broken-axpy | nan | 1000 | NaN | FAILED"), "{table}");
}
