//! Scaled dot-product attention (F1) on 4 tokens and 2 heads, every intermediate printed, then the
//! backward pass with each gradient checked against finite differences.

use autograd::{no_grad, AttentionMask, Var};
use std::fmt::Write;
use tensor::{rng, DType, Result, Tensor};

/// Sizes of the example: 4 tokens, model width 4, 2 heads of width 2.
pub const T: usize = 4;
pub const D: usize = 4;
pub const H: usize = 2;

/// The inputs: token vectors `x (T, D)` and the projections `W_Q, W_K, W_V (D, D)`.
pub fn inputs() -> [Tensor; 4] {
    let mut r = rng(2024);
    let mut t = |shape: &[usize]| Tensor::randn(shape, 0.0, 1.0, DType::F64, &mut r);
    [t(&[T, D]), t(&[D, D]), t(&[D, D]), t(&[D, D])]
}

/// `Q = xW_Q`, … split into heads `(H, T, D/H)`, then causal attention, heads concatenated `(T, D)`.
pub fn attention(x: &Var, wq: &Var, wk: &Var, wv: &Var) -> Result<Var> {
    let heads = |w: &Var| -> Result<Var> { x.matmul(w)?.reshape(&[T, H, D / H])?.transpose(0, 1) };
    let (q, k, v) = (heads(wq)?, heads(wk)?, heads(wv)?);
    Var::scaled_dot_product_attention(&q, &k, &v, AttentionMask { causal: true, keep: None })?
        .transpose(0, 1)?
        .reshape(&[T, D])
}

/// The loss of the walkthrough: `L = Σ out ⊙ G` for a fixed random `G` (any scalar would do).
pub fn loss(out: &Var) -> Result<Var> {
    let g = Tensor::randn(&[T, D], 0.0, 1.0, DType::F64, &mut rng(7));
    out.mul(&Var::constant(g))?.sum_all()
}

/// The whole walkthrough as text; also returns the largest |analytic − numeric| gradient gap.
pub fn walkthrough() -> Result<(String, f64)> {
    let mut s = String::new();
    let [x, wq, wk, wv] = inputs();
    let w = |s: &mut String, title: &str, t: &Tensor| {
        let _ = writeln!(s, "{title}\n{t}\n");
    };
    let _ = writeln!(s, "Attention(Q, K, V) = softmax(Q·Kᵀ/√d_k + M)·V, {T} tokens, {H} heads of d_k = {}\n", D / H);
    w(&mut s, "x (tokens × model width):", &x);
    let (q, k, v) = (x.matmul(&wq)?, x.matmul(&wk)?, x.matmul(&wv)?);
    w(&mut s, "Q = x·W_Q:", &q);
    w(&mut s, "K = x·W_K:", &k);
    w(&mut s, "V = x·W_V:", &v);
    let split = |t: &Tensor| -> Result<Tensor> { Ok(t.reshape(&[T, H, D / H])?.transpose(0, 1)?.contiguous()) };
    let (qh, kh, vh) = (split(&q)?, split(&k)?, split(&v)?);
    let scores = qh.matmul(&kh.t()?)?.div_scalar(((D / H) as f64).sqrt())?;
    w(&mut s, "scores = Q·Kᵀ/√d_k, per head (head × query × key):", &scores);
    let mask = Tensor::tril_mask(T, T, 0);
    w(&mut s, "causal mask M (1 = may attend; 0 = −∞ is added):", &mask);
    let masked = scores.masked_fill(&mask.cmp_scalar(0.0, tensor::CmpOp::Eq)?, f64::NEG_INFINITY)?;
    let p = masked.softmax(-1)?;
    w(&mut s, "P = softmax(scores + M) — each row sums to 1:", &p);
    let out = p.matmul(&vh)?.transpose(0, 1)?.reshape(&[T, D])?;
    w(&mut s, "output = P·V, heads concatenated:", &out);

    // Backward through the autograd engine.
    let vars: Vec<Var> = [&x, &wq, &wk, &wv].iter().map(|t| Var::new((*t).clone(), true)).collect();
    let l = loss(&attention(&vars[0], &vars[1], &vars[2], &vars[3])?)?;
    l.backward()?;
    let _ = writeln!(s, "L = Σ output ⊙ G = {:.6}\n\nBackward (dS = P ⊙ (dP − Σ dP ⊙ P); dQ = dS·K/√d_k; dK = dSᵀ·Q/√d_k; dV = Pᵀ·dO):\n", l.value().to_scalar()?);
    let names = ["dL/dx", "dL/dW_Q", "dL/dW_K", "dL/dW_V"];
    let mut worst = 0f64;
    for (i, (var, name)) in vars.iter().zip(names).enumerate() {
        let analytic = var.grad().expect("every input requires a gradient");
        w(&mut s, &format!("{name}:"), &analytic);
        // Central differences on every element of this input.
        let base = var.value().to_f64_vec();
        let eps = 1e-6;
        let numeric: Vec<f64> = (0..base.len())
            .map(|j| -> Result<f64> {
                let at = |delta: f64| -> Result<f64> {
                    let mut bumped = base.clone();
                    bumped[j] += delta;
                    let mut args: Vec<Var> = vars.iter().map(|v| Var::constant(v.value())).collect();
                    args[i] = Var::constant(Tensor::from_f64s(&bumped, var.value().shape(), DType::F64)?);
                    no_grad(|| loss(&attention(&args[0], &args[1], &args[2], &args[3])?)?.value().to_scalar())
                };
                Ok((at(eps)? - at(-eps)?) / (2.0 * eps))
            })
            .collect::<Result<_>>()?;
        let gap = analytic
            .to_f64_vec()
            .iter()
            .zip(&numeric)
            .map(|(a, n)| (a - n).abs())
            .max_by(f64::total_cmp)
            .unwrap_or(0.0);
        let _ = writeln!(s, "  finite differences agree to {gap:.1e}\n");
        worst = worst.max(gap);
    }
    Ok((s, worst))
}

#[cfg(test)]
mod tests {
    #[test]
    fn gradients_match_finite_differences_and_rows_sum_to_one() {
        let (text, worst) = super::walkthrough().unwrap();
        assert!(worst < 1e-7, "largest gradient gap {worst}");
        assert!(text.contains("P = softmax") && text.contains("dL/dW_Q"));
    }
}
