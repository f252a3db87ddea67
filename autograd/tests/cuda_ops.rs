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
