//! Tensor ops against hand-computed values and naive reference loops.

use tensor::{bf16, f16, rng, CmpOp, DType, Error, ExecutionContext, MatmulPrecision, Tensor};

fn t(values: &[f64], shape: &[usize]) -> Tensor {
    Tensor::from_f64s(values, shape, DType::F64).unwrap()
}

fn assert_close(got: &Tensor, want: &[f64], tol: f64) {
    let g = got.to_f64_vec();
    assert_eq!(g.len(), want.len(), "length of {:?}", got.shape());
    for (i, (a, b)) in g.iter().zip(want).enumerate() {
        assert!((a - b).abs() <= tol * (1.0 + b.abs()), "element {i}: {a} vs {b}");
    }
}

#[test]
fn broadcasting_add_and_scalar_variants() {
    let a = t(&[1., 2., 3., 4., 5., 6.], &[2, 3]);
    let row = t(&[10., 20., 30.], &[3]);
    let col = t(&[100., 200.], &[2, 1]);
    assert_close(&a.add(&row).unwrap(), &[11., 22., 33., 14., 25., 36.], 0.0);
    assert_close(&a.add(&col).unwrap(), &[101., 102., 103., 204., 205., 206.], 0.0);
    assert_close(&col.sub(&row).unwrap(), &[90., 80., 70., 190., 180., 170.], 0.0);
    assert_close(&a.mul_scalar(2.0).unwrap().sub_scalar(1.0).unwrap(), &[1., 3., 5., 7., 9., 11.], 0.0);
    assert_close(&a.div_scalar(4.0).unwrap(), &[0.25, 0.5, 0.75, 1.0, 1.25, 1.5], 0.0);
    assert_close(&a.powf(2.0).unwrap(), &[1., 4., 9., 16., 25., 36.], 1e-15);
    assert_close(&row.pow(&t(&[2.0], &[1])).unwrap(), &[100., 400., 900.], 1e-15);
}

#[test]
fn empty_tensors_broadcast_and_reduce() {
    let empty = Tensor::zeros(&[0, 3], DType::F32);
    let row = Tensor::ones(&[3], DType::F32);
    assert_eq!(empty.add(&row).unwrap().shape(), &[0, 3]);
    assert_eq!(empty.t().unwrap().add(&Tensor::ones(&[3, 1], DType::F32)).unwrap().shape(), &[3, 0]);
    assert_eq!(empty.sum(&[0], false).unwrap().to_vec::<f32>().unwrap(), vec![0.0; 3]);
    assert!(empty.max(&[0], false).is_err(), "the max of nothing is an error, not a panic");
}

#[test]
fn unary_functions_match_std() {
    let xs = [-2.0, -0.5, 0.0, 0.3, 1.7];
    let x = t(&xs, &[5]);
    let check = |got: Tensor, f: &dyn Fn(f64) -> f64| assert_close(&got, &xs.map(f), 1e-14);
    check(x.neg().unwrap(), &|v| -v);
    check(x.exp().unwrap(), &f64::exp);
    check(x.tanh().unwrap(), &f64::tanh);
    check(x.sigmoid().unwrap(), &|v| 1.0 / (1.0 + (-v).exp()));
    check(x.relu().unwrap(), &|v| v.max(0.0));
    check(x.abs().unwrap().sqrt().unwrap(), &|v: f64| v.abs().sqrt());
    check(x.abs().unwrap().add_scalar(1.0).unwrap().log().unwrap(), &|v: f64| (v.abs() + 1.0).ln());
    check(x.gelu_erf().unwrap(), &|v| 0.5 * v * (1.0 + libm_erf(v / 2f64.sqrt())));
    check(x.gelu_tanh().unwrap(), &|v: f64| {
        0.5 * v * (1.0 + ((2.0 / std::f64::consts::PI).sqrt() * (v + 0.044715 * v.powi(3))).tanh())
    });
}

/// erf by its Maclaurin series (enough terms for |x| < 2): an independent reference.
fn libm_erf(x: f64) -> f64 {
    let mut sum = 0.0;
    let mut term = x;
    for n in 0..60 {
        sum += term / (2 * n + 1) as f64;
        term *= -x * x / (n + 1) as f64;
    }
    sum * 2.0 / std::f64::consts::PI.sqrt()
}

#[test]
fn views_share_storage_and_walk_strides() {
    let a = Tensor::arange(0.0, 24.0, 1.0, DType::F32).unwrap().reshape(&[2, 3, 4]).unwrap();
    let p = a.permute(&[2, 0, 1]).unwrap();
    assert!(p.shares_storage_with(&a) && !p.is_contiguous());
    assert_eq!(p.shape(), &[4, 2, 3]);
    assert_eq!(p.to_vec::<f32>().unwrap()[..6], [0., 4., 8., 12., 16., 20.]);
    let n = a.narrow(2, 1, 2).unwrap();
    assert_eq!(n.to_vec::<f32>().unwrap(), vec![1., 2., 5., 6., 9., 10., 13., 14., 17., 18., 21., 22.]);
    let s = a.unsqueeze(0).unwrap().squeeze(0).unwrap();
    assert!(s.shares_storage_with(&a) && s.shape() == [2, 3, 4]);
    let b = t(&[1., 2.], &[2, 1]).broadcast_to(&[2, 3]).unwrap();
    assert_eq!(b.to_f64_vec(), vec![1., 1., 1., 2., 2., 2.]);
    // Reshape of a non-contiguous view copies; of a contiguous one it does not.
    assert!(a.reshape(&[6, 4]).unwrap().shares_storage_with(&a));
    assert!(!p.reshape(&[24]).unwrap().shares_storage_with(&a));
    assert_eq!(p.contiguous().to_vec::<f32>().unwrap(), p.to_vec::<f32>().unwrap());
    let pieces = a.split(&[1, 3], -1).unwrap();
    assert_eq!(pieces[1].shape(), &[2, 3, 3]);
    assert_eq!(pieces[0].to_vec::<f32>().unwrap(), vec![0., 4., 8., 12., 16., 20.]);
}

#[test]
fn reductions_with_keepdim() {
    let a = t(&[1., 5., 3., 4., 2., 6.], &[2, 3]);
    assert_close(&a.sum(&[1], false).unwrap(), &[9., 12.], 0.0);
    assert_eq!(a.sum(&[0], true).unwrap().shape(), &[1, 3]);
    assert_close(&a.sum(&[0, 1], false).unwrap(), &[21.], 0.0);
    assert_close(&a.mean(&[0], false).unwrap(), &[2.5, 3.5, 4.5], 0.0);
    assert_close(&a.max(&[1], false).unwrap(), &[5., 6.], 0.0);
    assert_close(&a.min(&[0], false).unwrap(), &[1., 2., 3.], 0.0);
    assert_eq!(a.argmax(1, false).unwrap().to_vec::<i64>().unwrap(), vec![1, 2]);
    assert_eq!(a.argmin(-1, true).unwrap().shape(), &[2, 1]);
    // var of [1, 5, 3] = mean 3, squares 4+4+0 = 8 → unbiased 4, population 8/3.
    assert_close(&a.var(&[1], false, 1).unwrap(), &[4., 4.], 1e-15);
    assert_close(&a.var(&[1], false, 0).unwrap(), &[8. / 3., 8. / 3.], 1e-15);
    // Reducing a transposed view gives the transposed answer.
    assert_close(&a.t().unwrap().sum(&[0], false).unwrap(), &[9., 12.], 0.0);
    assert_close(&a.sum_to_shape(&[1, 3]).unwrap(), &[5., 7., 9.], 0.0);
}

#[test]
fn softmax_and_log_softmax_along_any_dim() {
    let x = t(&[1., 2., 3., 0., 0., 0.], &[2, 3]);
    let s = x.softmax(-1).unwrap().to_f64_vec();
    let z: f64 = (1f64.exp() + 2f64.exp() + 3f64.exp()).ln();
    assert!((s[0] - (1.0 - z).exp()).abs() < 1e-15 && (s[3] - 1.0 / 3.0).abs() < 1e-15);
    let s0 = x.softmax(0).unwrap().to_f64_vec();
    assert!((s0[0] - 1f64.exp() / (1.0 + 1f64.exp())).abs() < 1e-15);
    let ls = x.log_softmax(0).unwrap();
    assert_close(&ls.exp().unwrap(), &s0, 1e-14);
}

#[test]
fn layer_norm_matches_its_definition() {
    let x = t(&[1., 2., 4., -1., 0., 7.], &[2, 3]);
    let g = t(&[1., 2., 0.5], &[3]);
    let b = t(&[0., 1., -1.], &[3]);
    let y = x.layer_norm(&g, &b, 1e-5).unwrap();
    let mean = x.mean(&[1], true).unwrap();
    let var = x.var(&[1], true, 0).unwrap();
    let want = x
        .sub(&mean)
        .unwrap()
        .div(&var.add_scalar(1e-5).unwrap().sqrt().unwrap())
        .unwrap()
        .mul(&g)
        .unwrap()
        .add(&b)
        .unwrap();
    assert_close(&y, &want.to_f64_vec(), 1e-14);
}

fn naive_matmul(a: &[f64], b: &[f64], m: usize, k: usize, n: usize) -> Vec<f64> {
    let mut c = vec![0.0; m * n];
    for i in 0..m {
        for j in 0..n {
            c[i * n + j] = (0..k).map(|p| a[i * k + p] * b[p * n + j]).sum();
        }
    }
    c
}

#[test]
fn cpu_matmul_in_bf16_multiplies_the_rounded_operands_in_f32() {
    // Under bf16 precision an f32 product (batched, transposed, with a bias) equals the f32 product
    // of its operands rounded to bf16 — in f64 here, so only the f32 sums differ — and is not the
    // f32 product of the operands themselves.
    let mut r = rng(3);
    let a = Tensor::randn(&[2, 37, 300], 0.0, 1.0, DType::F32, &mut r);
    let b = Tensor::randn(&[45, 300], 0.0, 1.0, DType::F32, &mut r).t().unwrap();
    let bias = Tensor::randn(&[45], 0.0, 1.0, DType::F32, &mut r);
    let bf16 = ExecutionContext::default().with_precision(MatmulPrecision::Bf16);
    let got = bf16.run(|| a.linear(&b, &bias)).unwrap().to_f64_vec();
    let rounded = |x: &Tensor| x.to_dtype(DType::BF16).to_dtype(DType::F64);
    let want = rounded(&a).linear(&rounded(&b), &bias.to_dtype(DType::F64)).unwrap().to_f64_vec();
    let exact = a.linear(&b, &bias).unwrap().to_f64_vec();
    let err = |x: &[f64]| got.iter().zip(x).map(|(g, w)| (g - w).abs() / (1.0 + w.abs())).fold(0.0, f64::max);
    assert!(err(&want) < 1e-5, "against the rounded operands: {:e}", err(&want));
    assert!(err(&exact) > 1e-3, "bf16 rounding should show against f32: {:e}", err(&exact));
    let batched = bf16.run(|| a.matmul(&b)).unwrap().to_f64_vec();
    let want = rounded(&a).matmul(&rounded(&b)).unwrap().to_f64_vec();
    let err = batched.iter().zip(&want).map(|(g, w)| (g - w).abs() / (1.0 + w.abs())).fold(0.0, f64::max);
    assert!(err < 1e-5, "batched: {err:e}");
}

#[test]
fn matmul_batched_broadcast_and_transposed() {
    let mut r = rng(0);
    let a = Tensor::randn(&[3, 4, 5], 0.0, 1.0, DType::F64, &mut r);
    let b = Tensor::randn(&[5, 6], 0.0, 1.0, DType::F64, &mut r);
    let c = a.matmul(&b).unwrap();
    assert_eq!(c.shape(), &[3, 4, 6]);
    let (av, bv, cv) = (a.to_f64_vec(), b.to_f64_vec(), c.to_f64_vec());
    for batch in 0..3 {
        let want = naive_matmul(&av[batch * 20..(batch + 1) * 20], &bv, 4, 5, 6);
        for (x, y) in cv[batch * 24..(batch + 1) * 24].iter().zip(&want) {
            assert!((x - y).abs() < 1e-12);
        }
    }
    // (Bᵀ)ᵀ through a strided view equals B.
    let bt = b.t().unwrap().contiguous().t().unwrap();
    assert_close(&a.matmul(&bt).unwrap(), &cv, 1e-14);
    // Vector cases.
    let v = t(&[1., 2.], &[2]);
    let m = t(&[1., 2., 3., 4.], &[2, 2]);
    assert_close(&v.matmul(&m).unwrap(), &[7., 10.], 0.0);
    assert_close(&m.matmul(&v).unwrap(), &[5., 11.], 0.0);
    assert_eq!(v.matmul(&v).unwrap().shape(), &[] as &[usize]);
    assert!(matches!(m.matmul(&t(&[1., 2., 3.], &[3])), Err(Error::ShapeMismatch { .. })));
}

#[test]
fn f32_matmul_matches_f64_and_half_types_round_trip() {
    let mut r = rng(1);
    let a = Tensor::randn(&[2, 37, 70], 0.0, 1.0, DType::F64, &mut r);
    let b = Tensor::randn(&[70, 33], 0.0, 1.0, DType::F64, &mut r);
    let exact = a.matmul(&b).unwrap().to_f64_vec();
    for (dtype, tol) in [(DType::F32, 1e-5), (DType::BF16, 4e-2), (DType::F16, 4e-3)] {
        let c = a.to_dtype(dtype).matmul(&b.to_dtype(dtype)).unwrap();
        assert_eq!(c.dtype(), dtype);
        let scale = exact.iter().fold(0f64, |m, v| m.max(v.abs()));
        for (x, y) in c.to_f64_vec().iter().zip(&exact) {
            assert!((x - y).abs() <= tol * scale, "{dtype:?}: {x} vs {y}");
        }
    }
    let h = Tensor::from_vec(vec![f16::from_f32(1.5), f16::from_f32(-2.0)], &[2]).unwrap();
    assert_eq!(h.exp().unwrap().dtype(), DType::F16);
    let bh = Tensor::from_vec(vec![bf16::from_f32(3.0)], &[1]).unwrap();
    assert_eq!(bh.add(&bh).unwrap().to_vec::<bf16>().unwrap(), vec![bf16::from_f32(6.0)]);
}

#[test]
fn comparisons_where_and_masks() {
    let a = t(&[1., 5., 3.], &[3]);
    let b = t(&[2., 5., 1.], &[3]);
    assert_eq!(a.lt(&b).unwrap().to_vec::<u32>().unwrap(), vec![1, 0, 0]);
    assert_eq!(a.ge(&b).unwrap().to_vec::<u32>().unwrap(), vec![0, 1, 1]);
    assert_eq!(a.cmp_scalar(3.0, CmpOp::Eq).unwrap().to_vec::<u32>().unwrap(), vec![0, 0, 1]);
    let w = a.gt(&b).unwrap().where_cond(&a, &b).unwrap();
    assert_close(&w, &[2., 5., 3.], 0.0);
    assert_close(&a.masked_fill(&a.eq(&b).unwrap(), -9.0).unwrap(), &[1., -9., 3.], 0.0);
    let ones = Tensor::ones(&[3, 3], DType::F64);
    assert_close(&ones.tril(0).unwrap(), &[1., 0., 0., 1., 1., 0., 1., 1., 1.], 0.0);
    assert_close(&ones.triu(1).unwrap(), &[0., 1., 1., 0., 0., 1., 0., 0., 0.], 0.0);
    assert_eq!(Tensor::tril_mask(2, 3, 0).to_vec::<u32>().unwrap(), vec![1, 0, 0, 1, 1, 0]);
}

#[test]
fn indexing_gather_embedding_one_hot() {
    let x = t(&[0., 1., 2., 10., 11., 12., 20., 21., 22.], &[3, 3]);
    let ids = Tensor::from_vec(vec![2i64, 0, 2], &[3]).unwrap();
    assert_close(&x.index_select(0, &ids).unwrap(), &[20., 21., 22., 0., 1., 2., 20., 21., 22.], 0.0);
    assert_close(&x.index_select(1, &ids).unwrap(), &[2., 0., 2., 12., 10., 12., 22., 20., 22.], 0.0);
    let g = x.index_select(0, &ids).unwrap().index_add(0, &ids, 3).unwrap();
    assert_close(&g, &[0., 1., 2., 0., 0., 0., 40., 42., 44.], 0.0);
    let emb = x.to_dtype(DType::F32).embedding(&Tensor::from_vec(vec![1u32, 1, 0, 2], &[2, 2]).unwrap()).unwrap();
    assert_eq!(emb.shape(), &[2, 2, 3]);
    assert_eq!(emb.to_vec::<f32>().unwrap()[..6], [10., 11., 12., 10., 11., 12.]);
    let index = Tensor::from_vec(vec![2i64, 0, 1, 1], &[2, 2]).unwrap();
    let two_rows = x.narrow(0, 0, 2).unwrap();
    assert_close(&two_rows.gather(1, &index).unwrap(), &[2., 0., 11., 11.], 0.0);
    let sc = t(&[1., 2., 3., 4.], &[2, 2]).scatter_add(1, &index, &[2, 3]).unwrap();
    assert_close(&sc, &[2., 0., 1., 0., 7., 0.], 0.0);
    let oh = Tensor::one_hot(&Tensor::from_vec(vec![1u32, 0], &[2]).unwrap(), 3, DType::F32).unwrap();
    assert_eq!(oh.to_vec::<f32>().unwrap(), vec![0., 1., 0., 1., 0., 0.]);
    assert!(matches!(
        x.index_select(0, &Tensor::from_vec(vec![3i64], &[1]).unwrap()),
        Err(Error::IndexOutOfRange { index: 3, size: 3, .. })
    ));
    assert!(matches!(x.embedding(&Tensor::from_vec(vec![-1i64], &[1]).unwrap()), Err(Error::IndexOutOfRange { .. })));
}

#[test]
fn cat_stack_split_round_trip() {
    let a = t(&[1., 2., 3., 4.], &[2, 2]);
    let b = t(&[5., 6.], &[2, 1]);
    let c = Tensor::cat(&[&a, &b], 1).unwrap();
    assert_close(&c, &[1., 2., 5., 3., 4., 6.], 0.0);
    let parts = c.split(&[2, 1], 1).unwrap();
    assert_close(&parts[0], &a.to_f64_vec(), 0.0);
    let s = Tensor::stack(&[&a, &a.t().unwrap()], 0).unwrap();
    assert_eq!(s.shape(), &[2, 2, 2]);
    assert_close(&s, &[1., 2., 3., 4., 1., 3., 2., 4.], 0.0);
    assert!(matches!(Tensor::cat(&[&a, &b], 0), Err(Error::ShapeMismatch { op: "cat", .. })));
}

#[test]
fn cross_entropy_rows_with_ignore_index() {
    let logits = t(&[0., 3f64.ln(), 5., 5.], &[2, 2]);
    let targets = Tensor::from_vec(vec![1i64, -100], &[2]).unwrap();
    let loss = logits.cross_entropy_rows(&targets, Some(-100)).unwrap();
    assert_close(&loss, &[-(0.75f64.ln()), 0.0], 1e-15);
    assert!(logits.cross_entropy_rows(&targets, None).is_err());
}

#[test]
fn bias_grad_sums_every_dim_but_the_last() {
    let g = t(&(0..24).map(f64::from).collect::<Vec<_>>(), &[2, 3, 4]);
    assert_close(&g.bias_grad().unwrap(), &[60., 66., 72., 78.], 0.0);
    assert_close(&t(&[1., 2.], &[2]).bias_grad().unwrap(), &[1., 2.], 0.0);
    let e = Tensor::full(&[], 1.0, DType::F64).bias_grad().unwrap_err().to_string();
    assert!(e.contains("bias_grad") && e.contains("scalar"), "{e}");
}

#[test]
fn adamw_step_updates_in_place() {
    let mut p = Tensor::from_vec(vec![1f32, 1.0], &[2]).unwrap();
    let view_before = p.clone();
    let g = Tensor::from_vec(vec![3f32, -0.5], &[2]).unwrap();
    let (mut m, mut v) = (p.zeros_like(), p.zeros_like());
    let cfg = tensor::AdamWConfig { lr: 0.1, weight_decay: 0.0, ..Default::default() };
    p.adamw_step(&g, &mut m, &mut v, &cfg, 1).unwrap();
    let pv = p.to_vec::<f32>().unwrap();
    assert!((pv[0] - 0.9).abs() < 1e-6 && (pv[1] - 1.1).abs() < 1e-6);
    // Copy-on-write: a clone taken before the step is unchanged.
    assert_eq!(view_before.to_vec::<f32>().unwrap(), vec![1.0, 1.0]);
}

#[test]
fn bad_inputs_are_errors_naming_the_op() {
    let a = t(&[1., 2., 3.], &[3]);
    let e = a.add(&t(&[1., 2.], &[2])).unwrap_err();
    assert_eq!(e.to_string(), "add: shape mismatch: [3] vs [2]");
    let e = a.add(&a.to_dtype(DType::F32)).unwrap_err();
    assert_eq!(e.to_string(), "add: dtype mismatch: F64 vs F32");
    assert!(matches!(a.sum(&[1], false), Err(Error::DimOutOfRange { op: "sum", dim: 1, .. })));
    assert!(Tensor::from_vec(vec![1f32; 5], &[2, 2]).is_err());
    assert!(a.reshape(&[2, 2]).is_err());
    assert!(a.narrow(0, 2, 2).is_err());
    assert!(a.permute(&[0, 0]).is_err());
    let ids = Tensor::from_vec(vec![1u32], &[1]).unwrap();
    assert!(matches!(ids.exp(), Err(Error::UnsupportedDType { op: "exp", dtype: DType::U32, .. })));
    assert!(Tensor::arange(0.0, 1.0, 0.0, DType::F32).is_err());
    assert!(a.to_scalar().is_err());
    assert!(a.to_vec::<f32>().is_err());
    assert!(a.softmax(3).is_err());
}

#[test]
fn seeded_random_is_reproducible_with_the_right_moments() {
    let x = Tensor::randn(&[20000], 1.0, 2.0, DType::F64, &mut rng(7));
    assert_eq!(x.to_f64_vec(), Tensor::randn(&[20000], 1.0, 2.0, DType::F64, &mut rng(7)).to_f64_vec());
    let mean = x.mean_all().unwrap().to_scalar().unwrap();
    let std = x.var(&[0], false, 1).unwrap().to_scalar().unwrap().sqrt();
    assert!((mean - 1.0).abs() < 0.05 && (std - 2.0).abs() < 0.05, "mean {mean} std {std}");
    let u = Tensor::uniform(&[1000], -1.0, 3.0, DType::F32, &mut rng(8)).to_f64_vec();
    assert!(u.iter().all(|&v| (-1.0..3.0).contains(&v)));
}

#[test]
fn display_prints_nested_rows_and_elides_long_dims() {
    let a = Tensor::from_vec(vec![1f32, 2., 3., 4.], &[2, 2]).unwrap();
    assert_eq!(a.to_string(), "[[1.0000, 2.0000],\n [3.0000, 4.0000]]\nTensor[[2, 2], f32, cpu]");
    let long = Tensor::arange(0.0, 20.0, 1.0, DType::I64).unwrap();
    assert_eq!(long.to_string(), "[0, 1, 2, …, 17, 18, 19]\nTensor[[20], i64, cpu]");
}

#[test]
fn fused_attention_refuses_bad_shapes_with_clear_errors() {
    let x = |shape: &[usize]| Tensor::zeros(shape, DType::F32);
    let message = |r: tensor::Result<(Tensor, Tensor)>| r.map(|_| ()).unwrap_err().to_string();
    let e = message(Tensor::attention(&x(&[2, 5, 4]), &x(&[2, 4, 4]), &x(&[2, 4, 4]), true, 0.5));
    assert!(e.contains("causal mask with 5 queries but only 4 keys"), "{e}");
    let e = message(Tensor::attention(&x(&[2, 5, 4]), &x(&[2, 5, 3]), &x(&[2, 5, 4]), false, 0.5));
    assert!(e.contains("(…, T, D), (…, S, D), (…, S, Dv)"), "{e}");
    let e = message(Tensor::attention(&x(&[2, 5, 4]), &x(&[3, 5, 4]), &x(&[3, 5, 4]), false, 0.5));
    assert!(e.contains("k [3, 5, 4]"), "{e}");
    let e = message(Tensor::attention(&x(&[5]), &x(&[5]), &x(&[5]), false, 0.5));
    assert!(e.contains("rank ≥ 2"), "{e}");
    let f64s = Tensor::zeros(&[2, 5, 4], DType::F64);
    assert!(matches!(Tensor::attention(&x(&[2, 5, 4]), &f64s, &f64s, false, 0.5), Err(Error::DTypeMismatch { .. })));
    // A well-formed call: uniform scores give the mean of the visible values.
    let v = Tensor::from_f64s(&[1.0, 2.0, 3.0], &[1, 3, 1], DType::F32).unwrap();
    let (out, p) = Tensor::attention(&x(&[1, 3, 2]), &x(&[1, 3, 2]), &v, true, 0.5).unwrap();
    assert_close(&out, &[1.0, 1.5, 2.0], 1e-6);
    assert_close(&p, &[1.0, 0.0, 0.0, 0.5, 0.5, 0.0, 1.0 / 3.0, 1.0 / 3.0, 1.0 / 3.0], 1e-6);
}

#[test]
fn add_assign_never_changes_a_tensor_that_shares_the_storage() {
    let mut a = t(&[1.0, 2.0, 3.0, 4.0], &[2, 2]);
    let b = t(&[10.0, 20.0, 30.0, 40.0], &[2, 2]);
    // Unshared: summed in place; a transposed right-hand side is read through its strides.
    a.add_assign(&b.t().unwrap()).unwrap();
    assert_close(&a, &[11.0, 32.0, 23.0, 44.0], 0.0);
    // Shared: the sum is a new tensor and the other holder keeps the old values.
    let shared = a.clone();
    a.add_assign(&b).unwrap();
    assert_close(&a, &[21.0, 52.0, 53.0, 84.0], 0.0);
    assert_close(&shared, &[11.0, 32.0, 23.0, 44.0], 0.0);
    // A view into a larger storage is not summed in place either.
    let base = t(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[3, 2]);
    let mut view = base.narrow(0, 1, 2).unwrap();
    view.add_assign(&b).unwrap();
    assert_close(&view, &[13.0, 24.0, 35.0, 46.0], 0.0);
    assert_close(&base, &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], 0.0);
    assert!(a.add_assign(&t(&[1.0], &[1])).is_err(), "shapes must match");
}

#[test]
fn linear_adds_the_bias_inside_the_product() {
    let x = Tensor::randn(&[2, 3, 4], 0.0, 1.0, DType::F32, &mut rng(1));
    let w = Tensor::randn(&[4, 5], 0.0, 1.0, DType::F32, &mut rng(2));
    let b = Tensor::randn(&[5], 0.0, 1.0, DType::F32, &mut rng(3));
    let want = x.matmul(&w).unwrap().add(&b).unwrap();
    let got = x.linear(&w, &b).unwrap();
    assert_eq!(got.shape(), &[2, 3, 5]);
    assert_close(&got, &want.to_f64_vec(), 1e-6);
    // A transposed weight view (a tied LM head) and bf16 (computed in f32) work too.
    let wt = Tensor::randn(&[5, 4], 0.0, 1.0, DType::F32, &mut rng(4)).t().unwrap();
    assert_close(&x.linear(&wt, &b).unwrap(), &x.matmul(&wt).unwrap().add(&b).unwrap().to_f64_vec(), 1e-6);
    let (xh, wh, bh) = (x.to_dtype(DType::BF16), w.to_dtype(DType::BF16), b.to_dtype(DType::BF16));
    assert_close(&xh.linear(&wh, &bh).unwrap(), &want.to_f64_vec(), 5e-2);
    let e = x.linear(&w, &Tensor::zeros(&[4], DType::F32)).unwrap_err().to_string();
    assert!(e.contains("need (…, k), (k, n), (n)"), "{e}");
    assert!(x.linear(&w.to_dtype(DType::F64), &b).is_err(), "dtypes must agree");
}

#[test]
fn attention_backward_names_a_wrong_operand() {
    let x = |shape: &[usize]| Tensor::zeros(shape, DType::F32);
    let (q, kv) = (x(&[2, 3, 4]), x(&[2, 3, 4]));
    let message = |r: tensor::Result<(Tensor, Tensor, Tensor)>| r.map(|_| ()).unwrap_err().to_string();
    let out = x(&[2, 3, 4]);
    let e = message(Tensor::attention_backward(&q, &kv, &kv, &out, &x(&[2, 3, 2]), &x(&[2, 3, 4]), true, 0.5));
    assert!(e.contains("saved forward state of shape [2, 3, 2], expected [2, 3, 3]"), "{e}");
    let e = message(Tensor::attention_backward(&q, &kv, &kv, &out, &x(&[2, 3, 3]), &x(&[2, 4]), true, 0.5));
    assert!(e.contains("output gradient of shape [2, 4], expected [2, 3, 4]"), "{e}");
    let e = message(Tensor::attention_backward(&q, &kv, &kv, &x(&[2, 3]), &x(&[2, 3, 3]), &out, true, 0.5));
    assert!(e.contains("output of shape [2, 3], expected [2, 3, 4]"), "{e}");
    // The packed form checks the same way, against (B, H, T, T) and (B, T, H·D).
    let qkv = x(&[2, 3, 12]);
    let e = Tensor::attention_packed_backward(&qkv, &out, &x(&[2, 2, 3, 2]), &x(&[2, 3, 4]), 2, true, 0.5)
        .unwrap_err()
        .to_string();
    assert!(e.contains("saved forward state of shape [2, 2, 3, 2], expected [2, 2, 3, 3]"), "{e}");
}

#[test]
fn all_finite_finds_one_nan_or_infinity_in_any_dtype() {
    for dtype in [DType::F32, DType::F64, DType::BF16, DType::F16] {
        let mut values = vec![6e4, -2.0, 0.0, 3.5, -1e-30, 7.0];
        assert!(t(&values, &[2, 3]).to_dtype(dtype).all_finite().unwrap(), "{dtype:?}");
        for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            values[4] = bad;
            assert!(!t(&values, &[2, 3]).to_dtype(dtype).all_finite().unwrap(), "{dtype:?} {bad}");
            // A strided view sees it too.
            assert!(!t(&values, &[2, 3]).to_dtype(dtype).t().unwrap().all_finite().unwrap(), "{dtype:?} {bad}");
        }
    }
    assert!(Tensor::zeros(&[0], DType::F32).all_finite().unwrap());
    assert!(Tensor::from_vec(vec![1i64, -5], &[2]).unwrap().all_finite().unwrap());
}

#[test]
fn nan_propagates_through_relu_maximum_reductions_and_cross_entropy_as_in_pytorch() {
    let nan = f64::NAN;
    for dtype in [DType::F32, DType::F64] {
        let x = t(&[nan, -1.0, 2.0, 0.5, nan, 3.0], &[2, 3]).to_dtype(dtype);
        let is_nan = |t: &Tensor| t.to_f64_vec().iter().map(|v| v.is_nan()).collect::<Vec<_>>();
        // torch.relu(nan) = nan; torch.maximum / minimum keep a NaN from either side.
        assert_eq!(is_nan(&x.unary(tensor::UnaryOp::Relu).unwrap()), [true, false, false, false, true, false]);
        let y = t(&[0.0, nan, 1.0, 1.0, 1.0, 1.0], &[2, 3]).to_dtype(dtype);
        for op in [tensor::BinaryOp::Maximum, tensor::BinaryOp::Minimum] {
            assert_eq!(is_nan(&x.binary(&y, op).unwrap()), [true, true, false, false, true, false], "{op:?}");
        }
        // max / min of a row with a NaN is NaN; argmax / argmin point at the (first) NaN.
        assert_eq!(is_nan(&x.max(&[1], false).unwrap()), [true, true]);
        assert_eq!(is_nan(&x.min(&[1], false).unwrap()), [true, true]);
        assert_eq!(x.argmax(1, false).unwrap().to_vec::<i64>().unwrap(), [0, 1]);
        assert_eq!(x.argmin(1, false).unwrap().to_vec::<i64>().unwrap(), [0, 1]);
        // Cross-entropy of a row whose logits hold a NaN is NaN, even for another target.
        let targets = Tensor::from_vec(vec![2i64, 0], &[2]).unwrap();
        assert_eq!(is_nan(&x.cross_entropy_rows(&targets, None).unwrap()), [true, true]);
    }
}
