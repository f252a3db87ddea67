//! Backpropagation by hand on a tiny network, next to the autograd engine doing the same.
//!
//! `x (1×2) → z₁ = x·W₁ + b₁ → h = tanh z₁ → z₂ = h·W₂ + b₂ → ŷ = σ(z₂) → L = −[y log ŷ + (1−y) log(1−ŷ)]`

use autograd::{Reduction, Var};
use std::fmt::Write;
use tensor::{DType, Result, Tensor};

fn t(values: &[f64], shape: &[usize]) -> Result<Tensor> {
    Tensor::from_f64s(values, shape, DType::F64)
}

/// The walkthrough text, the graph in DOT (every node with its value and gradient), and the largest gap between the hand-derived gradients
/// and autograd's.
pub fn walkthrough() -> Result<(String, String, f64)> {
    let mut s = String::new();
    let (x, y) = (t(&[0.5, -1.0], &[1, 2])?, t(&[1.0], &[1, 1])?);
    let (w1, b1) = (t(&[0.3, -0.7, 0.8, 0.2], &[2, 2])?, t(&[0.1, -0.1], &[2])?);
    let (w2, b2) = (t(&[1.2, -0.6], &[2, 1])?, t(&[0.05], &[1])?);
    let show = |s: &mut String, name: &str, v: &Tensor| {
        let _ =
            writeln!(s, "{name:<34} {:?}", v.to_f64_vec().iter().map(|x| (x * 1e6).round() / 1e6).collect::<Vec<_>>());
    };

    let _ = writeln!(s, "Forward pass");
    let z1 = x.matmul(&w1)?.add(&b1)?;
    show(&mut s, "z₁ = x·W₁ + b₁", &z1);
    let h = z1.tanh()?;
    show(&mut s, "h = tanh z₁", &h);
    let z2 = h.matmul(&w2)?.add(&b2)?;
    show(&mut s, "z₂ = h·W₂ + b₂", &z2);
    let y_hat = z2.sigmoid()?;
    show(&mut s, "ŷ = σ(z₂)", &y_hat);
    let one = |v: &Tensor| -> Result<Tensor> { v.neg()?.add_scalar(1.0) };
    let loss = y.mul(&y_hat.log()?)?.add(&one(&y)?.mul(&one(&y_hat)?.log()?)?)?.neg()?;
    show(&mut s, "L = −[y log ŷ + (1−y) log(1−ŷ)]", &loss);

    let _ = writeln!(s, "\nBackward pass, by the chain rule, from the loss down");
    let dz2 = y_hat.sub(&y)?;
    show(&mut s, "dL/dz₂ = ŷ − y  (σ′ cancels BCE′)", &dz2);
    let dw2 = h.t()?.matmul(&dz2)?;
    show(&mut s, "dL/dW₂ = hᵀ·dL/dz₂", &dw2);
    let db2 = dz2.sum(&[0], false)?;
    show(&mut s, "dL/db₂ = dL/dz₂", &db2);
    let dh = dz2.matmul(&w2.t()?)?;
    show(&mut s, "dL/dh = dL/dz₂·W₂ᵀ", &dh);
    let dz1 = dh.mul(&one(&h.mul(&h)?)?)?;
    show(&mut s, "dL/dz₁ = dL/dh ⊙ (1 − h²)", &dz1);
    let dw1 = x.t()?.matmul(&dz1)?;
    show(&mut s, "dL/dW₁ = xᵀ·dL/dz₁", &dw1);
    let db1 = dz1.sum(&[0], false)?;
    show(&mut s, "dL/db₁ = dL/dz₁", &db1);

    let _ = writeln!(s, "\nThe autograd engine, from the same forward code on Vars");
    let p = |name: &str, v: &Tensor| Var::parameter(v.clone(), name);
    let (vw1, vb1, vw2, vb2) = (p("W₁", &w1), p("b₁", &b1), p("W₂", &w2), p("b₂", &b2));
    let out = Var::constant(x.clone()).matmul(&vw1)?.add(&vb1)?.tanh()?.matmul(&vw2)?.add(&vb2)?.sigmoid()?;
    let l = out.binary_cross_entropy(&y, Reduction::Mean)?;
    l.backward()?;
    let mut worst = 0f64;
    for (var, by_hand) in [(&vw1, &dw1), (&vb1, &db1), (&vw2, &dw2), (&vb2, &db2)] {
        let g = var.grad().expect("parameters get gradients");
        show(&mut s, &format!("autograd dL/d{}", var.name().unwrap_or("?")), &g);
        worst = g.to_f64_vec().iter().zip(by_hand.to_f64_vec()).map(|(a, b)| (a - b).abs()).fold(worst, f64::max);
    }
    let _ = writeln!(s, "\nlargest difference between the hand-derived and autograd gradients: {worst:.1e}");
    Ok((s, l.to_dot_with_values()?, worst))
}

#[cfg(test)]
mod tests {
    #[test]
    fn hand_derived_gradients_equal_autograds() {
        let (text, dot, worst) = super::walkthrough().unwrap();
        assert!(worst < 1e-12, "{worst}");
        assert!(text.contains("dL/dW₁ = xᵀ·dL/dz₁"));
        assert!(dot.contains("tanh") && dot.contains("W₁") && dot.contains("grad [") && dot.contains("constant"));
    }
}
