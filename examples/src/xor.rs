//! A two-layer perceptron learns XOR with plain gradient descent (F8): the smallest problem a
//! linear model cannot solve and one hidden layer can.

use autograd::{no_grad, Params, Reduction, Var};
use tensor::{rng, DType, Result, Tensor};

/// The four XOR inputs `(x₁, x₂)` and targets `x₁ ⊕ x₂`.
pub fn xor_data() -> Result<(Tensor, Tensor)> {
    let x = Tensor::from_f64s(&[0., 0., 0., 1., 1., 0., 1., 1.], &[4, 2], DType::F32)?;
    let y = Tensor::from_f64s(&[0., 1., 1., 0.], &[4, 1], DType::F32)?;
    Ok((x, y))
}

/// What training produced.
pub struct XorRun {
    /// Mean binary cross-entropy after each step.
    pub losses: Vec<f64>,
    /// `P(y = 1 | x)` for the four inputs after training.
    pub probabilities: Vec<f64>,
}

/// Trains `2 → hidden (tanh) → 1 (sigmoid)` on XOR for `steps` full-batch steps of
/// `θ ← θ − η∇L`, `L` the mean binary cross-entropy (F7).
pub fn train_xor(hidden: usize, steps: usize, lr: f64, seed: u64) -> Result<XorRun> {
    let (x, y) = xor_data()?;
    let x = Var::constant(x);
    let mut r = rng(seed);
    let mut params = Params::new();
    let w1 = params.add("w1", Tensor::randn(&[2, hidden], 0.0, 1.0, DType::F32, &mut r))?;
    let b1 = params.add("b1", Tensor::zeros(&[hidden], DType::F32))?;
    let w2 = params.add("w2", Tensor::randn(&[hidden, 1], 0.0, 1.0, DType::F32, &mut r))?;
    let b2 = params.add("b2", Tensor::zeros(&[1], DType::F32))?;
    let forward = || -> Result<Var> { x.matmul(&w1)?.add(&b1)?.tanh()?.matmul(&w2)?.add(&b2) };

    let mut losses = Vec::with_capacity(steps);
    for _ in 0..steps {
        let loss = forward()?.bce_with_logits(&y, Reduction::Mean)?;
        params.zero_grad();
        loss.backward()?;
        sgd_step(&params, lr)?;
        losses.push(loss.value().to_scalar()?);
    }
    let probabilities = no_grad(|| forward()?.value().sigmoid())?.to_f64_vec();
    Ok(XorRun { losses, probabilities })
}

/// Plain gradient descent, `θ ← θ − η·∇θL`, for every parameter that received a gradient.
pub fn sgd_step(params: &Params, lr: f64) -> Result<()> {
    no_grad(|| {
        for (_, p) in params.iter() {
            if let Some(g) = p.grad() {
                p.set_value(p.value().sub(&g.mul_scalar(lr)?)?)?;
            }
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mlp_learns_xor() {
        let run = train_xor(8, 1000, 0.5, 0).unwrap();
        assert!(run.losses[0] > 0.5, "starts near chance: {}", run.losses[0]);
        assert!(*run.losses.last().unwrap() < 0.05, "final loss {}", run.losses.last().unwrap());
        let predicted: Vec<u8> = run.probabilities.iter().map(|&p| (p > 0.5) as u8).collect();
        assert_eq!(predicted, vec![0, 1, 1, 0]);
    }
}
