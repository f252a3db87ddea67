//! The execution context's choice between the fused attention kernel and the composed reference:
//! both give the same outputs and gradients, and the choice really changes the recorded graph, inside
//! its scope only.

use autograd::profile::{Pass, Profile};
use autograd::{fused_attention, AttentionMask, Var};
use tensor::{rng, AttentionPath, DType, ExecutionContext, Tensor};

/// `(output, d qkv, names of the recorded ops)` of causal packed self-attention on `qkv`.
fn run(qkv: &Tensor) -> (Vec<f64>, Vec<f64>, Vec<&'static str>) {
    let x = Var::new(qkv.clone(), true);
    let profile = Profile::start();
    let y = Var::packed_self_attention(&x, 2, AttentionMask::CAUSAL).unwrap();
    let mut ops: Vec<&'static str> =
        profile.finish().into_iter().filter(|r| r.pass == Pass::Forward).map(|r| r.name).collect();
    ops.sort();
    ops.dedup(); // one name per op, whatever its shapes
    let w = Tensor::randn(&y.shape(), 0.0, 1.0, DType::F64, &mut rng(5));
    y.mul(&Var::constant(w)).unwrap().sum_all().unwrap().backward().unwrap();
    (y.value().to_f64_vec(), x.grad().unwrap().to_f64_vec(), ops)
}

#[test]
fn fused_and_composed_attention_agree_and_the_switch_picks_one() {
    let qkv = Tensor::randn(&[2, 5, 12], 0.0, 1.0, DType::F64, &mut rng(1));
    let (y_fused, g_fused, ops_fused) = run(&qkv);
    let composed = ExecutionContext::current().with_attention(AttentionPath::Composed);
    let (y_composed, g_composed, ops_composed) = composed.run(|| run(&qkv));
    assert!(fused_attention(), "the composed path held inside its scope only");
    for (a, b) in y_fused.iter().zip(&y_composed).chain(g_fused.iter().zip(&g_composed)) {
        assert!((a - b).abs() < 1e-12, "{a} vs {b}");
    }
    // The fused op reads the heads in place; the composed path records the split into heads.
    assert_eq!(ops_fused, vec!["attention"]);
    assert_eq!(ops_composed, vec!["attention", "narrow", "reshape", "transpose"]);
}
