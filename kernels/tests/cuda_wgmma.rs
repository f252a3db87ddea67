//! Hopper's warpgroup-MMA GEMMs (gemm.cu versions 8–10, sm_90a: tiles loaded by cp.async, by the
//! tensor memory accelerator, and by it from a warpgroup that only loads) against the CPU product
//! of the same bf16 operands. Their own test binary: a fault in these kernels leaves the process's
//! CUDA context unusable, which would fail every other kernel test running beside them. Needs a
//! GPU (`#[ignore]`d elsewhere): an H100 or H200 runs the kernels, any other checks they are
//! refused; `.ci/run` also runs it on the CUDA emulator (an sm_90a device).

use half::bf16;
use kernels::cuda::Gpu;
use kernels::gemm::cuda::{gemm_wgmma_bf16, WgmmaVersion};
use kernels::gemm::{gemm, MatRef};

mod common;
use common::{max_rel_err, random};

#[test]
#[ignore = "needs a CUDA GPU (sm_90a)"]
fn wgmma_gemm_matches_the_cpu() {
    let gpu = Gpu::new(0).unwrap();
    if gpu.arch != "sm_90a" {
        // Other GPUs have no wgmma: the launchers refuse it, which is all there is to check.
        let (a, mut c) = (gpu.stream.alloc_zeros::<bf16>(256).unwrap(), gpu.stream.alloc_zeros::<f32>(256).unwrap());
        let err = gemm_wgmma_bf16(&gpu, WgmmaVersion::CpAsync, &a, &a, &mut c, (16, 16, 16)).unwrap_err();
        assert!(err.to_string().contains("needs an sm_90a device"), "{err}");
        return;
    }
    // One partial tile; two full tiles of C deep in K (more tiles than pipeline stages); tiles cut
    // off in M, N and K.
    for (m, n, k) in [(64, 64, 64), (256, 512, 384), (144, 80, 48), (272, 400, 208)] {
        let round = |v: Vec<f32>| v.into_iter().map(bf16::from_f32).collect::<Vec<_>>();
        let (a, b) = (round(random(m * k, 5)), round(random(k * n, 6)));
        let wide = |v: &[bf16]| v.iter().map(|x| x.to_f32()).collect::<Vec<_>>();
        let mut want = vec![0.0; m * n];
        gemm(MatRef::row_major(&wide(&a), m, k), MatRef::row_major(&wide(&b), k, n), &mut want, n, false);
        // The kernel takes B transposed, (n, k) row-major.
        let bt: Vec<bf16> = (0..n * k).map(|i| b[i % k * n + i / k]).collect();
        let (ad, btd) = (gpu.stream.clone_htod(&a).unwrap(), gpu.stream.clone_htod(&bt).unwrap());
        for version in WgmmaVersion::ALL {
            let mut cd = gpu.stream.alloc_zeros::<f32>(m * n).unwrap();
            gemm_wgmma_bf16(&gpu, version, &ad, &btd, &mut cd, (m, n, k)).unwrap();
            let err = max_rel_err(&gpu.stream.clone_dtoh(&cd).unwrap(), &want);
            assert!(err <= 1e-3, "{version:?} {m}×{n}×{k}: {err}");
        }
    }
}
