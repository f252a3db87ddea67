//! Scaled dot-product attention (F1) on 4 tokens and 2 heads, every intermediate printed; then the
//! backward pass head by head — the upstream gradient dO, dP = dO·Vᵀ, the softmax backward
//! dS = P ⊙ (dP − rowsum(dP ⊙ P)), dQ, dK, dV — each beside its finite-difference check; the
//! gradients of the inputs from the autograd engine, checked the same way; and, with numbers, why
//! the scores are divided by √d_k and why the softmax subtracts each row's maximum.

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
    Var::scaled_dot_product_attention(&q, &k, &v, AttentionMask::CAUSAL)?.transpose(0, 1)?.reshape(&[T, D])
}

/// The upstream gradient `G = dL/d(output)` of the walkthrough's loss.
pub fn upstream() -> Tensor {
    Tensor::randn(&[T, D], 0.0, 1.0, DType::F64, &mut rng(7))
}

/// The loss of the walkthrough: `L = Σ out ⊙ G` for the fixed random `G` (any scalar would do).
pub fn loss(out: &Var) -> Result<Var> {
    out.mul(&Var::constant(upstream()))?.sum_all()
}

/// Central differences `(f(x + ε) − f(x − ε)) / 2ε` of a scalar function at every element of `at`.
fn numeric_gradient(f: impl Fn(&Tensor) -> Result<f64>, at: &Tensor) -> Result<Tensor> {
    let (base, eps) = (at.to_f64_vec(), 1e-6);
    let mut grad = Vec::with_capacity(base.len());
    for j in 0..base.len() {
        let bumped = |delta: f64| -> Result<f64> {
            let mut b = base.clone();
            b[j] += delta;
            f(&Tensor::from_f64s(&b, at.shape(), DType::F64)?)
        };
        grad.push((bumped(eps)? - bumped(-eps)?) / (2.0 * eps));
    }
    Tensor::from_f64s(&grad, at.shape(), DType::F64)
}

/// The largest |a − b| over the elements of two tensors of one shape.
fn largest_gap(a: &Tensor, b: &Tensor) -> f64 {
    a.to_f64_vec().iter().zip(b.to_f64_vec()).map(|(x, y)| (x - y).abs()).fold(0.0, f64::max)
}

/// One head's attention weights under the causal mask: `P = softmax(S + M)` of scores `s (T, T)`.
fn probabilities(s: &Tensor) -> Result<Tensor> {
    let masked = Tensor::tril_mask(T, T, 0).cmp_scalar(0.0, tensor::CmpOp::Eq)?;
    s.masked_fill(&masked, f64::NEG_INFINITY)?.softmax(-1)
}

/// One head's share of the loss, `Σ (P·V) ⊙ dO`: its output against its columns of the upstream
/// gradient.
fn head_loss(p: &Tensor, v: &Tensor, d_out: &Tensor) -> Result<f64> {
    p.matmul(v)?.mul(d_out)?.sum_all()?.to_scalar()
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

    let mut worst = 0f64;
    let mut check = |s: &mut String, title: &str, analytic: &Tensor, numeric: &Tensor| {
        let gap = largest_gap(analytic, numeric);
        worst = worst.max(gap);
        let _ = writeln!(s, "{title}\n{analytic}\n  finite differences agree to {gap:.1e}\n");
    };
    let _ = writeln!(
        s,
        "Backward, head by head, for L = Σ output ⊙ G (so dL/d(output) = G):\n\
         dP = dO·Vᵀ; dS = P ⊙ (dP − rowsum(dP ⊙ P)); dQ = dS·K/√d_k; dK = dSᵀ·Q/√d_k; dV = Pᵀ·dO\n"
    );
    let d_out_heads = split(&upstream())?;
    let root = ((D / H) as f64).sqrt();
    for h in 0..H {
        let head = |t: &Tensor| -> Result<Tensor> { Ok(t.narrow(0, h, 1)?.reshape(&[T, D / H])?.contiguous()) };
        let (q, k, v, d_out) = (head(&qh)?, head(&kh)?, head(&vh)?, head(&d_out_heads)?);
        let p = probabilities(&q.matmul(&k.t()?)?.div_scalar(root)?)?;
        let _ = writeln!(s, "— head {h} —\n");
        w(&mut s, "dO (the upstream gradient, this head's columns of G):", &d_out);
        let d_p = d_out.matmul(&v.t()?)?;
        check(&mut s, "dP = dO·Vᵀ:", &d_p, &numeric_gradient(|p| head_loss(p, &v, &d_out), &p)?);
        let row_sums = d_p.mul(&p)?.sum(&[1], true)?;
        let d_s = p.mul(&d_p.sub(&row_sums)?)?;
        let scores = q.matmul(&k.t()?)?.div_scalar(root)?;
        let by_scores = numeric_gradient(|s| head_loss(&probabilities(s)?, &v, &d_out), &scores)?;
        check(&mut s, "dS = P ⊙ (dP − rowsum(dP ⊙ P)) (zero where masked):", &d_s, &by_scores);
        let of_q = |q: &Tensor, k: &Tensor, v: &Tensor| {
            head_loss(&probabilities(&q.matmul(&k.t()?)?.div_scalar(root)?)?, v, &d_out)
        };
        let d_q = d_s.matmul(&k)?.div_scalar(root)?;
        check(&mut s, "dQ = dS·K/√d_k:", &d_q, &numeric_gradient(|x| of_q(x, &k, &v), &q)?);
        let d_k = d_s.t()?.matmul(&q)?.div_scalar(root)?;
        check(&mut s, "dK = dSᵀ·Q/√d_k:", &d_k, &numeric_gradient(|x| of_q(&q, x, &v), &k)?);
        let d_v = p.t()?.matmul(&d_out)?;
        check(&mut s, "dV = Pᵀ·dO:", &d_v, &numeric_gradient(|x| of_q(&q, &k, x), &v)?);
    }

    // Backward through the autograd engine.
    let vars: Vec<Var> = [&x, &wq, &wk, &wv].iter().map(|t| Var::new((*t).clone(), true)).collect();
    let l = loss(&attention(&vars[0], &vars[1], &vars[2], &vars[3])?)?;
    l.backward()?;
    let _ = writeln!(
        s,
        "The autograd engine (fused attention kernel): L = {:.6}; the gradients of the inputs, through the projections:\n",
        l.value().to_scalar()?
    );
    let names = ["dL/dx", "dL/dW_Q", "dL/dW_K", "dL/dW_V"];
    for (i, (var, name)) in vars.iter().zip(names).enumerate() {
        let analytic = var.grad().expect("every input requires a gradient");
        let whole_loss = |x: &Tensor| -> Result<f64> {
            let mut args: Vec<Var> = vars.iter().map(|v| Var::constant(v.value())).collect();
            args[i] = Var::constant(x.clone());
            no_grad(|| loss(&attention(&args[0], &args[1], &args[2], &args[3])?)?.value().to_scalar())
        };
        check(&mut s, &format!("{name}:"), &analytic, &numeric_gradient(whole_loss, &var.value())?);
    }
    why_scale_and_shift(&mut s)?;
    Ok((s, worst))
}

/// Why the scores are divided by √d_k, and why the softmax subtracts each row's maximum, shown
/// with numbers.
fn why_scale_and_shift(s: &mut String) -> Result<()> {
    let (d_k, queries, keys) = (64, 256, 8);
    let mut r = rng(11);
    let q = Tensor::randn(&[queries, d_k], 0.0, 1.0, DType::F64, &mut r);
    let k = Tensor::randn(&[keys, d_k], 0.0, 1.0, DType::F64, &mut r);
    let raw = q.matmul(&k.t()?)?;
    let _ = writeln!(s, "Why √d_k: {queries} queries against {keys} keys, d_k = {d_k}, entries drawn from N(0, 1); means over the queries.");
    for (what, scores) in [("q·k", raw.clone()), ("q·k/√d_k", raw.div_scalar((d_k as f64).sqrt())?)] {
        let (v, p) = (scores.to_f64_vec(), scores.softmax(-1)?.to_f64_vec());
        let std = (v.iter().map(|x| x * x).sum::<f64>() / v.len() as f64).sqrt();
        let (mut largest, mut steepest) = (0.0, 0.0);
        for row in p.chunks(keys) {
            largest += row.iter().copied().fold(0.0, f64::max) / queries as f64;
            // ∂Pᵢ/∂sⱼ = Pᵢ(δᵢⱼ − Pⱼ): the largest entry of the softmax's Jacobian for this row.
            let jacobian = (0..keys).flat_map(|i| (0..keys).map(move |j| (i, j)));
            let most =
                jacobian.map(|(i, j)| (row[i] * (f64::from(u8::from(i == j)) - row[j])).abs()).fold(0.0, f64::max);
            steepest += most / queries as f64;
        }
        let first: Vec<String> = p[..keys].iter().map(|x| format!("{x:.3}")).collect();
        let _ = writeln!(
            s,
            "  scores {what}: root mean square {std:.2}; the first query's softmax [{}];\n    largest probability {largest:.3}, largest |∂P/∂s| {steepest:.3}",
            first.join(", ")
        );
    }
    let _ = writeln!(
        s,
        "  A dot product of d_k unit-variance terms has standard deviation √d_k: unscaled, most rows' softmax is\n  \
         nearly one-hot and its Jacobian nearly zero, so little gradient reaches Q and K; scaled, it is not.\n"
    );
    let scores = [1000.0f32, 999.0, 998.0];
    let naive: Vec<f32> = scores.iter().map(|x| x.exp() / scores.iter().map(|y| y.exp()).sum::<f32>()).collect();
    let top = scores.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let shifted: Vec<f32> =
        scores.iter().map(|x| (x - top).exp() / scores.iter().map(|y| (y - top).exp()).sum::<f32>()).collect();
    let engine = Tensor::from_f64s(&[1000.0, 999.0, 998.0], &[3], DType::F32)?.softmax(-1)?.to_f64_vec();
    let _ = writeln!(
        s,
        "Why subtract the maximum: scores {scores:?} in f32.\n  exp(s)/Σ exp(s) as written: {naive:?} (e^1000 overflows to inf, inf/inf = NaN)\n  \
         exp(s − max)/Σ exp(s − max): {shifted:?} — the same function, since the factor e^(−max) cancels\n  \
         the engine's softmax: {engine:.6?}"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn gradients_match_finite_differences_and_rows_sum_to_one() {
        let (text, worst) = super::walkthrough().unwrap();
        assert!(worst < 1e-7, "largest gradient gap {worst}");
        assert!(text.contains("P = softmax") && text.contains("dL/dW_Q"));
        for shown in ["— head 1 —", "dP = dO·Vᵀ", "dS = P ⊙", "dQ = dS·K/√d_k", "dK = dSᵀ·Q/√d_k", "dV = Pᵀ·dO"]
        {
            assert!(text.contains(shown), "{shown} missing");
        }
        assert_eq!(text.matches("finite differences agree").count(), 2 * 5 + 4);
        assert!(text.contains("[NaN, NaN, NaN]"), "the unshifted softmax overflows");
    }

    #[test]
    fn the_unscaled_softmax_is_sharper_and_flatter_in_gradient() {
        let mut s = String::new();
        super::why_scale_and_shift(&mut s).unwrap();
        let largest = |key: &str| -> Vec<f64> {
            s.match_indices(key)
                .map(|(at, m)| s[at + m.len()..].split([',', '\n']).next().unwrap().trim().parse().unwrap())
                .collect()
        };
        let (probability, slope) = (largest("largest probability "), largest("largest |∂P/∂s| "));
        assert!(probability[0] > 0.8 && probability[1] < 0.5, "{s}");
        assert!(slope[0] < slope[1], "{s}");
    }
}
