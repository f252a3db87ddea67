//! The autograd engine itself: accumulation, no_grad, detach, parameters, DOT export, errors, and
//! attention's forward against a loop-by-loop reference.

use autograd::{no_grad, AttentionMask, Params, Var};
use tensor::{rng, DType, Tensor};

fn scalar(v: f64) -> Tensor {
    Tensor::full(&[], v, DType::F64)
}

#[test]
fn gradients_accumulate_within_and_across_backward_calls() {
    // z = x·x + 3x → dz/dx = 2x + 3 = 7 at x = 2.
    let x = Var::new(scalar(2.0), true);
    let z = x.mul(&x).unwrap().add(&x.mul_scalar(3.0).unwrap()).unwrap();
    z.backward().unwrap();
    assert_eq!(x.grad().unwrap().to_scalar().unwrap(), 7.0);
    z.backward().unwrap();
    assert_eq!(x.grad().unwrap().to_scalar().unwrap(), 14.0, "a second backward adds");
    x.zero_grad();
    assert!(x.grad().is_none());
}

/// An op built with `from_op_adding_to_first` is handed what its first input has received so far
/// from the ops after it (z = (u + x)·x with u = 3x: 8 from the product, 2 from the sum, at x = 2),
/// and what it returns for that input is the whole sum (16 = 8x); nothing, when nothing has
/// reached it yet; and dropping a sum it was handed is an error, not a lost gradient.
#[test]
fn an_op_adding_to_its_first_inputs_gradient_is_handed_the_sum_so_far() {
    let x = Var::new(scalar(2.0), true);
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let record = seen.clone();
    // u = 3x, whose backward adds 3·du to what x has received.
    let u = Var::from_op_adding_to_first("triple", x.value().mul_scalar(3.0).unwrap(), &[&x], move |g, sum| {
        record.lock().unwrap().push(sum.as_ref().map(|s| s.to_scalar().unwrap()));
        let own = g.mul_scalar(3.0)?;
        Ok(vec![Some(match sum {
            Some(sum) => sum.add(&own)?,
            None => own,
        })])
    });
    let z = u.add(&x).unwrap().mul(&x).unwrap();
    z.backward().unwrap();
    assert_eq!(x.grad().unwrap().to_scalar().unwrap(), 16.0);
    assert_eq!(*seen.lock().unwrap(), vec![Some(10.0)]);
    // Alone, the op gets nothing to add to.
    x.zero_grad();
    u.backward().unwrap();
    assert_eq!(x.grad().unwrap().to_scalar().unwrap(), 3.0);
    assert_eq!(seen.lock().unwrap().last(), Some(&None));
    let dropping = Var::from_op_adding_to_first("drops", x.value(), &[&x], |_, _| Ok(vec![None]));
    let err = dropping.add(&x).unwrap().backward().unwrap_err();
    assert!(err.to_string().contains("backward dropped the gradient its first input had"), "{err}");
}

/// Recomputing GELU's output in the backward (`recompute_gelu`) gives exactly the gradients that
/// keeping it does: the same values, made twice.
#[test]
fn recomputing_gelu_gives_the_gradients_keeping_it_does() {
    use tensor::{ExecutionContext, GeluApproximation};
    let randn = |shape: &[usize], seed| Tensor::randn(shape, 0.0, 1.0, DType::F64, &mut rng(seed));
    let values = [randn(&[2, 3, 4], 1), randn(&[4, 6], 2), randn(&[6], 3), randn(&[6, 4], 4), randn(&[4], 5)];
    let run = |recompute: bool| {
        ExecutionContext::default().with_recompute_gelu(recompute).run(|| {
            let vars: Vec<Var> = values.iter().map(|v| Var::new(v.clone(), true)).collect();
            let y = vars[0].feed_forward((&vars[1], &vars[2]), GeluApproximation::Tanh, (&vars[3], &vars[4])).unwrap();
            y.mul(&y).unwrap().sum_all().unwrap().backward().unwrap();
            let grads = vars.iter().map(|v| v.grad().unwrap().to_f64_vec());
            std::iter::once(y.value().to_f64_vec()).chain(grads).collect::<Vec<_>>()
        })
    };
    assert_eq!(run(true), run(false));
}

#[test]
fn backward_from_a_tensor_with_upstream_gradient() {
    let x = Var::new(Tensor::from_f64s(&[1., 2., 3.], &[3], DType::F64).unwrap(), true);
    let y = x.mul_scalar(2.0).unwrap();
    y.backward_with_grad(&Tensor::from_f64s(&[1., 10., 100.], &[3], DType::F64).unwrap()).unwrap();
    assert_eq!(x.grad().unwrap().to_f64_vec(), vec![2., 20., 200.]);
    assert!(y.backward().is_err(), "backward() needs a one-element output");
    assert!(y.backward_with_grad(&scalar(1.0)).is_err(), "upstream shape must match");
}

#[test]
fn no_grad_and_detach_record_nothing() {
    let x = Var::new(scalar(3.0), true);
    let y = no_grad(|| x.mul(&x).unwrap());
    assert!(!y.requires_grad() && y.is_leaf());
    assert!(autograd::is_grad_enabled(), "no_grad restores the previous state");
    let d = x.mul(&x).unwrap().detach();
    assert!(!d.requires_grad());
    let z = d.mul(&x).unwrap(); // only the direct path to x counts: dz/dx = d = 9
    z.backward().unwrap();
    assert_eq!(x.grad().unwrap().to_scalar().unwrap(), 9.0);
    let c = Var::constant(scalar(1.0));
    assert!(c.exp().unwrap().backward().is_err(), "nothing requires a gradient");
}

#[test]
fn a_value_borrowed_for_writing_twice_is_an_error_not_a_deadlock() {
    let w = Var::parameter(Tensor::full(&[2], 1.0, DType::F64), "w");
    let guard = w.value_mut().unwrap();
    let err = w.value_mut().unwrap_err().to_string();
    assert!(err.contains("Var::value_mut") && err.contains("borrowed already"), "{err}");
    drop(guard);
    // Released, it can be written again.
    w.value_mut().unwrap().add_assign(&Tensor::full(&[2], 2.0, DType::F64)).unwrap();
    assert_eq!(w.value().to_vec::<f64>().unwrap(), vec![3.0, 3.0]);
}

#[test]
fn params_are_named_and_zeroed_together() {
    let mut params = Params::new();
    let w = params.add("layer.weight", Tensor::ones(&[2, 2], DType::F64)).unwrap();
    let b = params.add("layer.bias", Tensor::zeros(&[2], DType::F64)).unwrap();
    assert!(params.add("layer.bias", Tensor::zeros(&[2], DType::F64)).is_err());
    assert_eq!(params.iter().map(|(n, _)| n).collect::<Vec<_>>(), vec!["layer.weight", "layer.bias"]);
    assert_eq!(params.numel(), 6);
    let x = Var::constant(Tensor::ones(&[1, 2], DType::F64));
    x.matmul(&w).unwrap().add(&b).unwrap().sum_all().unwrap().backward().unwrap();
    assert_eq!(w.grad().unwrap().to_f64_vec(), vec![1.; 4]);
    params.zero_grad();
    assert!(params.iter().all(|(_, v)| v.grad().is_none()));
    assert_eq!(params.get("layer.weight").unwrap().name(), Some("layer.weight"));
    assert!(w.set_value(Tensor::ones(&[3], DType::F64)).is_err());
}

#[test]
fn dot_export_names_ops_and_parameters() {
    let w = Var::parameter(Tensor::ones(&[2, 2], DType::F64), "w");
    let x = Var::new(Tensor::ones(&[3, 2], DType::F64), true);
    let dot = x.matmul(&w).unwrap().relu().unwrap().sum_all().unwrap().to_dot();
    assert!(dot.starts_with("digraph autograd {"));
    for needle in ["matmul\\n[3, 2]", "relu", "sum\\n[]", "w\\n[2, 2]", "color=blue", "->"] {
        assert!(dot.contains(needle), "missing {needle} in\n{dot}");
    }
    assert_eq!(dot.matches("->").count(), 4);
}

#[test]
fn attention_forward_matches_loops_with_masks() {
    let (t, s, d) = (3, 4, 2);
    let q = Tensor::randn(&[1, 1, t, d], 0.0, 1.0, DType::F64, &mut rng(1));
    let k = Tensor::randn(&[1, 1, s, d], 0.0, 1.0, DType::F64, &mut rng(2));
    let v = Tensor::randn(&[1, 1, s, 1], 0.0, 1.0, DType::F64, &mut rng(3));
    let keep = Tensor::from_vec(vec![0u32, 1, 1, 1], &[1, 1, 1, s]).unwrap();
    let out = Var::scaled_dot_product_attention(
        &Var::constant(q.clone()),
        &Var::constant(k.clone()),
        &Var::constant(v.clone()),
        AttentionMask { causal: true, keep: Some(&keep), dropout: None },
    )
    .unwrap()
    .value()
    .to_f64_vec();
    let (q, k, v) = (q.to_f64_vec(), k.to_f64_vec(), v.to_f64_vec());
    for i in 0..t {
        // Query i sees keys j ≤ i + (s − t), except the padded key 0.
        let visible: Vec<usize> = (1..s).filter(|&j| j <= i + (s - t)).collect();
        let scores: Vec<f64> = visible
            .iter()
            .map(|&j| (0..d).map(|c| q[i * d + c] * k[j * d + c]).sum::<f64>() / (d as f64).sqrt())
            .collect();
        let z: f64 = scores.iter().map(|s| s.exp()).sum();
        let want: f64 = visible.iter().zip(&scores).map(|(&j, s)| s.exp() / z * v[j]).sum();
        assert!((out[i] - want).abs() < 1e-12, "query {i}: {} vs {want}", out[i]);
    }
    // A query whose keys are all masked gets zeros, not NaN.
    let none = Tensor::from_vec(vec![0u32; 4], &[1, 1, 1, 4]).unwrap();
    let qv = Var::constant(Tensor::ones(&[1, 1, 2, 2], DType::F64));
    let kv = Var::constant(Tensor::ones(&[1, 1, 4, 2], DType::F64));
    let z = Var::scaled_dot_product_attention(
        &qv,
        &kv,
        &kv,
        AttentionMask { causal: false, keep: Some(&none), dropout: None },
    )
    .unwrap();
    assert_eq!(z.value().to_f64_vec(), vec![0.0; 4]);
}

#[test]
fn fused_attention_equals_the_composed_ops_forward_and_backward() {
    // GPT-like shapes in f32: 2 sequences × 3 heads, 70 queries (a partial last block of 64), the
    // q/k/v views strided as after a head split; causal with and without extra cached keys, and
    // no mask.
    for (t, s, causal) in [(70, 70, true), (50, 75, true), (40, 30, false)] {
        let (b, h, d) = (2, 3, 16);
        let head_view = |len: usize, seed: u64| {
            // (B, len, H·D) → (B, H, len, D): a transposed view, as CausalSelfAttention makes.
            let x = Tensor::randn(&[b, len, h * d], 0.0, 1.0, DType::F32, &mut rng(seed));
            Var::new(x.reshape(&[b, len, h, d]).unwrap().transpose(1, 2).unwrap(), true)
        };
        let (q, k, v) = (head_view(t, 1), head_view(s, 2), head_view(s, 3));
        let d_out = Tensor::randn(&[b, h, t, d], 0.0, 1.0, DType::F32, &mut rng(4));
        let mask = AttentionMask { causal, keep: None, dropout: None };
        let run = |fused: bool| {
            for x in [&q, &k, &v] {
                x.zero_grad();
            }
            let out = if fused {
                Var::scaled_dot_product_attention(&q, &k, &v, mask)
            } else {
                Var::scaled_dot_product_attention_composed(&q, &k, &v, mask)
            }
            .unwrap();
            out.backward_with_grad(&d_out).unwrap();
            [out.value(), q.grad().unwrap(), k.grad().unwrap(), v.grad().unwrap()].map(|t| t.to_f64_vec())
        };
        let (fused, composed) = (run(true), run(false));
        for (name, (a, c)) in ["out", "dq", "dk", "dv"].iter().zip(fused.iter().zip(&composed)) {
            let scale = c.iter().fold(1e-6f64, |m, x| m.max(x.abs()));
            let err = a.iter().zip(c).map(|(x, y)| (x - y).abs()).max_by(f64::total_cmp).unwrap_or(0.0) / scale;
            assert!(err < 1e-5, "t {t}, s {s}, causal {causal}: {name} differs by {err:e} (relative to max)");
        }
    }
}

/// `Var::packed_self_attention(x, h, mask)` against `long_way` — the heads `(B, H, T, D)` of
/// `x (B, T, 3·H·D)` split out, attended by `long_way`, merged back — in output and gradient;
/// returns the packed output.
fn packed_equals_the_long_way(
    x: &Tensor,
    h: usize,
    mask: AttentionMask,
    long_way: impl Fn(&Var, &Var, &Var) -> Var,
) -> Vec<f64> {
    let (b, t, c) = (x.shape()[0], x.shape()[1], x.shape()[2] / 3);
    let d_out = Tensor::randn(&[b, t, c], 0.0, 1.0, DType::F64, &mut rng(6));
    let run = |packed: bool| {
        let qkv = Var::new(x.clone(), true);
        let y = if packed {
            Var::packed_self_attention(&qkv, h, mask).unwrap()
        } else {
            let parts = qkv.split(&[c, c, c], 2).unwrap();
            let heads = |v: &Var| v.reshape(&[b, t, h, c / h]).unwrap().transpose(1, 2).unwrap();
            let y = long_way(&heads(&parts[0]), &heads(&parts[1]), &heads(&parts[2]));
            y.transpose(1, 2).unwrap().reshape(&[b, t, c]).unwrap()
        };
        y.backward_with_grad(&d_out).unwrap();
        (y.value().to_f64_vec(), qkv.grad().unwrap().to_f64_vec())
    };
    let ((y, g), (want_y, want_g)) = (run(true), run(false));
    assert!(max_diff(&y, &want_y) < 1e-12, "output differs by {}", max_diff(&y, &want_y));
    assert!(max_diff(&g, &want_g) < 1e-12, "gradient differs by {}", max_diff(&g, &want_g));
    y
}

fn max_diff(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).max_by(f64::total_cmp).unwrap_or(0.0)
}

#[test]
fn dropout_on_attention_probabilities_equals_the_explicit_composition() {
    // (softmax(Q·Kᵀ/√d + M) ⊙ D)·V spelled out in recorded ops, against the packed op with D.
    let (b, t, h, d) = (2, 9, 2, 4);
    let x = Tensor::randn(&[b, t, 3 * h * d], 0.0, 1.0, DType::F64, &mut rng(11));
    let uniform = Tensor::uniform(&[b, h, t, t], 0.0, 1.0, DType::F64, &mut rng(13));
    let keep_scale =
        uniform.cmp_scalar(0.3, tensor::CmpOp::Ge).unwrap().to_dtype(DType::F64).mul_scalar(1.0 / 0.7).unwrap();
    let mask = AttentionMask { causal: true, keep: None, dropout: Some(&keep_scale) };
    let y = packed_equals_the_long_way(&x, h, mask, |q, k, v| {
        let scores = q.matmul(&k.t().unwrap()).unwrap().div_scalar((d as f64).sqrt()).unwrap();
        let blocked = Tensor::tril_mask(t, t, 0).cmp_scalar(0.0, tensor::CmpOp::Eq).unwrap();
        let p = scores.masked_fill(&blocked, f64::NEG_INFINITY).unwrap().softmax(-1).unwrap();
        p.mul(&Var::constant(keep_scale.clone())).unwrap().matmul(v).unwrap()
    });
    // Dropping entries changes the output: the keep-scale is applied, not ignored.
    let plain = Var::packed_self_attention(&Var::new(x, false), h, AttentionMask::CAUSAL).unwrap();
    assert!(max_diff(&plain.value().to_f64_vec(), &y) > 1e-3);
}

#[test]
fn packed_self_attention_equals_splitting_into_heads() {
    // qkv (B, T, 3·H·D) → split, heads, composed attention, merge: the long way round.
    let (b, t, h, d) = (2, 70, 3, 8);
    let x = Tensor::randn(&[b, t, 3 * h * d], 0.0, 1.0, DType::F64, &mut rng(5));
    packed_equals_the_long_way(&x, h, AttentionMask::CAUSAL, |q, k, v| {
        Var::scaled_dot_product_attention_composed(q, k, v, AttentionMask::CAUSAL).unwrap()
    });
    // A width that is not 3·H·D is refused with the shape in the message.
    let bad = Var::new(Tensor::zeros(&[1, 2, 10], DType::F64), true);
    let e = Var::packed_self_attention(&bad, 3, AttentionMask::CAUSAL).map(|_| ()).unwrap_err().to_string();
    assert!(e.contains("(B, T, 3·H·D)") && e.contains("[1, 2, 10]"), "{e}");
}
