use super::*;
use rand::{rngs::StdRng, Rng, SeedableRng};

fn random(n: usize, seed: u64) -> Vec<f64> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..n).map(|_| rng.random_range(-1.0..1.0)).collect()
}

/// Runs the packed GEMM with every micro-kernel this CPU has and the naive loop on the same
/// (possibly transposed) operands, and compares.
fn check<T: GemmScalar>(
    m: usize,
    n: usize,
    k: usize,
    transpose_a: bool,
    transpose_b: bool,
    accumulate: bool,
    tol: f64,
) {
    for spec in T::available_microkernels() {
        check_with(spec, m, n, k, transpose_a, transpose_b, accumulate, tol, |x| x);
    }
}

/// The packed GEMM with `spec` against the naive loop on the operands mapped by `operand` (the
/// identity, or the rounding a mixed-precision kernel applies).
#[allow(clippy::too_many_arguments)]
fn check_with<T: GemmScalar>(
    spec: MicroKernelSpec<T>,
    m: usize,
    n: usize,
    k: usize,
    transpose_a: bool,
    transpose_b: bool,
    accumulate: bool,
    tol: f64,
    operand: fn(T) -> T,
) {
    let av: Vec<T> = random(m * k, 1).into_iter().map(T::from_f64).collect();
    let bv: Vec<T> = random(k * n, 2).into_iter().map(T::from_f64).collect();
    let (ar, br): (Vec<T>, Vec<T>) =
        (av.iter().map(|&x| operand(x)).collect(), bv.iter().map(|&x| operand(x)).collect());
    let a_of = |v| if transpose_a { MatRef::row_major(v, k, m).t() } else { MatRef::row_major(v, m, k) };
    let b_of = |v| if transpose_b { MatRef::row_major(v, n, k).t() } else { MatRef::row_major(v, k, n) };
    let ldc = n + 3;
    let c0: Vec<T> = random(m * ldc, 3).into_iter().map(T::from_f64).collect();
    let (mut fast, mut slow) = (c0.clone(), c0.clone());
    gemm_with(spec, a_of(&av), b_of(&bv), &mut fast, ldc, accumulate);
    gemm_naive(a_of(&ar), b_of(&br), &mut slow, ldc, accumulate);
    for (i, (x, y)) in fast.iter().zip(&slow).enumerate() {
        let (x, y) = (x.to_f64(), y.to_f64());
        assert!(
            (x - y).abs() <= tol * (1.0 + y.abs()),
            "{spec:?} m={m} n={n} k={k} ta={transpose_a} tb={transpose_b}: C[{i}] {x} vs {y}"
        );
    }
}

#[test]
fn packed_gemm_matches_naive_on_edge_shapes() {
    for &(m, n, k) in &[
        (1, 1, 1),
        (5, 7, 3),
        (6, 16, 1),
        (12, 32, 9),
        (13, 33, 17),
        (64, 64, 64),
        (97, 45, 300),
        (150, 20, 513),
        (7, 4100, 5),
        (200, 70, 260),
    ] {
        for &(ta, tb) in &[(false, false), (true, false), (false, true), (true, true)] {
            check::<f32>(m, n, k, ta, tb, false, 1e-4);
            check::<f64>(m, n, k, ta, tb, false, 1e-12);
        }
        check::<f32>(m, n, k, false, false, true, 1e-4);
        check::<f64>(m, n, k, true, true, true, 1e-12);
    }
}

#[test]
fn every_f32_cpu_has_the_portable_kernel_last() {
    let kernels = f32::available_microkernels();
    assert_eq!(kernels.last().unwrap().name, "portable 6x16");
}

#[test]
fn portable_microkernel_matches_naive() {
    // Exercise the fallback that CPUs without AVX2 use, whatever this CPU has.
    let (m, n, k) = (6, 16, 37);
    let a: Vec<f32> = random(m * k, 4).into_iter().map(|x| x as f32).collect();
    let b: Vec<f32> = random(k * n, 5).into_iter().map(|x| x as f32).collect();
    let (mut pa, mut pb) = (vec![0f32; m * k], vec![0f32; k * n]);
    pack::pack_a(&mut pa, MatRef::row_major(&a, m, k), 0, m, 0, k, 6);
    pack::pack_b(&mut pb, MatRef::row_major(&b, k, n), 0, k, 0, n, 16, false);
    let mut c = vec![0f32; m * n];
    unsafe {
        microkernel::microkernel_portable::<f32, 6, 16>(
            k,
            pa.as_ptr(),
            pb.as_ptr(),
            c.as_mut_ptr(),
            n,
            m,
            n,
            TileStore::Overwrite,
        )
    };
    let mut reference = vec![0f32; m * n];
    gemm_naive(MatRef::row_major(&a, m, k), MatRef::row_major(&b, k, n), &mut reference, n, false);
    for (x, y) in c.iter().zip(&reference) {
        assert!((x - y).abs() < 1e-4);
    }
}

#[test]
fn batched_gemm_matches_per_matrix_products() {
    let (batch, m, n, k) = (5, 9, 11, 7);
    let a: Vec<f64> = random(batch * m * k, 6);
    let b: Vec<f64> = random(batch * k * n, 7);
    let bias: Vec<f64> = random(n, 8);
    let a_offsets: Vec<usize> = (0..batch).map(|t| t * m * k).collect();
    // B broadcast over odd batches: offsets may repeat.
    let b_offsets: Vec<usize> = (0..batch).map(|t| (t % 2) * k * n).collect();
    for with_bias in [false, true] {
        // C starts as garbage (NaN): the product writes it without reading it.
        let mut c = vec![MaybeUninit::new(f64::NAN); batch * m * n];
        gemm_batched(
            f64::best_microkernel(),
            MatRef::row_major(&a, m, k),
            &a_offsets,
            MatRef::row_major(&b, k, n),
            &b_offsets,
            &mut c,
            n,
            m * n,
            with_bias.then_some(&bias[..]),
        );
        for t in 0..batch {
            let mut expect: Vec<f64> = if with_bias { bias.repeat(m) } else { vec![0.0; m * n] };
            let at = MatRef { offset: t * m * k, ..MatRef::row_major(&a, m, k) };
            let bt = MatRef { offset: (t % 2) * k * n, ..MatRef::row_major(&b, k, n) };
            gemm_naive(at, bt, &mut expect, n, with_bias);
            for (x, y) in c[t * m * n..(t + 1) * m * n].iter().zip(&expect) {
                // Safety: the product wrote every element of C.
                let x = unsafe { x.assume_init() };
                assert!((x - y).abs() < 1e-12, "bias {with_bias}: {x} vs {y}");
            }
        }
    }
}

/// The bias epilogue of each f32 micro-kernel (full and edge tiles, several passes over k) gives
/// what starting C as the bias rows and accumulating gives, bit for bit, into a C that starts as
/// NaN (so a read of C before the first store would show).
#[test]
fn bias_stored_with_the_tile_equals_accumulating_onto_bias_rows() {
    let (m, n, k) = (31, 70, 600);
    let a: Vec<f32> = random(m * k, 9).into_iter().map(|x| x as f32).collect();
    let b: Vec<f32> = random(k * n, 10).into_iter().map(|x| x as f32).collect();
    let bias: Vec<f32> = random(n, 11).into_iter().map(|x| x as f32).collect();
    for spec in f32::available_microkernels() {
        let mut expect = bias.repeat(m);
        gemm_with(spec, MatRef::row_major(&a, m, k), MatRef::row_major(&b, k, n), &mut expect, n, true);
        let mut c = vec![MaybeUninit::new(f32::NAN); m * n];
        let (a_m, b_m) = (MatRef::row_major(&a, m, k), MatRef::row_major(&b, k, n));
        gemm_batched(spec, a_m, &[0], b_m, &[0], &mut c, n, m * n, Some(&bias));
        // Safety: the product wrote every element of C.
        let got: Vec<u32> = c.iter().map(|x| unsafe { x.assume_init() }.to_bits()).collect();
        assert_eq!(got, expect.iter().map(|x| x.to_bits()).collect::<Vec<_>>(), "{spec:?}");
    }
}

#[test]
fn broadcast_operands_with_zero_strides() {
    // A row repeated (row stride 0) and a column repeated along k (col stride 0) are valid views.
    let a = [1.0f64, 2.0, 3.0];
    let b = [10.0f64, 20.0];
    let a_rows = MatRef { data: &a, offset: 0, rows: 4, cols: 3, row_stride: 0, col_stride: 1 };
    let b_repeat = MatRef { data: &b, offset: 0, rows: 3, cols: 2, row_stride: 0, col_stride: 1 };
    let (mut fast, mut slow) = (vec![0.0; 8], vec![0.0; 8]);
    gemm(a_rows, b_repeat, &mut fast, 2, false);
    gemm_naive(a_rows, b_repeat, &mut slow, 2, false);
    assert_eq!(fast, slow);
    assert_eq!(fast[..2], [60.0, 120.0]);
    let a_k = MatRef { data: &a, offset: 0, rows: 3, cols: 5, row_stride: 1, col_stride: 0 };
    let b5 = [1.0f64; 10];
    let (mut fast, mut slow) = (vec![0.0; 6], vec![0.0; 6]);
    gemm(a_k, MatRef::row_major(&b5, 5, 2), &mut fast, 2, false);
    gemm_naive(a_k, MatRef::row_major(&b5, 5, 2), &mut slow, 2, false);
    assert_eq!(fast, slow);
    assert_eq!(fast[..2], [5.0, 5.0]);
}

#[test]
fn k_zero_gives_zeros_or_keeps_c() {
    let a: Vec<f32> = vec![];
    let mut c = vec![5f32; 6];
    gemm(MatRef::row_major(&a, 2, 0), MatRef::row_major(&a, 0, 3), &mut c, 3, true);
    assert_eq!(c, vec![5.0; 6]);
    gemm(MatRef::row_major(&a, 2, 0), MatRef::row_major(&a, 0, 3), &mut c, 3, false);
    assert_eq!(c, vec![0.0; 6]);
}

#[test]
fn hand_computed_2x2() {
    let a = [1.0f32, 2.0, 3.0, 4.0];
    let b = [5.0f32, 6.0, 7.0, 8.0];
    let mut c = [0f32; 4];
    gemm(MatRef::row_major(&a, 2, 2), MatRef::row_major(&b, 2, 2), &mut c, 2, false);
    assert_eq!(c, [19.0, 22.0, 43.0, 50.0]);
}

#[test]
fn bf16_gemm_equals_the_product_of_rounded_operands() {
    // Odd k (a half-empty last pair), k past one packed block (512 steps; 256 for the portable
    // kernel), edge tiles in both directions, several row blocks, transposed operands.
    let kernels = bf16_microkernels();
    assert_eq!(kernels.last().unwrap().name, "f32 kernel on bf16-rounded operands");
    for spec in kernels {
        for &(m, n, k) in &[
            (1, 1, 1),
            (5, 7, 3),
            (14, 32, 2),
            (15, 33, 17),
            (29, 70, 600),
            (200, 45, 257),
            (3, 4100, 9),
            (74, 45, 300),
        ] {
            for &(ta, tb, accumulate) in
                &[(false, false, false), (true, false, true), (false, true, false), (true, true, true)]
            {
                // Each product of rounded operands is exact in f32: only the order of the sums differs.
                check_with(spec, m, n, k, ta, tb, accumulate, 1e-4, |x| half::bf16::from_f32(x).to_f32());
            }
        }
    }
}

#[test]
fn bf16_gemm_rounds_its_operands_to_nearest_even() {
    // 1 + 2⁻⁸ is halfway between the bf16 neighbours 1 and 1 + 2⁻⁷ and rounds to the even one, 1;
    // 1 + 3·2⁻⁸ rounds up to 1 + 2⁻⁶. Products with 1: the rounded operands themselves.
    for spec in bf16_microkernels() {
        let a = [1.0 + 2f32.powi(-8), 1.0 + 3.0 * 2f32.powi(-8)];
        let mut c = [0f32; 2];
        gemm_with(spec, MatRef::row_major(&a, 2, 1), MatRef::row_major(&[1.0], 1, 1), &mut c, 1, false);
        assert_eq!(c, [1.0, 1.0 + 2f32.powi(-6)], "{spec:?}");
    }
}

/// A B packed once gives, for each leading part of it (fewer rows, fewer columns) and with A of
/// any layout, bit for bit what the blocked product of that part gives (one k block each, so the
/// same sums in the same order), overwriting or accumulating; with every micro-kernel, bf16 pairs
/// included (even depths).
#[test]
fn packed_b_parts_equal_the_product_of_the_part() {
    let (k, n) = (130, 75);
    let b: Vec<f32> = random(k * n, 15).into_iter().map(|x| x as f32).collect();
    let specs = f32::available_microkernels().into_iter().chain(bf16_microkernels());
    for spec in specs.collect::<Vec<_>>() {
        for transpose_b in [false, true] {
            let whole = if transpose_b { MatRef::row_major(&b, n, k).t() } else { MatRef::row_major(&b, k, n) };
            let mut buffer = Vec::new();
            let packed = PackedB::new(spec, whole, &mut buffer);
            for (m, k_used, n_used, accumulate) in
                [(37, 130, 75, false), (5, 64, 33, true), (64, 2, 1, false), (20, 0, 9, true)]
            {
                let a: Vec<f32> = random(m * k_used, 16).into_iter().map(|x| x as f32).collect();
                let a = MatRef::row_major(&a, m, k_used);
                let part = MatRef { rows: k_used, cols: n_used, ..whole };
                let ldc = n_used + 2;
                let c0: Vec<f32> = random(m * ldc, 17).into_iter().map(|x| x as f32).collect();
                let (mut got, mut want) = (c0.clone(), c0.clone());
                gemm_with(spec, a, part, &mut want, ldc, accumulate);
                // Safety: `got` holds m rows of ldc ≥ n_used elements.
                unsafe { packed.multiply_raw(a, n_used, got.as_mut_ptr(), ldc, accumulate) };
                let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(&got), bits(&want), "{spec:?} tb={transpose_b} {m}×{k_used}×{n_used} acc={accumulate}");
            }
        }
    }
}

/// A product may not reach past the packed B (deeper or wider), nor, with bf16 pairs, end its depth
/// inside a packed word; each refusal names what was wrong.
#[test]
fn packed_b_refuses_parts_it_does_not_hold() {
    let b = vec![1.0f32; 6 * 4];
    let refusal = |spec: MicroKernelSpec<f32>, (m, k, n): (usize, usize, usize)| {
        let mut buffer = Vec::new();
        let packed = PackedB::new(spec, MatRef::row_major(&b, 6, 4), &mut buffer);
        let a = vec![1.0f32; m * k];
        let mut c = vec![0.0f32; m * n];
        let run = || unsafe { packed.multiply_raw(MatRef::row_major(&a, m, k), n, c.as_mut_ptr(), n, false) };
        let panic = std::panic::catch_unwind(std::panic::AssertUnwindSafe(run)).expect_err("refused");
        panic.downcast_ref::<String>().cloned().unwrap_or_default()
    };
    let spec = f32::best_microkernel();
    assert!(refusal(spec, (2, 7, 4)).contains("packed B is 6 × 4: no 7 × 4 part"));
    assert!(refusal(spec, (2, 6, 5)).contains("packed B is 6 × 4: no 6 × 5 part"));
    for pairs in bf16_microkernels().into_iter().filter(|s| s.k_per_word == 2) {
        assert!(refusal(pairs, (2, 3, 4)).contains("depth 3 splits a packed word"), "{pairs:?}");
    }
}
