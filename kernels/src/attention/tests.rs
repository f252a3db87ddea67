//! The fused kernel against the formulas written out as plain loops in f64 ([`super::naive`]).

use super::*;
use rand::{rngs::StdRng, Rng, SeedableRng};

fn random(n: usize, rng: &mut StdRng) -> Vec<f64> {
    (0..n).map(|_| rng.random_range(-2.0..2.0)).collect()
}

fn max_rel_err(got: &[f64], want: &[f64]) -> f64 {
    let scale = want.iter().fold(1e-12f64, |m, &x| m.max(x.abs()));
    got.iter().zip(want).map(|(a, b)| (a - b).abs() / scale).max_by(f64::total_cmp).unwrap_or(0.0)
}

/// Forward and backward on dense buffers.
#[allow(clippy::type_complexity)]
fn run_dense<T: GemmScalar>(
    spec: MicroKernelSpec<T>,
    dims: &AttentionDims,
    scale: T,
    [q, k, v, d_out]: [&[T]; 4],
) -> (Vec<T>, Vec<T>, Vec<T>, Vec<T>, Vec<T>) {
    let AttentionDims { batch: n, queries: t, keys: s, head_dim: d, value_dim: dvw, .. } = *dims;
    let (mut out, mut p) = (vec![T::ZERO; n * t * dvw], vec![T::ZERO; n * t * s]);
    let dense = HeadLayout::dense;
    let heads = |data, layout| Heads { data, layout };
    let inputs = [heads(q, dense(t, d)), heads(k, dense(s, d)), heads(v, dense(s, dvw))];
    attention_forward(spec, dims, scale, inputs, HeadsMut { data: &mut out, layout: dense(t, dvw) }, &mut p);
    // The three gradients one after another in one buffer.
    let (lq, lk) = (n * t * d, n * s * d);
    let mut grads = vec![T::ZERO; lq + lk + n * s * dvw];
    let layouts =
        [dense(t, d), HeadLayout { offset: lq, ..dense(s, d) }, HeadLayout { offset: lq + lk, ..dense(s, dvw) }];
    attention_backward(spec, dims, scale, inputs, &p, heads(d_out, dense(t, dvw)), &mut grads, layouts);
    let dv = grads.split_off(lq + lk);
    let dk = grads.split_off(lq);
    (out, p, grads, dk, dv)
}

/// Random inputs for `dims`: `[q, k, v, d_out]`.
fn inputs(dims: &AttentionDims) -> [Vec<f64>; 4] {
    let mut rng = StdRng::seed_from_u64(7);
    let AttentionDims { batch: n, queries: t, keys: s, head_dim: d, value_dim: dvw, .. } = *dims;
    [n * t * d, n * s * d, n * s * dvw, n * t * dvw].map(|len| random(len, &mut rng))
}

/// Every f64 micro-kernel against the formulas, within 1e-12 of the largest value.
fn check(dims: AttentionDims) {
    let [q, k, v, d_out] = inputs(&dims);
    let scale = 1.0 / (dims.head_dim as f64).sqrt();
    let (want_out, want_p) = attention_forward_naive(&dims, scale, &q, &k, &v);
    let (want_dq, want_dk, want_dv) = attention_backward_naive(&dims, scale, &q, &k, &v, &want_p, &d_out);
    for spec in f64::available_microkernels() {
        let (out, p, dq, dk, dv) = run_dense(spec, &dims, scale, [&q, &k, &v, &d_out]);
        let checks = [("out", &out, &want_out), ("p", &p, &want_p), ("dq", &dq, &want_dq), ("dk", &dk, &want_dk)];
        for (name, got, want) in checks.into_iter().chain([("dv", &dv, &want_dv)]) {
            assert!(max_rel_err(got, want) < 1e-12, "{spec:?} {dims:?} {name}");
        }
    }
}

/// With the mixed-precision micro-kernels (every product's operands rounded to bf16, sums in f32)
/// on f32 inputs, each output within 2% of the largest value of the exact (f64) one. The bound:
/// scores `q·k` over `D = 16` terms of |x| ≤ 2 are each off by at most about 2·2⁻⁹ of
/// Σ|qᵢkᵢ| ≤ 64 (so ≤ 0.25 before the ¼ scale, ~0.06 after), which moves a probability by that
/// fraction; the value and gradient products add one more rounding of 2⁻⁸ each. Observed: at most
/// 0.6%. Also what f32 products give, much closer (1e-5), so the bound is not met by accident.
#[test]
fn bf16_products_stay_within_their_rounding() {
    let cases = [
        AttentionDims { batch: 3, queries: 150, keys: 150, head_dim: 16, value_dim: 16, causal: true },
        // S − T odd: block depths round up to whole bf16 pairs, through masked keys.
        AttentionDims { batch: 2, queries: 70, keys: 75, head_dim: 16, value_dim: 6, causal: true },
        AttentionDims { batch: 2, queries: 65, keys: 33, head_dim: 16, value_dim: 5, causal: false },
    ];
    for dims in cases {
        let [q, k, v, d_out] = inputs(&dims);
        let (want_out, want_p) = attention_forward_naive(&dims, 0.25, &q, &k, &v);
        let (want_dq, want_dk, want_dv) = attention_backward_naive(&dims, 0.25, &q, &k, &v, &want_p, &d_out);
        let narrow = |x: &Vec<f64>| x.iter().map(|&x| x as f32).collect::<Vec<f32>>();
        let (q, k, v, d_out) = (narrow(&q), narrow(&k), narrow(&v), narrow(&d_out));
        let specs = crate::gemm::bf16_microkernels().into_iter().map(|s| (s, 2e-2));
        for (spec, tol) in specs.chain([(f32::best_microkernel(), 1e-5)]) {
            let got = run_dense(spec, &dims, 0.25f32, [&q, &k, &v, &d_out]);
            let widen = |x: &Vec<f32>| x.iter().map(|&x| x as f64).collect::<Vec<f64>>();
            let pairs = [("out", &got.0, &want_out), ("p", &got.1, &want_p), ("dq", &got.2, &want_dq)];
            for (name, got, want) in pairs.into_iter().chain([("dk", &got.3, &want_dk), ("dv", &got.4, &want_dv)]) {
                let err = max_rel_err(&widen(got), want);
                assert!(err < tol, "{spec:?} {dims:?} {name}: {err}");
            }
        }
    }
}

#[test]
fn packed_heads_give_the_same_numbers_as_dense_buffers() {
    // GPT-2's layout: [Q | K | V] side by side in the rows of a (B, T, 3·H·D) buffer, the output
    // and the gradients packed the same way, against dense copies of the same matrices.
    let (b, h, t, d) = (2, 3, 70, 8);
    let c = h * d;
    let mut rng = StdRng::seed_from_u64(11);
    let qkv = random(b * t * 3 * c, &mut rng);
    let d_out_packed = random(b * t * c, &mut rng);
    let dims = AttentionDims { batch: b * h, queries: t, keys: t, head_dim: d, value_dim: d, causal: true };
    let packed = |part: usize| HeadLayout::packed(h, t, d, 3 * c, part * c);
    // Dense copies: entry n = b·h + head, row i, column x.
    let gather = |data: &[f64], layout: HeadLayout| -> Vec<f64> {
        (0..b * h)
            .flat_map(|n| (0..t).flat_map(move |i| (0..d).map(move |x| (n, i, x))))
            .map(|(n, i, x)| data[layout.start(n) + i * layout.row_stride + x])
            .collect()
    };
    let (q, k, v) = (gather(&qkv, packed(0)), gather(&qkv, packed(1)), gather(&qkv, packed(2)));
    let out_layout = HeadLayout::packed(h, t, d, c, 0);
    let d_out = gather(&d_out_packed, out_layout);
    let spec = f64::best_microkernel();
    let (want_out, want_p, want_dq, want_dk, want_dv) = run_dense(spec, &dims, 0.25, [&q, &k, &v, &d_out]);

    let (mut out, mut p) = (vec![0.0; b * t * c], vec![0.0; b * h * t * t]);
    let inputs = [0, 1, 2].map(|part| Heads { data: &qkv[..], layout: packed(part) });
    attention_forward(spec, &dims, 0.25, inputs, HeadsMut { data: &mut out, layout: out_layout }, &mut p);
    let mut grads = vec![f64::NAN; b * t * 3 * c];
    let d_out_heads = Heads { data: &d_out_packed[..], layout: out_layout };
    attention_backward(spec, &dims, 0.25, inputs, &p, d_out_heads, &mut grads, [0, 1, 2].map(packed));
    assert_eq!(gather(&out, out_layout), want_out);
    assert_eq!(p, want_p);
    assert_eq!(gather(&grads, packed(0)), want_dq);
    assert_eq!(gather(&grads, packed(1)), want_dk);
    assert_eq!(gather(&grads, packed(2)), want_dv);
    assert!(grads.iter().all(|g| !g.is_nan()), "every gradient element written");
}

#[test]
#[should_panic(expected = "gradient layouts overlap")]
fn overlapping_gradient_layouts_are_refused() {
    let dims = AttentionDims { batch: 1, queries: 2, keys: 2, head_dim: 2, value_dim: 2, causal: false };
    let x = [0.5; 4];
    let dense = HeadLayout::dense(2, 2);
    let inputs = [Heads { data: &x[..], layout: dense }; 3];
    let mut grads = [0.0; 12];
    let layouts = [dense, HeadLayout { offset: 2, ..dense }, HeadLayout { offset: 8, ..dense }];
    attention_backward(f64::best_microkernel(), &dims, 1.0, inputs, &[0.5; 4], inputs[0], &mut grads, layouts);
}

#[test]
#[should_panic(expected = "reaches element")]
fn layouts_beyond_the_buffer_are_refused() {
    let dims = AttentionDims { batch: 2, queries: 2, keys: 2, head_dim: 2, value_dim: 2, causal: false };
    let x = [0.5; 8];
    let inputs = [Heads { data: &x[..7], layout: HeadLayout::dense(2, 2) }; 3];
    let (mut out, mut p) = ([0.0; 8], [0.0; 8]);
    let out = HeadsMut { data: &mut out, layout: HeadLayout::dense(2, 2) };
    attention_forward(f64::best_microkernel(), &dims, 1.0, inputs, out, &mut p);
}

#[test]
fn causal_matches_the_definition_across_block_edges() {
    // 150 queries: two full blocks and a partial one.
    check(AttentionDims { batch: 3, queries: 150, keys: 150, head_dim: 16, value_dim: 16, causal: true });
}

#[test]
fn causal_with_more_keys_than_queries() {
    // Queries aligned with the last keys, as with a KV cache.
    check(AttentionDims { batch: 2, queries: 70, keys: 90, head_dim: 8, value_dim: 12, causal: true });
}

#[test]
fn unmasked_matches_the_definition() {
    check(AttentionDims { batch: 2, queries: 65, keys: 33, head_dim: 24, value_dim: 5, causal: false });
}

#[test]
fn causal_probabilities_are_zero_above_the_diagonal_and_rows_sum_to_one() {
    let dims = AttentionDims { batch: 1, queries: 80, keys: 80, head_dim: 4, value_dim: 4, causal: true };
    let mut rng = StdRng::seed_from_u64(3);
    let qkv: Vec<f32> = random(960, &mut rng).iter().map(|&x| x as f32).collect();
    let (_, p, ..) =
        run_dense(f32::best_microkernel(), &dims, 0.5f32, [&qkv[..320], &qkv[320..640], &qkv[640..], &[0.0; 320]]);
    for (i, row) in p.chunks(80).enumerate() {
        assert!(row[i + 1..].iter().all(|&x| x == 0.0), "row {i} sees the future");
        let sum: f32 = row.iter().sum();
        assert!((sum - 1.0).abs() < 1e-5, "row {i} sums to {sum}");
    }
}

#[test]
#[should_panic(expected = "causal attention with 5 queries but only 4 keys")]
fn causal_needs_enough_keys() {
    let dims = AttentionDims { batch: 1, queries: 5, keys: 4, head_dim: 2, value_dim: 2, causal: true };
    run_dense(f64::best_microkernel(), &dims, 1.0, [&[0.0; 10], &[0.0; 8], &[0.0; 8], &[0.0; 10]]);
}

#[test]
#[should_panic(expected = "not whole groups of 2 heads")]
fn a_batch_of_partial_head_groups_is_refused() {
    // With 3 entries in groups of 2 heads, the second entry (head 1) could start further in than
    // the last one (batch 1, head 0): bounds are only checked for whole groups.
    let dims = AttentionDims { batch: 3, queries: 1, keys: 1, head_dim: 1, value_dim: 1, causal: false };
    let layout = HeadLayout { offset: 0, heads: 2, batch_stride: 1, head_stride: 10, row_stride: 1 };
    let x = [0.5; 16];
    let inputs = [Heads { data: &x[..], layout }; 3];
    let (mut out, mut p) = ([0.0; 3], [0.0; 3]);
    let out = HeadsMut { data: &mut out, layout: HeadLayout::dense(1, 1) };
    attention_forward(f64::best_microkernel(), &dims, 1.0, inputs, out, &mut p);
}

#[test]
fn a_nan_query_or_key_spreads_to_exactly_the_outputs_that_read_it() {
    // Batch entry 0: query row 5 NaN, so output row 5 alone is NaN. Entry 1: key row 9 NaN, so
    // every query that sees it (rows ≥ 9, causal) is NaN and the rows before are untouched. The
    // backward gives NaN gradients where the chain rule reads a NaN; entry 2, clean, stays finite.
    let dims = AttentionDims { batch: 3, queries: 40, keys: 40, head_dim: 8, value_dim: 8, causal: true };
    let mut rng = StdRng::seed_from_u64(5);
    let (mut q, mut k) = (random(3 * 40 * 8, &mut rng), random(3 * 40 * 8, &mut rng));
    let (v, d_out) = (random(3 * 40 * 8, &mut rng), random(3 * 40 * 8, &mut rng));
    let spec = f64::best_microkernel();
    let clean = run_dense(spec, &dims, 0.5, [&q, &k, &v, &d_out]);
    q[5 * 8 + 3] = f64::NAN;
    k[(40 + 9) * 8] = f64::NAN;
    let (out, _, dq, dk, dv) = run_dense(spec, &dims, 0.5, [&q, &k, &v, &d_out]);
    let row_is_nan = |x: &[f64], entry: usize, row: usize| x[(entry * 40 + row) * 8..][..8].iter().all(|v| v.is_nan());
    let row_is_finite =
        |x: &[f64], entry: usize, row: usize| x[(entry * 40 + row) * 8..][..8].iter().all(|v| v.is_finite());
    for row in 0..40 {
        assert_eq!(row_is_nan(&out, 0, row), row == 5, "entry 0, row {row}");
        assert_eq!(row_is_finite(&out, 0, row), row != 5, "entry 0, row {row}");
        assert_eq!(row_is_nan(&out, 1, row), row >= 9, "entry 1, row {row}");
        assert_eq!(row_is_finite(&out, 1, row), row < 9, "entry 1, row {row}");
    }
    assert!(row_is_nan(&dq, 0, 5) && (0..=5).all(|j| row_is_nan(&dk, 0, j) && row_is_nan(&dv, 0, j)));
    assert!(row_is_nan(&dk, 1, 9) && (9..40).all(|i| row_is_nan(&dq, 1, i)));
    let entry2 = 2 * 40 * 8..;
    assert_eq!(&out[entry2.clone()], &clean.0[entry2.clone()]);
    assert_eq!(&dq[entry2.clone()], &clean.2[entry2.clone()]);
    assert_eq!(&dk[entry2.clone()], &clean.3[entry2.clone()]);
}
