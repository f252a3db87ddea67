//! The launch plans (the kernel and grid each launch picks) refuse what their kernels cannot do,
//! before anything reaches a device.

use kernels::attention::cuda::{attention_backward_plans, attention_forward_plan, AttentionShape, AttentionVersion};
use kernels::cuda::CudaError;
use kernels::gemm::cuda::{gemm_f32_plan, gemm_wgmma_plan, gemm_wmma_plan, GemmVersion, WgmmaVersion, WmmaVersion};
use kernels::softmax::cuda::{softmax_plan, SoftmaxVersion};

#[test]
fn plans_refuse_what_their_kernels_cannot_do() {
    let err = softmax_plan(SoftmaxVersion::WarpPerRow, true, (4, 4)).unwrap_err();
    assert!(matches!(&err, CudaError::Driver(m) if m.contains("block- and cluster-per-row")), "{err}");
    assert!(softmax_plan(SoftmaxVersion::BlockPerRow, true, (4, 4)).is_ok());
    // Clusters of 1 to 8 blocks, each thread holding at most 32 values of the row: a vocabulary
    // of 50304 in 8 blocks of 256 threads, a cluster per row.
    let plan = softmax_plan(SoftmaxVersion::ClusterPerRow(8), true, (3, 50304)).unwrap();
    assert_eq!((plan.cfg.grid_dim.0, plan.cfg.block_dim.0, plan.cluster), (24, 256, 8));
    for (blocks, cols) in [(0, 10), (9, 10), (1, 32 * 1024 + 1), (8, 8 * 32 * 1024 + 1)] {
        let err = softmax_plan(SoftmaxVersion::ClusterPerRow(blocks), false, (3, cols)).unwrap_err();
        assert!(err.to_string().contains("softmax_cluster_per_row"), "{blocks} blocks, {cols}: {err}");
    }
    // Attention: d ≤ 128 for any version, d ≤ 64 for the tiled ones, s ≥ t when causal, a positive
    // scale for the FlashAttention-2 ones.
    let shape = |d, t, s| AttentionShape { bh: 2, t, s, d, causal: true, scale: 0.1 };
    for version in AttentionVersion::ALL {
        for bad in [shape(129, 8, 8), shape(0, 8, 8), shape(64, 9, 8)] {
            assert!(attention_forward_plan(version, bad).is_err(), "{version:?} {bad:?}");
            assert!(attention_backward_plans(version, bad).is_err(), "{version:?} {bad:?}");
        }
        let wide = attention_forward_plan(version, shape(100, 8, 8));
        assert_eq!(wide.is_ok(), version == AttentionVersion::RowPerThread, "{version:?} d = 100");
        // The FlashAttention-2 kernels scale a tile's maximum score: the scale must be positive.
        let needs_positive = matches!(version, AttentionVersion::TensorCoresInRegisters | AttentionVersion::Pipelined);
        for scale in [0.0, -0.1, f32::NAN] {
            let plan = attention_forward_plan(version, AttentionShape { scale, ..shape(64, 8, 8) });
            assert_eq!(plan.is_err(), needs_positive, "{version:?} scale {scale}");
            let plans = attention_backward_plans(version, AttentionShape { scale, ..shape(64, 8, 8) });
            assert_eq!(plans.is_err(), needs_positive, "{version:?} scale {scale}");
        }
    }
    assert_eq!(AttentionVersion::best_for(64, true, true), AttentionVersion::Pipelined);
    assert_eq!(AttentionVersion::best_for(64, true, false), AttentionVersion::TensorCoresInRegisters);
    assert_eq!(AttentionVersion::best_for(64, false, true), AttentionVersion::Tiled);
    assert_eq!(AttentionVersion::best_for(100, true, true), AttentionVersion::RowPerThread);
    // Register blocking loads B by float4; the tensor-core GEMMs take multiples of 16.
    assert!(gemm_f32_plan(GemmVersion::RegisterBlocked, (8, 6, 8)).is_err());
    assert!(gemm_f32_plan(GemmVersion::Tiled, (8, 6, 8)).is_ok());
    let errors = std::iter::once(gemm_wmma_plan(WmmaVersion::Pipelined, (32, 32, 24)))
        .chain(WgmmaVersion::ALL.map(|version| gemm_wgmma_plan(version, (32, 32, 24))));
    for err in errors.map(Result::unwrap_err) {
        assert!(
            err.to_string().contains("gemm_w") && err.to_string().contains("needs multiples of 16, got 32×32×24"),
            "{err}"
        );
    }
    let plan = gemm_wgmma_plan(WgmmaVersion::TmaLoadingWarpgroup, (256, 512, 64)).unwrap();
    assert_eq!((plan.cfg.grid_dim, plan.cfg.block_dim.0), ((2, 2, 1), 384));
}
