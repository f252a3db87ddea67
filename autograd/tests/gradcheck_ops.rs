//! Every differentiable op's backward against central finite differences, in f64, including
//! broadcasting and non-contiguous (transposed, narrowed) inputs. One table, one row per case.

mod op_cases;

use autograd::{gradcheck, GradcheckConfig, Var};
use op_cases::{
    elementwise_cases, loss_and_attention_cases, matmul_and_nn_cases, randn, reduction_and_shape_cases, Case,
};
use tensor::{DType, Tensor};

fn run(cases: Vec<Case>) {
    let mut failures = Vec::new();
    for (name, inputs, f) in cases {
        match gradcheck(f, &inputs, GradcheckConfig::default()) {
            Ok(report) => assert!(report.checked > 0, "{name}: nothing checked"),
            Err(e) => failures.push(format!("{name}: {e}")),
        }
    }
    assert!(failures.is_empty(), "gradcheck failures:\n{}", failures.join("\n"));
}

#[test]
fn gradcheck_elementwise_ops() {
    run(elementwise_cases());
}

#[test]
fn gradcheck_reductions_and_shape_ops() {
    run(reduction_and_shape_cases());
}

#[test]
fn gradcheck_matmul_softmax_layer_norm_indexing() {
    run(matmul_and_nn_cases());
}

#[test]
fn gradcheck_losses_and_attention() {
    run(loss_and_attention_cases());
}

/// An op whose backward is deliberately wrong: `z = eˣ` with `dx = dz ⊙ x`.
fn exp_with_wrong_backward(x: &Var) -> Var {
    let xv = x.value();
    Var::from_op("bad_exp", xv.exp().unwrap(), &[x], move |g| Ok(vec![Some(g.mul(&xv)?)]))
}

#[test]
fn gradcheck_catches_a_wrong_backward() {
    let err =
        gradcheck(|v| Ok(exp_with_wrong_backward(&v[0])), &[randn(&[4], 200)], GradcheckConfig::default()).unwrap_err();
    assert!(err.to_string().contains("analytic"), "{err}");
    // Even a gradient off by 0.1% is caught.
    let slightly_off = |v: &[Var]| {
        let xv = v[0].value();
        let z = xv.exp()?;
        let zc = z.clone();
        Ok(Var::from_op("exp_off", z, &[&v[0]], move |g| Ok(vec![Some(g.mul(&zc)?.mul_scalar(1.001)?)])))
    };
    assert!(gradcheck(slightly_off, &[randn(&[4], 201)], GradcheckConfig::default()).is_err());
    // A broadcast whose backward forgets to sum over the broadcast dim is caught by backward()'s
    // shape check before any number is compared.
    let unsummed = |v: &[Var]| {
        let z = v[0].value().broadcast_to(&[3, 2])?.contiguous();
        Ok(Var::from_op("bad_broadcast", z, &[&v[0]], |g| Ok(vec![Some(g.narrow(0, 0, 1)?.contiguous())])))
    };
    let err = gradcheck(unsummed, &[randn(&[2], 202)], GradcheckConfig::default()).unwrap_err();
    assert!(err.to_string().contains("bad_broadcast"), "{err}");
}

#[test]
fn gradcheck_rejects_f32_inputs() {
    let x = Tensor::zeros(&[2], DType::F32);
    assert!(gradcheck(|v| v[0].exp(), &[x], GradcheckConfig::default()).is_err());
}
