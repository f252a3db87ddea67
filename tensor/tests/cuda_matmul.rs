//! Matrix products on the GPU in each precision against the CPU: f32 to f32 rounding; bf16 against
//! the CPU product of the bf16-rounded operands (what the tensor cores compute, with f32
//! accumulation); TF32 within its 10-bit mantissa; bf16 rounded by cuBLAS within its 8-bit one.
//! Operands plain, transposed views, batched, with a broadcast batch, and with a bias. Needs a CUDA
//! GPU; each precision is set for its products only (the execution context).

mod common;

use common::max_rel_err;

use tensor::{rng, DType, Device, Tensor};
use tensor::{ExecutionContext, MatmulPrecision};

fn randn(shape: &[usize], seed: u64) -> Tensor {
    Tensor::randn(shape, 0.0, 1.0, DType::F32, &mut rng(seed))
}

/// Rounded to bf16 and back: the operand as the tensor cores see it.
fn bf16_rounded(t: &Tensor) -> Tensor {
    t.to_dtype(DType::BF16).to_dtype(DType::F32)
}

/// Column 0 of a matrix: values read two apart.
fn column_0(m: &Tensor) -> Tensor {
    let column = m.narrow(1, 0, 1).unwrap().squeeze(1).unwrap();
    assert_eq!(column.layout().strides(), &[m.shape()[1]]);
    column
}

/// Each product precision with the relative error allowed against the CPU: f32 to f32 rounding;
/// bf16 against the CPU's product of the bf16-rounded operands; TF32 within its 10-bit mantissa;
/// bf16 rounded inside cuBLAS against the exact product, at bf16's resolution (its rounding is
/// cuBLAS's to choose).
const PRECISIONS: [(MatmulPrecision, f64); 4] = [
    (MatmulPrecision::F32, 1e-5),
    (MatmulPrecision::Bf16, 1e-4),
    (MatmulPrecision::Tf32, 2e-2),
    (MatmulPrecision::Bf16InCublas, 5e-2),
];

#[test]
#[ignore = "needs a CUDA GPU"]
fn gpu_matmul_matches_the_cpu_in_every_precision() {
    let gpu = Device::Cuda(0);
    type Product = fn(&Tensor, &Tensor, Option<&Tensor>) -> Tensor;
    let plain: Product = |a, b, _| a.matmul(b).unwrap();
    let transposed: Product = |a, b, _| a.t().unwrap().matmul(&b.t().unwrap()).unwrap();
    let linear: Product = |a, b, bias| a.linear(b, bias.unwrap()).unwrap();
    let column_bias: Product = |a, b, bias| a.linear(b, &column_0(bias.unwrap())).unwrap();
    let cases: Vec<(&str, Tensor, Tensor, Option<Tensor>, Product)> = vec![
        ("plain", randn(&[5, 64], 1), randn(&[64, 3], 2), None, plain),
        ("transposed operands", randn(&[64, 5], 3), randn(&[3, 64], 4), None, transposed),
        ("batched", randn(&[2, 4, 48], 5), randn(&[2, 48, 3], 6), None, plain),
        ("broadcast batch", randn(&[2, 4, 3, 40], 7), randn(&[4, 40, 6], 8), None, plain),
        // n or k not a multiple of 8: in bf16, products over their first 32 (16) and over the rest.
        ("k of 37", randn(&[5, 37], 21), randn(&[37, 7], 22), None, plain),
        ("n of 21, k of 37", randn(&[5, 37], 30), randn(&[37, 21], 31), None, plain),
        ("n of 21, k of 37, transposed operands", randn(&[37, 5], 23), randn(&[21, 37], 24), None, transposed),
        ("batched, n of 13, k of 21", randn(&[2, 3, 21], 25), randn(&[2, 21, 13], 26), None, plain),
        ("linear with bias", randn(&[3, 4, 32], 9), randn(&[32, 5], 10), Some(randn(&[5], 11)), linear),
        // A bias read with stride 2 (a column of a matrix): cuBLASLt's epilogue wants it dense, so
        // the bf16 product takes the plain path (bias rows, β = 1).
        ("linear with a strided bias", randn(&[6, 32], 18), randn(&[32, 5], 19), Some(randn(&[5, 2], 20)), column_bias),
    ];
    let on_gpu = |t: &Tensor| t.to_device(gpu).unwrap();
    for (precision, tolerance) in PRECISIONS {
        let in_precision = ExecutionContext::default().with_precision(precision);
        for (name, a, b, bias, product) in &cases {
            let got = in_precision.run(|| product(&on_gpu(a), &on_gpu(b), bias.as_ref().map(on_gpu).as_ref()));
            assert_eq!(got.device(), gpu);
            let want = match precision {
                MatmulPrecision::Bf16 => product(&bf16_rounded(a), &bf16_rounded(b), bias.as_ref()),
                _ => product(a, b, bias.as_ref()),
            };
            let err = max_rel_err(&got, &want);
            assert!(err <= tolerance, "{precision:?} {name}: {err:.2e}");
        }
    }
    // Without a bias, C's rows start 16 bytes apart: rows of 7 are 8 apart, as are a batch's.
    let c = on_gpu(&cases[0].1).matmul(&on_gpu(&randn(&[64, 7], 27))).unwrap();
    assert_eq!(c.layout().strides(), &[8, 1]);
    let c = on_gpu(&randn(&[2, 3, 21], 28)).matmul(&on_gpu(&randn(&[2, 21, 13], 29))).unwrap();
    assert_eq!(c.layout().strides(), &[48, 16, 1]);
    ExecutionContext::default()
        .with_precision(MatmulPrecision::Bf16)
        .run(|| bf16_images_are_rounded_once_and_dropped_when_written(&on_gpu));
}

/// A linear layer's output added onto a residual stream (`linear_onto`) in every precision, against
/// the CPU's `x·W + b + r`: under bf16 products one cuBLASLt product adds bias and residual in its
/// epilogue (no other launch); a residual that is not dense (a transposed view) or starts where
/// cuBLASLt's epilogue does not take it (one float in) is added by a pass of its own, with the same
/// result. A residual of another shape is refused.
#[test]
#[ignore = "needs a CUDA GPU"]
fn a_linear_layer_adds_its_output_onto_a_residual_stream() {
    let gpu_device = Device::Cuda(0);
    let on_gpu = |t: &Tensor| t.to_device(gpu_device).unwrap();
    let (x, w, b) = (randn(&[2, 3, 32], 40), randn(&[32, 6], 41), randn(&[6], 42));
    // Each residual as laid out on the GPU, and its values.
    let transposed = |t: &Tensor| t.permute(&[2, 1, 0]).unwrap();
    let one_in = |t: &Tensor| t.narrow(0, 1, 36).unwrap().reshape(&[2, 3, 6]).unwrap();
    let (dense, stored_3_2_6, long) = (randn(&[2, 3, 6], 43), randn(&[6, 3, 2], 44), randn(&[37], 45));
    let residuals = [
        ("dense", on_gpu(&dense), dense.clone()),
        ("transposed", transposed(&on_gpu(&stored_3_2_6)), transposed(&stored_3_2_6)),
        ("one float in", one_in(&on_gpu(&long)), one_in(&long)),
    ];
    assert_eq!(residuals[2].1.layout().offset(), 1);
    let gpu = kernels::cuda::Gpu::shared(0).unwrap();
    for (precision, tolerance) in PRECISIONS {
        let in_precision = ExecutionContext::default().with_precision(precision);
        for (name, on, r) in &residuals {
            gpu.profile_kernels(true);
            let _ = gpu.kernel_times();
            let got = in_precision.run(|| on_gpu(&x).linear_onto(&on_gpu(&w), &on_gpu(&b), on)).unwrap();
            let times = gpu.kernel_times().unwrap();
            let (xr, wr) = match precision {
                MatmulPrecision::Bf16 => (bf16_rounded(&x), bf16_rounded(&w)),
                _ => (x.clone(), w.clone()),
            };
            let want = xr.linear(&wr, &b).unwrap().add(r).unwrap();
            let err = max_rel_err(&got, &want);
            assert!(err <= tolerance, "{precision:?}, {name} residual: {err:.2e}");
            let launches =
                |what: &str| times.iter().filter(|t| t.name.starts_with(what)).map(|t| t.launches).sum::<usize>();
            if precision == MatmulPrecision::Bf16 && *name == "dense" {
                assert_eq!(launches("cuBLASLt bf16 gemm + bias + residual"), 1, "{times:?}");
                assert_eq!(launches("add_assign_f32") + launches("binary_f32"), 0, "{times:?}");
            }
        }
    }
    gpu.profile_kernels(false);
    let err = on_gpu(&x).linear_onto(&on_gpu(&w), &on_gpu(&b), &on_gpu(&randn(&[2, 3, 5], 46))).unwrap_err();
    assert!(err.to_string().contains("linear_onto"), "{err}");
}

/// A linear layer's forward and backward products in bf16 round each operand once: x and W in the
/// forward; the backward finds their images again (W transposed for dx, x as one transposed matrix
/// for dW) and rounds dy once for both. Writing W in place (as the optimizer does) drops its image,
/// and the next product reads the new values. Rows of 5 (W) and 3 (the product's output) are
/// padded to 8 in the bf16 copies, as cuBLAS wants. The bias is added in cuBLASLt's epilogue.
fn bf16_images_are_rounded_once_and_dropped_when_written(on_gpu: &dyn Fn(&Tensor) -> Tensor) {
    let gpu = kernels::cuda::Gpu::shared(0).unwrap();
    let roundings = || {
        let times = gpu.kernel_times().unwrap();
        times.iter().find(|t| t.name == "f32_to_bf16").map_or(0, |t| t.launches)
    };
    let (x, w, bias, dy) = (randn(&[2, 3, 32], 12), randn(&[32, 5], 13), randn(&[5], 14), randn(&[2, 3, 5], 15));
    let (gx, mut gw, gb, gdy) = (on_gpu(&x), on_gpu(&w), on_gpu(&bias), on_gpu(&dy));
    gpu.profile_kernels(true);
    roundings();
    let y = gx.linear(&gw, &gb).unwrap();
    let dx = gdy.matmul(&gw.t().unwrap()).unwrap();
    let dw = gx.reshape(&[6, 32]).unwrap().t().unwrap().matmul(&gdy.reshape(&[6, 5]).unwrap()).unwrap();
    let times = gpu.kernel_times().unwrap();
    // Products are profiled by name and shape: count every shape of a name.
    let launches = |name: &str| times.iter().filter(|t| t.name.starts_with(name)).map(|t| t.launches).sum::<usize>();
    assert_eq!(launches("f32_to_bf16"), 3, "x, W and dy, each once: {times:?}");
    // The bias is added in cuBLASLt's epilogue: no copy of the bias rows, one product through it.
    assert_eq!((launches("cuBLASLt bf16 gemm + bias"), launches("unary_f32")), (1, 0), "{times:?}");
    let (xr, wr, dyr) = (bf16_rounded(&x), bf16_rounded(&w), bf16_rounded(&dy));
    assert!(max_rel_err(&y, &xr.linear(&wr, &bias).unwrap()) <= 1e-4);
    assert!(max_rel_err(&dx, &dyr.matmul(&wr.t().unwrap()).unwrap()) <= 1e-4);
    let want_dw = xr.reshape(&[6, 32]).unwrap().t().unwrap().matmul(&dyr.reshape(&[6, 5]).unwrap()).unwrap();
    assert!(max_rel_err(&dw, &want_dw) <= 1e-4);

    let step = randn(&[32, 5], 16);
    gw.add_assign(&on_gpu(&step)).unwrap();
    let y = gx.linear(&gw, &gb).unwrap();
    assert_eq!(roundings(), 1, "only the written W again");
    let new_w = bf16_rounded(&w.add(&step).unwrap());
    assert!(max_rel_err(&y, &xr.linear(&new_w, &bias).unwrap()) <= 1e-4, "the product read the new W");

    // The same elements as rows of another length (W's 32 × 5 as 16 × 10) are another image.
    let x16 = randn(&[3, 16], 17);
    let y = on_gpu(&x16).matmul(&gw.reshape(&[16, 10]).unwrap()).unwrap();
    assert_eq!(roundings(), 2, "x16 and W as rows of 10");
    let want = bf16_rounded(&x16).matmul(&new_w.reshape(&[16, 10]).unwrap()).unwrap();
    assert!(max_rel_err(&y, &want) <= 1e-4, "W read as rows of 10");

    // A linear layer's backward takes its bias gradient first: that pass rounds dy for both
    // products (x and the 32 × 5 W are kept from above).
    gx.linear(&gw, &gb).unwrap();
    roundings();
    let dy = randn(&[2, 3, 5], 18);
    let gdy = on_gpu(&dy);
    let db = gdy.bias_grad().unwrap();
    let dx = gdy.matmul(&gw.t().unwrap()).unwrap();
    let dw = gx.reshape(&[6, 32]).unwrap().t().unwrap().matmul(&gdy.reshape(&[6, 5]).unwrap()).unwrap();
    assert_eq!(roundings(), 0, "dy rounded by the bias gradient's pass");
    assert!(max_rel_err(&db, &dy.sum_to_shape(&[5]).unwrap()) <= 1e-6);
    let dyr = bf16_rounded(&dy);
    assert!(max_rel_err(&dx, &dyr.matmul(&new_w.t().unwrap()).unwrap()) <= 1e-4);
    let want_dw = xr.reshape(&[6, 32]).unwrap().t().unwrap().matmul(&dyr.reshape(&[6, 5]).unwrap()).unwrap();
    assert!(max_rel_err(&dw, &want_dw) <= 1e-4);

    // The cross-entropy backward writes its gradient's bf16 image too, of rows padded to 16 bytes:
    // the LM head's products (dx = dz·E, dEᵀ = dzᵀ·x for a tied embedding E) find it, reading
    // the padded rows in place, and round nothing more than E.
    let e = randn(&[37, 32], 19);
    let ge = on_gpu(&e);
    let z = gx.reshape(&[6, 32]).unwrap().matmul(&ge.t().unwrap()).unwrap();
    let targets = Tensor::from_vec(vec![3i64, 0, 36, 5, 5, 20], &[6]).unwrap();
    let dloss = Tensor::full(&[6], 1.0 / 6.0, DType::F32);
    roundings();
    let dz = z.cross_entropy_rows_backward(&targets, None, &on_gpu(&dloss), None).unwrap();
    assert_eq!(dz.layout().strides(), &[40, 1], "rows of 37 padded to 40, as a product's output");
    let dx = dz.matmul(&ge).unwrap();
    let de = dz.t().unwrap().matmul(&gx.reshape(&[6, 32]).unwrap()).unwrap();
    assert_eq!(roundings(), 0, "x and E kept from the forward, dz rounded by the cross-entropy");
    let want_dz = z.to_device(Device::Cpu).unwrap().cross_entropy_rows_backward(&targets, None, &dloss, None).unwrap();
    assert!(max_rel_err(&dz, &want_dz) <= 1e-5);
    let (dzr, er) = (bf16_rounded(&want_dz), bf16_rounded(&e));
    assert!(max_rel_err(&dx, &dzr.matmul(&er).unwrap()) <= 1e-4);
    assert!(max_rel_err(&de, &dzr.t().unwrap().matmul(&xr.reshape(&[6, 32]).unwrap()).unwrap()) <= 1e-4);

    // A layer norm's and a GELU's outputs come with their bf16 images: the linear layers that read
    // them round nothing (W is kept from above).
    let (h, gamma, beta) = (randn(&[2, 3, 32], 20), randn(&[32], 21), randn(&[32], 22));
    roundings();
    let normed = on_gpu(&h).layer_norm(&on_gpu(&gamma), &on_gpu(&beta), 1e-5).unwrap();
    let y_normed = normed.linear(&gw, &gb).unwrap();
    let activated = normed.gelu_tanh().unwrap();
    let y_activated = activated.linear(&gw, &gb).unwrap();
    assert_eq!(roundings(), 0, "the layer norm and the GELU rounded their outputs");
    let want_normed = h.layer_norm(&gamma, &beta, 1e-5).unwrap();
    assert!(max_rel_err(&normed, &want_normed) <= 1e-5);
    let linear = |x: &Tensor| bf16_rounded(x).linear(&new_w, &bias).unwrap();
    assert!(max_rel_err(&y_normed, &linear(&want_normed)) <= 1e-4);
    let want_activated = want_normed.gelu_tanh().unwrap();
    assert!(max_rel_err(&activated, &want_activated) <= 1e-5);
    assert!(max_rel_err(&y_activated, &linear(&want_activated)) <= 1e-4);

    // So does the attention's output with its heads merged, (B, T, H·d): the output projection
    // rounds nothing either. Two heads of 16 from a packed (2, 3, 96) [Q | K | V].
    let qkv = randn(&[2, 3, 96], 23);
    roundings();
    let (merged, _) = Tensor::attention_packed(&on_gpu(&qkv), 2, true, 0.25).unwrap();
    let y_merged = merged.linear(&gw, &gb).unwrap();
    assert_eq!(roundings(), 0, "the attention rounded its output");
    let (want_merged, _) = Tensor::attention_packed(&qkv, 2, true, 0.25).unwrap();
    // The products inside the attention ran on bf16 tensor cores: within bf16's resolution.
    assert!(max_rel_err(&merged, &want_merged) <= 2e-2);
    assert!(max_rel_err(&y_merged, &linear(&merged.to_device(Device::Cpu).unwrap())) <= 1e-4);
    // A scale the FlashAttention-2 kernels do not take (they need it positive) goes to the WMMA
    // ones, with the same result as the CPU's.
    let (negative, _) = Tensor::attention_packed(&on_gpu(&qkv), 2, true, -0.25).unwrap();
    let (want_negative, _) = Tensor::attention_packed(&qkv, 2, true, -0.25).unwrap();
    assert!(max_rel_err(&negative, &want_negative) <= 2e-2);
    gpu.profile_kernels(false);
}

/// bf16 tensors on the GPU: uploaded and downloaded unchanged, copied through a transposed view,
/// widened to f32 and rounded from it on the device. A bf16 operand puts a product on bf16 tensor
/// cores in any precision (the f32 operand rounded to bf16; a transposed bf16 view read in place),
/// into f32; on the CPU, mixed dtypes stay an error.
#[test]
#[ignore = "needs a CUDA GPU"]
fn bf16_tensors_live_on_the_gpu_and_feed_products() {
    let gpu = Device::Cuda(0);
    let on_gpu = |t: &Tensor| t.to_device(gpu).unwrap();
    let x = randn(&[5, 37], 40).to_dtype(DType::BF16);
    let xd = on_gpu(&x);
    assert_eq!(xd.dtype(), DType::BF16);
    assert_eq!(xd.to_device(Device::Cpu).unwrap().to_f64_vec(), x.to_f64_vec());
    assert_eq!(xd.t().unwrap().contiguous().to_f64_vec(), x.t().unwrap().contiguous().to_f64_vec());
    let widened = xd.to_dtype(DType::F32);
    assert_eq!((widened.dtype(), widened.device()), (DType::F32, gpu));
    assert_eq!(widened.to_f64_vec(), x.to_f64_vec());
    let f = randn(&[5, 37], 41);
    let rounded = on_gpu(&f).to_dtype(DType::BF16);
    assert_eq!((rounded.dtype(), rounded.device()), (DType::BF16, gpu));
    assert_eq!(rounded.to_f64_vec(), f.to_dtype(DType::BF16).to_f64_vec());
    let b = randn(&[37, 7], 42);
    let want = x.to_dtype(DType::F32).matmul(&bf16_rounded(&b)).unwrap();
    let got = xd.matmul(&on_gpu(&b)).unwrap();
    assert_eq!(got.dtype(), DType::F32);
    assert!(max_rel_err(&got, &want) <= 1e-5, "bf16 · f32");
    let got = on_gpu(&b).t().unwrap().matmul(&xd.t().unwrap()).unwrap();
    assert!(max_rel_err(&got, &want.t().unwrap()) <= 1e-5, "f32 · a transposed bf16 view");
    let err = x.matmul(&b).unwrap_err();
    assert!(err.to_string().contains("BF16") && err.to_string().contains("F32"), "{err}");
}

/// The fused classifier's paths on the GPU: under bf16 products the gradient comes from the loss
/// pass as a bf16 tensor in rows padded to 16 bytes (21 classes, rows 24 apart), or not at all
/// when none is asked for; in f32 the logits are kept for the backward (the composed path).
#[test]
#[ignore = "needs a CUDA GPU"]
fn the_fused_classifier_keeps_a_bf16_gradient_under_bf16_products() {
    use tensor::ClassifierGrad;
    let gpu = Device::Cuda(0);
    let (h, w) = (randn(&[6, 16], 43).to_device(gpu).unwrap(), randn(&[21, 16], 44).to_device(gpu).unwrap());
    let t = Tensor::from_vec(vec![0i64, 20, 3, -100, 7, 1], &[6]).unwrap();
    let bf16 = ExecutionContext::default().with_precision(MatmulPrecision::Bf16);
    let out = bf16.run(|| h.classifier_cross_entropy(&w, &t, Some(-100), Some(0.2))).unwrap();
    let ClassifierGrad::Scaled(dz) = out.grad else { panic!("the fused path keeps dz") };
    assert_eq!((dz.dtype(), dz.shape(), dz.layout().strides()), (DType::BF16, &[6, 21][..], &[24, 1][..]));
    assert_eq!(out.losses.shape(), &[6]);
    let row_sums: Vec<f64> = dz.to_dtype(DType::F32).sum(&[1], false).unwrap().to_f64_vec();
    assert!(row_sums.iter().all(|s| s.abs() < 1e-2), "softmax − onehot sums to 0 in each row: {row_sums:?}");
    let out = bf16.run(|| h.classifier_cross_entropy(&w, &t, Some(-100), None)).unwrap();
    assert!(matches!(out.grad, ClassifierGrad::None));
    let out = h.classifier_cross_entropy(&w, &t, Some(-100), Some(0.2)).unwrap();
    assert!(matches!(out.grad, ClassifierGrad::Logits(_)));
}

/// A product written in bf16 (`matmul_into`): on the GPU straight from the f32 sums, in rows padded
/// to 16 bytes (13 columns → 16 apart), within one bf16 rounding of the CPU's product of the rounded
/// operands; on the CPU, the f32 product converted.
#[test]
#[ignore = "needs a CUDA GPU"]
fn a_product_is_written_in_bf16_from_its_sums() {
    let gpu = Device::Cuda(0);
    for (n, strides) in [(13, [80, 16, 1]), (16, [80, 16, 1])] {
        let (g, w) = (randn(&[2, 5, 24], 46), randn(&[24, n], 47));
        let want = bf16_rounded(&g).matmul(&bf16_rounded(&w)).unwrap();
        let got = g.to_device(gpu).unwrap().matmul_into(&w.to_device(gpu).unwrap(), DType::BF16).unwrap();
        assert_eq!((got.dtype(), got.shape(), got.layout().strides()), (DType::BF16, &[2, 5, n][..], &strides[..]));
        for (a, b) in got.to_f64_vec().iter().zip(want.to_f64_vec()) {
            assert!((a - b).abs() <= b.abs() / 128.0 + 1e-6, "{a} for {b}");
        }
        let on_cpu = g.matmul_into(&w, DType::BF16).unwrap();
        assert_eq!(on_cpu.to_f64_vec(), g.matmul(&w).unwrap().to_dtype(DType::BF16).to_f64_vec());
    }
}

/// max |got − want| over the largest |want|.
fn error_of_largest(got: &Tensor, want: &Tensor) -> f64 {
    let (got, want) = (got.to_f64_vec(), want.to_f64_vec());
    let largest = want.iter().fold(0.0f64, |m, x| m.max(x.abs()));
    got.iter().zip(&want).map(|(x, y)| (x - y).abs()).fold(0.0f64, f64::max) / largest
}

/// A feed-forward layer's pre-activation `u = x·W₁ + b₁` under bf16 products on the GPU: the
/// product kept in bf16 alone, GELU adding the bias as it reads. GELU's output and its backward
/// (from a bf16 dh, as `dy·W₂ᵀ` is written) come out bf16 alone in rows padded to 16 bytes (13
/// columns → 16 apart, read through a dense copy, one by one; 16 columns in packs of 4), against
/// the CPU on the product rounded to bf16 as the GPU rounds it (its sums' order may move a value
/// across a rounding boundary: one bf16 unit of u, about 2⁻⁸ relative, and the outputs' own bf16
/// rounding, 2⁻⁹): within 1e-2 of the largest element. du's column sums (the first layer's bias
/// gradient) read its padded bf16 rows in place, a transposed view's through a dense copy. In f32,
/// the f32 linear layer and GELU, to f32 rounding.
#[test]
#[ignore = "needs a CUDA GPU"]
fn a_preactivation_feeds_gelu_in_bf16_alone() {
    use tensor::{GeluApproximation, UnaryOp};
    let gpu = Device::Cuda(0);
    let on_gpu = |t: &Tensor| t.to_device(gpu).unwrap();
    let gelu = UnaryOp::Gelu(GeluApproximation::Tanh);
    let bf16 = ExecutionContext::default().with_precision(MatmulPrecision::Bf16);
    for (n, strides) in [(13, [80, 16, 1]), (16, [80, 16, 1])] {
        let (x, w, b) = (randn(&[2, 5, 24], 48), randn(&[24, n], 49), randn(&[n], 50));
        let (g, w2) = (randn(&[2, 5, 8], 51), randn(&[8, n], 52));
        let product = bf16_rounded(&bf16_rounded(&x).matmul(&bf16_rounded(&w)).unwrap());
        let u = product.add(&b).unwrap();
        let dh = on_gpu(&g).matmul_into(&on_gpu(&w2), DType::BF16).unwrap();
        let (want_h, want_du) = (
            u.unary(gelu).unwrap(),
            u.gelu_backward(&dh.to_dtype(DType::F32).to_device(Device::Cpu).unwrap(), GeluApproximation::Tanh).unwrap(),
        );
        let (h, du) = bf16
            .run(|| {
                let u = on_gpu(&x).preactivation(&on_gpu(&w), &on_gpu(&b))?;
                Ok::<_, tensor::Error>((
                    u.gelu_as_operand(GeluApproximation::Tanh)?,
                    u.gelu_backward(&dh, GeluApproximation::Tanh)?,
                ))
            })
            .unwrap();
        for (name, got, want) in [("h", &h, &want_h), ("du", &du, &want_du)] {
            assert_eq!((got.dtype(), got.shape(), got.layout().strides()), (DType::BF16, &[2, 5, n][..], &strides[..]));
            let err = error_of_largest(got, want);
            assert!(err <= 1e-2, "{name}, {n} columns: {err:.2e} of the largest element");
        }
        // du's column sums read the padded bf16 rows in place.
        let values = du.to_f64_vec();
        let want: Vec<f64> = (0..n).map(|c| values.iter().skip(c).step_by(n).sum()).collect();
        let sums = du.bias_grad().unwrap();
        assert_eq!((sums.dtype(), sums.shape()), (DType::F32, &[n][..]));
        for (a, b) in sums.to_f64_vec().iter().zip(&want) {
            assert!((a - b).abs() <= 1e-6 * (1.0 + b.abs()), "bf16 column sums, {n} columns: {a} for {b}");
        }
        // A transposed view (its rows are not dense runs) is summed from a dense copy.
        let transposed = du.t().unwrap();
        let values = transposed.to_f64_vec();
        let want: Vec<f64> = (0..5).map(|c| values.iter().skip(c).step_by(5).sum()).collect();
        for (a, b) in transposed.bias_grad().unwrap().to_f64_vec().iter().zip(&want) {
            assert!((a - b).abs() <= 1e-6 * (1.0 + b.abs()), "bf16 column sums of a transposed view: {a} for {b}");
        }
        // In f32: u itself, GELU in f32.
        let u = on_gpu(&x).preactivation(&on_gpu(&w), &on_gpu(&b)).unwrap();
        let h = u.gelu_as_operand(GeluApproximation::Tanh).unwrap();
        assert_eq!(h.dtype(), DType::F32);
        let want = x.linear(&w, &b).unwrap().unary(gelu).unwrap();
        assert!(max_rel_err(&h, &want) <= 1e-5);
    }
}
