//! Every differentiable op on the GPU against the same op on the CPU (the reference), forward and
//! backward, on the op table of `gradcheck_ops.rs` in f32: each case's output and the gradient of
//! every input (for a fixed random upstream gradient) must agree to a relative error of 1e-5
//! (|gpu − cpu| / max(1, |cpu|)); matrix products go through cuBLAS with TF32 off, so the math is
//! the same up to the order of f32 additions. Needs a CUDA GPU (run with `--include-ignored` there).

mod op_cases;

use autograd::Var;
use op_cases::{elementwise_cases, loss_and_attention_cases, matmul_and_nn_cases, reduction_and_shape_cases, Case};
use tensor::{rng, DType, Device, Result, Tensor};

/// The case's output and its inputs' gradients on `device`, all copied back to the host as f64.
fn run_on(device: Device, inputs: &[Tensor], f: &dyn Fn(&[Var]) -> Result<Var>) -> Result<Vec<Vec<f64>>> {
    let vars: Vec<Var> =
        inputs.iter().map(|t| Ok(Var::new(t.to_dtype(DType::F32).to_device(device)?, true))).collect::<Result<_>>()?;
    let y = f(&vars)?;
    let upstream = Tensor::randn(&y.shape(), 0.0, 1.0, DType::F32, &mut rng(7)).to_device(device)?;
    y.mul(&Var::constant(upstream))?.sum_all()?.backward()?;
    let mut out = vec![y.value().to_f64_vec()];
    out.extend(vars.iter().map(|v| v.grad().map(|g| g.to_f64_vec()).unwrap_or_default()));
    Ok(out)
}

fn max_rel_err(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x - y).abs() / y.abs().max(1.0)).max_by(f64::total_cmp).unwrap_or(0.0)
}

fn run(cases: Vec<Case>) {
    let mut failures = Vec::new();
    for (name, inputs, f) in cases {
        let (cpu, gpu) = (run_on(Device::Cpu, &inputs, &*f), run_on(Device::Cuda(0), &inputs, &*f));
        match (cpu, gpu) {
            (Ok(cpu), Ok(gpu)) => {
                for (i, (g, c)) in gpu.iter().zip(&cpu).enumerate() {
                    let what = if i == 0 { "output".to_string() } else { format!("gradient of input {}", i - 1) };
                    if g.len() != c.len() {
                        failures.push(format!(
                            "{name}: {what} has {} elements on the GPU, {} on the CPU",
                            g.len(),
                            c.len()
                        ));
                    } else if max_rel_err(g, c) > 1e-5 || g.iter().any(|x| x.is_nan()) != c.iter().any(|x| x.is_nan()) {
                        failures.push(format!("{name}: {what} differs by {:.2e}", max_rel_err(g, c)));
                    }
                }
            }
            (Err(e), _) => failures.push(format!("{name}: on the CPU: {e}")),
            (_, Err(e)) => failures.push(format!("{name}: on the GPU: {e}")),
        }
    }
    assert!(failures.is_empty(), "GPU ops that differ from the CPU:\n{}", failures.join("\n"));
}

#[test]
#[ignore = "needs a CUDA GPU"]
fn elementwise_ops_match_the_cpu() {
    run(elementwise_cases());
}

#[test]
#[ignore = "needs a CUDA GPU"]
fn reductions_and_shape_ops_match_the_cpu() {
    run(reduction_and_shape_cases());
}

#[test]
#[ignore = "needs a CUDA GPU"]
fn matmul_softmax_layer_norm_indexing_match_the_cpu() {
    run(matmul_and_nn_cases());
}

#[test]
#[ignore = "needs a CUDA GPU"]
fn losses_and_attention_match_the_cpu() {
    run(loss_and_attention_cases());
}

/// Normal values rounded to bf16 (what the tensor cores read), held in f64.
fn bf16_randn(shape: &[usize], std: f64, seed: u64) -> Tensor {
    Tensor::randn(shape, 0.0, std, DType::F32, &mut rng(seed)).to_dtype(DType::BF16).to_dtype(DType::F64)
}

/// `run` on the CPU in f64 (the reference) and on the GPU in f32 under bf16 products.
fn cpu_f64_and_gpu_bf16<T>(run: impl Fn(Device, DType) -> Result<T>) -> (T, T) {
    let bf16 = tensor::ExecutionContext::default().with_precision(tensor::MatmulPrecision::Bf16);
    (run(Device::Cpu, DType::F64).unwrap(), bf16.run(|| run(Device::Cuda(0), DType::F32)).unwrap())
}

/// max |got − want| over the largest |want|.
fn error_of_largest(got: &[f64], want: &[f64]) -> f64 {
    let largest = want.iter().fold(0.0f64, |m, x| m.max(x.abs()));
    got.iter().zip(want).map(|(x, y)| (x - y).abs()).fold(0.0f64, f64::max) / largest
}

/// `y`'s value and the gradients of `inputs` after a backward from `upstream` (moved to `y`'s dtype
/// and device), each copied back as f64.
fn output_and_gradients(y: &Var, upstream: &Tensor, inputs: &[Var]) -> Result<Vec<Vec<f64>>> {
    let upstream = upstream.to_dtype(y.value().dtype()).to_device(y.value().device())?;
    y.mul(&Var::constant(upstream))?.sum_all()?.backward()?;
    let grads = inputs.iter().map(|v| v.grad().expect("a gradient"));
    Ok(std::iter::once(y.value()).chain(grads).map(|t| t.to_f64_vec()).collect())
}

/// Each of `got` (an output, then gradients) within its named tolerance of `want`, as an
/// [`error_of_largest`].
fn assert_within_of_largest(tolerances: &[(&str, f64)], got: &[Vec<f64>], want: &[Vec<f64>]) {
    assert_eq!((got.len(), want.len()), (tolerances.len(), tolerances.len()), "one tolerance each");
    for ((name, tolerance), (g, w)) in tolerances.iter().zip(got.iter().zip(want)) {
        let err = error_of_largest(g, w);
        assert!(err <= *tolerance, "{name}: {err:.2e} of its largest element");
    }
}

/// The fused classifier under bf16 products (its logits written in bf16 by the product, its
/// gradient written over them by the loss pass) against the CPU's composed f64 path on the same
/// bf16-rounded h and W (what the tensor cores read): 40 rows, 6 of them ignored, a vocabulary of
/// 50 (its rows padded to 56; the product split at 48 + 2), an upstream gradient of 0.3. The
/// logits' rounding to bf16 (2⁻⁹ relative, |z| < 2 here) moves the loss (≈ 3.9) by at most 2⁻⁸
/// and each softmax value by at most about 1%, and dz's own rounding adds 2⁻⁹: the loss must agree
/// to 1e-3, the gradients to 1e-2 of their largest element (observed on the emulator: 1.1e-5,
/// and 1.7e-3 for dh, 1.3e-3 for dW, as the rounding errors of a row's terms partly cancel).
#[test]
#[ignore = "needs a CUDA GPU"]
fn the_fused_classifier_in_bf16_matches_the_cpu() {
    let (h, w) = (bf16_randn(&[4, 10, 24], 1.0, 11), bf16_randn(&[50, 24], 0.1, 12));
    let ids: Vec<i64> = (0..40).map(|i| if i % 7 == 3 { -100 } else { (i * 13 % 50) as i64 }).collect();
    let targets = Tensor::from_vec(ids, &[4, 10]).unwrap();
    let run = |device: Device, dtype: DType| {
        let (h, w) = (
            Var::new(h.to_dtype(dtype).to_device(device)?, true),
            Var::new(w.to_dtype(dtype).to_device(device)?, true),
        );
        let loss = h.classifier_cross_entropy(&w, &targets, Some(-100))?;
        loss.mul_scalar(0.3)?.backward()?;
        Ok::<_, tensor::Error>([loss.value(), h.grad().unwrap(), w.grad().unwrap()].map(|t| t.to_f64_vec()))
    };
    let (want, got) = cpu_f64_and_gpu_bf16(run);
    let loss_err = error_of_largest(&got[0], &want[0]);
    assert!(loss_err <= 1e-3, "loss {} for {}: {loss_err:.2e}", got[0][0], want[0][0]);
    for (name, g, c) in [("dh", &got[1], &want[1]), ("dW", &got[2], &want[2])] {
        let err = error_of_largest(g, c);
        assert!(err <= 1e-2, "{name}: {err:.2e} of its largest element");
    }
}

/// A layer norm kept in bf16 alone for the linear layers it feeds (`Var::layer_norm_as_operand`,
/// as GPT-2's blocks use it, with one reader; and with two, whose bf16 gradients the engine sums
/// in f32) under bf16 products against the CPU's f64 path on the same bf16-rounded x, W: 24 rows
/// of 20 (the bf16 rows padded to 24) → 12, a random upstream gradient. The norm's output is
/// rounded to bf16 (2⁻⁹ relative) where an f32 output's bf16 image would be, and its gradient
/// dy·Wᵀ, written in bf16 by its product, is the dy the norm's backward reads (2⁻⁹ more): y and
/// dW (which read the output) and dx, dγ, dβ agree to 1e-2 of their largest element (observed on
/// the emulator: at most 4.2e-3); db, f32 sums of f32 values, to 1e-5.
#[test]
#[ignore = "needs a CUDA GPU"]
fn a_layer_norm_kept_in_bf16_for_its_linear_layer_matches_the_cpu() {
    let x = bf16_randn(&[2, 12, 20], 1.0, 21);
    let (gamma, beta) = (bf16_randn(&[20], 0.5, 22), bf16_randn(&[20], 0.5, 23));
    let (w, b) = (bf16_randn(&[20, 12], 0.2, 24), bf16_randn(&[12], 0.2, 25));
    let (w2, b2) = (bf16_randn(&[20, 12], 0.2, 27), bf16_randn(&[12], 0.2, 28));
    let upstream = Tensor::randn(&[2, 12, 12], 0.0, 1.0, DType::F64, &mut rng(26));
    for readers in [1, 2] {
        let run = |device: Device, dtype: DType| {
            let on = |t: &Tensor| Ok::<_, tensor::Error>(Var::new(t.to_dtype(dtype).to_device(device)?, true));
            let (x, gamma, beta, w, b, w2, b2) =
                (on(&x)?, on(&gamma)?, on(&beta)?, on(&w)?, on(&b)?, on(&w2)?, on(&b2)?);
            let h = x.layer_norm_as_operand(&gamma, &beta, 1e-5)?;
            if device != Device::Cpu {
                assert_eq!(h.value().dtype(), DType::BF16, "the norm's output on the GPU");
            }
            let y = match readers {
                1 => h.linear(&w, &b)?,
                _ => h.linear(&w, &b)?.add(&h.linear(&w2, &b2)?)?,
            };
            output_and_gradients(&y, &upstream, &[x, gamma, beta, w, b])
        };
        let (want, got) = cpu_f64_and_gpu_bf16(run);
        let tolerances = [("y", 1e-2), ("dx", 1e-2), ("dγ", 1e-2), ("dβ", 1e-2), ("dW", 1e-2), ("db", 1e-5)];
        assert_within_of_largest(&tolerances, &got, &want);
    }
}

/// A whole MLP added onto a residual stream (`Var::feed_forward_onto`, as GPT-2's) under bf16
/// products against the CPU's f64 path on bf16-rounded x, W₁, W₂: 24 rows of 20 → 40 → 12 and of
/// 20 → 37 → 12 (hidden rows padded to 40 in bf16, and no packs of 4), a random upstream gradient.
/// On the GPU the pre-activation is the product x·W₁ in bf16 alone with b₁ added by GELU's kernels
/// as they read it; GELU's output h, dh = dy·W₂ᵀ and du are bf16 alone too, du read so by the
/// first layer's bias gradient (column sums of the bf16 rows) and both its products; the second
/// product adds b₂ and the residual r in its epilogue. Each is rounded to bf16 where the CPU keeps
/// f64 (2⁻⁹ relative each, a few on any path): y, dx, dW₁, db₁ and dW₂ agree to 1e-2 of their
/// largest element (observed on the emulator: 2.0e-3 to 5.7e-3); db₂ and dr (the upstream
/// gradient itself), f32 sums of f32 values, to 1e-5. The leaves' gradients come back in their
/// own dtype. Recomputing GELU's output in the backward changes nothing.
#[test]
#[ignore = "needs a CUDA GPU"]
fn an_mlp_in_bf16_matches_the_cpu() {
    use tensor::GeluApproximation;
    for hidden in [40, 37] {
        let x = bf16_randn(&[2, 12, 20], 1.0, 31);
        let (w1, b1) = (bf16_randn(&[20, hidden], 0.3, 32), bf16_randn(&[hidden], 0.3, 33));
        let (w2, b2) = (bf16_randn(&[hidden, 12], 0.2, 34), bf16_randn(&[12], 0.2, 35));
        let r = bf16_randn(&[2, 12, 12], 1.0, 37);
        let upstream = Tensor::randn(&[2, 12, 12], 0.0, 1.0, DType::F64, &mut rng(36));
        let run = |device: Device, dtype: DType| {
            let on = |t: &Tensor| Ok::<_, tensor::Error>(Var::new(t.to_dtype(dtype).to_device(device)?, true));
            let (x, w1, b1, w2, b2, r) = (on(&x)?, on(&w1)?, on(&b1)?, on(&w2)?, on(&b2)?, on(&r)?);
            let y = x.feed_forward_onto((&w1, &b1), GeluApproximation::Tanh, (&w2, &b2), &r)?;
            let leaves = [x, w1, b1, w2, b2, r];
            let out = output_and_gradients(&y, &upstream, &leaves)?;
            assert!(leaves.iter().all(|v| v.grad().unwrap().dtype() == dtype), "leaf gradients in the leaves' dtype");
            Ok(out)
        };
        let (want, got) = cpu_f64_and_gpu_bf16(run);
        let tolerances =
            [("y", 1e-2), ("dx", 1e-2), ("dW₁", 1e-2), ("db₁", 1e-2), ("dW₂", 1e-2), ("db₂", 1e-5), ("dr", 1e-5)];
        assert_within_of_largest(&tolerances, &got, &want);
        // GELU's output made again in the backward: the same values, so the same results.
        let bf16 = tensor::ExecutionContext::default().with_precision(tensor::MatmulPrecision::Bf16);
        let recomputed = bf16.with_recompute_gelu(true).run(|| run(Device::Cuda(0), DType::F32)).unwrap();
        assert_eq!(recomputed, got, "recomputing GELU in the backward");
    }
}
