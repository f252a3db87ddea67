//! The CUDA kernel sources compile with NVRTC for the H100 (sm_90a, its architecture-specific target,
//! which has wgmma), and `ptxas` assembles them; without NVRTC, compiling is an error, not a panic.
//! No GPU is needed for any of this.
//!
//! The compile test needs the NVRTC library: `.ci/run` installs the pinned PyPI wheels and runs it
//! with `LD_LIBRARY_PATH` (NVRTC), `CUDA_INCLUDE_DIR` (cuda_bf16.h) and `PTXAS` set.

use kernels::cuda::{compile, include_paths, nvrtc_available, ptxas_report, CudaError, KernelSource, SOURCES};

#[test]
fn without_nvrtc_compiling_is_a_clear_error() {
    if nvrtc_available() {
        return; // the library is present here; the ignored test below covers this machine
    }
    let err = compile(&SOURCES[0], "sm_90a", &[]).unwrap_err();
    assert_eq!(err, CudaError::NoNvrtc);
    assert!(err.to_string().contains("LD_LIBRARY_PATH"));
}

#[test]
#[ignore = "needs NVRTC: .ci/run installs the nvidia-cuda-nvrtc wheel and runs this"]
fn every_kernel_compiles_for_the_h100() {
    assert!(nvrtc_available(), "NVRTC not found: set LD_LIBRARY_PATH to the wheel's lib folder");
    let ptxas = std::env::var("PTXAS").ok();
    for source in SOURCES {
        let ptx = compile(source, "sm_90a", &include_paths()).unwrap_or_else(|e| panic!("{e}"));
        for kernel in source.kernels {
            assert!(ptx.contains(&format!(".entry {kernel}(")), "{}: no kernel {kernel} in the PTX", source.name);
        }
        if let Some(ptxas) = &ptxas {
            let report = ptxas_report(&ptx, source.name, "sm_90a", std::path::Path::new(ptxas))
                .unwrap_or_else(|e| panic!("ptxas rejected {}: {e}", source.name));
            assert!(!report.contains("warning:"), "ptxas sees a performance loss in {}:\n{report}", source.name);
            assert_eq!(report.lines().count(), source.kernels.len(), "{report}");
            println!("{report}");
        }
    }
    // A source with an error is refused with NVRTC's message.
    let broken = KernelSource { name: "broken.cu", source: "extern \"C\" __global__ void k() { nope; }", kernels: &[] };
    match compile(&broken, "sm_90a", &[]) {
        Err(CudaError::Compile { source, log }) => assert!(source == "broken.cu" && log.contains("nope"), "{log}"),
        other => panic!("expected a compile error, got {other:?}"),
    }
}
