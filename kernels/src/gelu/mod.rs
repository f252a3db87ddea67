//! GELU, the Gaussian error linear unit, in its exact (erf) and tanh-approximate forms.

pub mod cuda;

use crate::cpu::elementwise::{map, zip, Written};
use crate::Float;

/// `√(2/π)`
const SQRT_2_OVER_PI: f64 = 0.797_884_560_802_865_4;
/// `1/√2`
const FRAC_1_SQRT_2: f64 = std::f64::consts::FRAC_1_SQRT_2;
/// `1/√(2π)`
const FRAC_1_SQRT_2PI: f64 = 0.398_942_280_401_432_7;

/// Which GELU: the exact one or GPT-2's tanh approximation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GeluApproximation {
    /// `gelu(x) = x·Φ(x) = ½x(1 + erf(x/√2))`
    Erf,
    /// `gelu(x) ≈ ½x(1 + tanh(u))`, `u = √(2/π)(x + 0.044715x³)`
    Tanh,
}

/// One value of GELU (see [`GeluApproximation`] for the two formulas). The tanh form is computed
/// through the identity `½(1 + tanh u) = σ(2u) = 1/(1 + e^{−2u})`: one `exp` instead of a `tanh`
/// (which costs two), and no cancellation anywhere.
#[inline(always)]
pub fn gelu_scalar<T: Float>(x: T, approx: GeluApproximation) -> T {
    match approx {
        GeluApproximation::Erf => T::from_f64(0.5) * x * (T::ONE + (x * T::from_f64(FRAC_1_SQRT_2)).erf()),
        GeluApproximation::Tanh => x * sigmoid_2u(x),
    }
}

/// `σ(2u)` with `u = √(2/π)(x + 0.044715x³)`, i.e. `½(1 + tanh u)`.
#[inline(always)]
fn sigmoid_2u<T: Float>(x: T) -> T {
    let u = T::from_f64(SQRT_2_OVER_PI) * (x + T::from_f64(0.044715) * x * x * x);
    T::ONE / (T::ONE + (T::from_f64(-2.0) * u).exp())
}

/// The derivative of GELU at `x`:
/// - erf: `Φ(x) + x·φ(x)`, `φ(x) = exp(−x²/2)/√(2π)`;
/// - tanh: `½(1 + tanh u) + ½x(1 − tanh²u)·√(2/π)(1 + 3·0.044715x²)`, computed as below.
#[inline(always)]
pub fn gelu_derivative<T: Float>(x: T, approx: GeluApproximation) -> T {
    let half = T::from_f64(0.5);
    match approx {
        GeluApproximation::Erf => {
            let cdf = half * (T::ONE + (x * T::from_f64(FRAC_1_SQRT_2)).erf());
            let pdf = (-half * x * x).exp() * T::from_f64(FRAC_1_SQRT_2PI);
            cdf + x * pdf
        }
        GeluApproximation::Tanh => {
            // With s = σ(2u) = ½(1 + tanh u): ½(1 − tanh²u) = 2s(1 − s), so
            // gelu′(x) = s + x·2s(1 − s)·√(2/π)(1 + 3·0.044715x²).
            let s = sigmoid_2u(x);
            let du = T::from_f64(SQRT_2_OVER_PI) * (T::ONE + T::from_f64(3.0 * 0.044715) * x * x);
            s + x * T::from_f64(2.0) * s * (T::ONE - s) * du
        }
    }
}

/// `y = gelu(x)` elementwise, in parallel; `y` is written, never read (its elements may be
/// uninitialised: `MaybeUninit`).
pub fn gelu<T: Float, Y: Written<T>>(x: &[T], y: &mut [Y], approx: GeluApproximation) {
    // One loop per approximation, so the loop body has no branch and vectorises.
    match approx {
        GeluApproximation::Erf => map(x, y, |x| Y::written(gelu_scalar(x, GeluApproximation::Erf))),
        GeluApproximation::Tanh => map(x, y, |x| Y::written(gelu_scalar(x, GeluApproximation::Tanh))),
    }
}

/// `dx = dy ⊙ gelu′(x)` elementwise, in parallel; `dx` is written, never read.
pub fn gelu_backward<T: Float, D: Written<T>>(x: &[T], dy: &[T], dx: &mut [D], approx: GeluApproximation) {
    match approx {
        GeluApproximation::Erf => zip(x, dy, dx, |x, dy| D::written(dy * gelu_derivative(x, GeluApproximation::Erf))),
        GeluApproximation::Tanh => zip(x, dy, dx, |x, dy| D::written(dy * gelu_derivative(x, GeluApproximation::Tanh))),
    }
}

/// The reference for [`gelu`]: each formula of [`GeluApproximation`] as written (`erf` from libm,
/// `tanh` itself), in f64 — what the tests and `emergent bench kernels` compare the kernel against.
pub fn gelu_naive(x: &[f64], approx: GeluApproximation) -> Vec<f64> {
    x.iter()
        .map(|&x| match approx {
            GeluApproximation::Erf => 0.5 * x * (1.0 + libm::erf(x * FRAC_1_SQRT_2)),
            GeluApproximation::Tanh => 0.5 * x * (1.0 + (SQRT_2_OVER_PI * (x + 0.044715 * x * x * x)).tanh()),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_values() {
        // gelu(1) = Φ(1) = 0.8413447460685429; the tanh form is within 1e-3 of it.
        assert!((gelu_scalar(1.0f64, GeluApproximation::Erf) - 0.841_344_746_068_542_9).abs() < 1e-15);
        assert!((gelu_scalar(1.0f64, GeluApproximation::Tanh) - 0.841_344_746_068_542_9).abs() < 1e-3);
        assert_eq!(gelu_scalar(0.0f64, GeluApproximation::Tanh), 0.0);
    }

    #[test]
    fn derivative_matches_finite_differences() {
        for approx in [GeluApproximation::Erf, GeluApproximation::Tanh] {
            for &x in &[-3.0f64, -0.7, 0.0, 0.4, 2.5] {
                let h = 1e-6;
                let fd = (gelu_scalar(x + h, approx) - gelu_scalar(x - h, approx)) / (2.0 * h);
                assert!((fd - gelu_derivative(x, approx)).abs() < 1e-8, "{approx:?} at {x}");
            }
        }
    }

    /// Over several parallel chunks with a partial last one, against the formulas as written.
    #[test]
    fn every_chunk_matches_the_formulas() {
        let x: Vec<f64> = (0..100_003).map(|i| ((i * 7919 % 2003) as f64 / 200.3 - 5.0) * 1.3).collect();
        for approx in [GeluApproximation::Erf, GeluApproximation::Tanh] {
            let mut y = vec![0.0; x.len()];
            gelu(&x, &mut y, approx);
            let worst = y.iter().zip(gelu_naive(&x, approx)).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
            assert!(worst < 1e-12, "{approx:?}: off by {worst}");
        }
    }
}
