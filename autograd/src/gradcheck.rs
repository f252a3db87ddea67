//! Gradient checking: the analytic gradient from `backward()` against central finite differences,
//! in f64 so the comparison is sharp.

use crate::{no_grad, Var};
use tensor::{DType, Error, Result, Tensor};

/// Step and tolerances: an element passes when `|analytic − numeric| ≤ atol + rtol·|numeric|`.
#[derive(Debug, Clone, Copy)]
pub struct GradcheckConfig {
    pub eps: f64,
    pub atol: f64,
    pub rtol: f64,
}

impl Default for GradcheckConfig {
    fn default() -> Self {
        Self { eps: 1e-6, atol: 1e-7, rtol: 1e-5 }
    }
}

/// What a passing check measured.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GradcheckReport {
    /// Elements compared, over all inputs.
    pub checked: usize,
    pub max_abs_err: f64,
}

/// Checks `f`'s gradient with respect to every element of every input.
///
/// The output is reduced to a scalar with fixed random weights, `L = Σ f(x) ⊙ w`, so every output
/// element's gradient path is exercised; then for each input element `xᵢ`,
/// `∂L/∂xᵢ ≈ (L(xᵢ + ε) − L(xᵢ − ε)) / 2ε` (error O(ε²)) is compared with `backward()`'s value.
/// Inputs must be f64. Returns an error naming the first element that disagrees.
pub fn gradcheck(
    f: impl Fn(&[Var]) -> Result<Var>,
    inputs: &[Tensor],
    cfg: GradcheckConfig,
) -> Result<GradcheckReport> {
    if let Some(bad) = inputs.iter().find(|t| t.dtype() != DType::F64) {
        return Err(Error::invalid(
            "gradcheck",
            format!("inputs must be f64, got {:?} (shape {:?})", bad.dtype(), bad.shape()),
        ));
    }
    let vars: Vec<Var> = inputs.iter().map(|t| Var::new(t.contiguous(), true)).collect();
    let out = f(&vars)?;
    let weights = Tensor::randn(&out.shape(), 0.0, 1.0, DType::F64, &mut tensor::rng(0x9e37));
    let objective = |out: &Tensor| -> Result<f64> { out.mul(&weights)?.sum_all()?.to_scalar() };
    let w = Var::constant(weights.clone());
    out.mul(&w)?.sum_all()?.backward()?;

    let mut report = GradcheckReport { checked: 0, max_abs_err: 0.0 };
    for (i, var) in vars.iter().enumerate() {
        let analytic = var.grad().map(|g| g.to_f64_vec()).unwrap_or_else(|| vec![0.0; inputs[i].elem_count()]);
        let base = inputs[i].to_f64_vec();
        for (j, &a) in analytic.iter().enumerate() {
            let at = |delta: f64| -> Result<f64> {
                let mut x = base.clone();
                x[j] += delta;
                let mut args: Vec<Var> = vars.iter().map(|v| Var::constant(v.value())).collect();
                args[i] = Var::constant(Tensor::from_f64s(&x, inputs[i].shape(), DType::F64)?);
                no_grad(|| objective(&f(&args)?.value()))
            };
            let numeric = (at(cfg.eps)? - at(-cfg.eps)?) / (2.0 * cfg.eps);
            let err = (a - numeric).abs();
            // Written so that a NaN on either side fails too.
            let within = err <= cfg.atol + cfg.rtol * numeric.abs();
            if !within {
                return Err(Error::invalid(
                    "gradcheck",
                    format!("input {i} element {j}: analytic {a:.10e} vs numeric {numeric:.10e} (|diff| {err:.3e})"),
                ));
            }
            report.max_abs_err = report.max_abs_err.max(err);
            report.checked += 1;
        }
    }
    Ok(report)
}
