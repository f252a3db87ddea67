//! Elementwise ops and their derivatives. Binary ops broadcast (numpy rules); the gradient of a
//! broadcast operand is summed back to its shape (`sum_to_shape`), the adjoint of broadcasting.

use crate::Var;
use tensor::{GeluApproximation, Result, Tensor};

/// Sums a gradient back to an operand's shape (undoing broadcasting).
fn unbroadcast(g: Tensor, shape: &[usize]) -> Result<Tensor> {
    g.sum_to_shape(shape)
}

impl Var {
    /// `z = x + y`; `dx = dz`, `dy = dz` (each summed to its operand's shape).
    pub fn add(&self, rhs: &Var) -> Result<Var> {
        let (xs, ys) = (self.shape(), rhs.shape());
        let z = self.value().add(&rhs.value())?;
        Ok(Var::from_op("add", z, &[self, rhs], move |g| {
            Ok(vec![Some(unbroadcast(g.clone(), &xs)?), Some(unbroadcast(g.clone(), &ys)?)])
        }))
    }

    /// `z = x − y`; `dx = dz`, `dy = −dz`.
    pub fn sub(&self, rhs: &Var) -> Result<Var> {
        let (xs, ys) = (self.shape(), rhs.shape());
        let z = self.value().sub(&rhs.value())?;
        Ok(Var::from_op("sub", z, &[self, rhs], move |g| {
            Ok(vec![Some(unbroadcast(g.clone(), &xs)?), Some(unbroadcast(g.neg()?, &ys)?)])
        }))
    }

    /// `z = x ⊙ y`; `dx = dz ⊙ y`, `dy = dz ⊙ x`.
    pub fn mul(&self, rhs: &Var) -> Result<Var> {
        let (x, y) = (self.value(), rhs.value());
        let z = x.mul(&y)?;
        Ok(Var::from_op("mul", z, &[self, rhs], move |g| {
            Ok(vec![Some(unbroadcast(g.mul(&y)?, x.shape())?), Some(unbroadcast(g.mul(&x)?, y.shape())?)])
        }))
    }

    /// `z = x / y`; `dx = dz / y`, `dy = −dz ⊙ x / y²`.
    pub fn div(&self, rhs: &Var) -> Result<Var> {
        let (x, y) = (self.value(), rhs.value());
        let z = x.div(&y)?;
        Ok(Var::from_op("div", z, &[self, rhs], move |g| {
            let dx = g.div(&y)?;
            let dy = dx.mul(&x)?.div(&y)?.neg()?;
            Ok(vec![Some(unbroadcast(dx, x.shape())?), Some(unbroadcast(dy, y.shape())?)])
        }))
    }

    /// `z = xʸ`; `dx = dz ⊙ y·xʸ⁻¹`, `dy = dz ⊙ xʸ·ln x` (x > 0 where `dy` matters).
    pub fn pow(&self, rhs: &Var) -> Result<Var> {
        let (x, y) = (self.value(), rhs.value());
        let z = x.pow(&y)?;
        let zc = z.clone();
        Ok(Var::from_op("pow", z, &[self, rhs], move |g| {
            let dx = g.mul(&y)?.mul(&x.pow(&y.sub_scalar(1.0)?)?)?;
            let dy = g.mul(&zc)?.mul(&x.log()?)?;
            Ok(vec![Some(unbroadcast(dx, x.shape())?), Some(unbroadcast(dy, y.shape())?)])
        }))
    }

    /// `z = max(x, y)`; the gradient goes to the larger operand (to `x` on ties).
    pub fn maximum(&self, rhs: &Var) -> Result<Var> {
        self.select_by(rhs, "maximum", |x, y| x.ge(y))
    }

    /// `z = min(x, y)`; the gradient goes to the smaller operand (to `x` on ties).
    pub fn minimum(&self, rhs: &Var) -> Result<Var> {
        self.select_by(rhs, "minimum", |x, y| x.le(y))
    }

    fn select_by(&self, rhs: &Var, name: &'static str, pick_x: fn(&Tensor, &Tensor) -> Result<Tensor>) -> Result<Var> {
        let (x, y) = (self.value(), rhs.value());
        let mask = pick_x(&x, &y)?;
        let z = mask.where_cond(&x, &y)?;
        let (xs, ys) = (x.shape().to_vec(), y.shape().to_vec());
        Ok(Var::from_op(name, z, &[self, rhs], move |g| {
            let zero = g.zeros_like();
            let dx = mask.where_cond(g, &zero)?;
            let dy = mask.where_cond(&zero, g)?;
            Ok(vec![Some(unbroadcast(dx, &xs)?), Some(unbroadcast(dy, &ys)?)])
        }))
    }

    /// Builds a unary op whose derivative is `dx = dz ⊙ f′`, with `f′` computed from `x` and `z`.
    fn unary_op(
        &self,
        name: &'static str,
        forward: impl Fn(&Tensor) -> Result<Tensor>,
        derivative: impl Fn(&Tensor, &Tensor, &Tensor) -> Result<Tensor> + Send + Sync + 'static,
    ) -> Result<Var> {
        let x = self.value();
        let z = forward(&x)?;
        let zc = z.clone();
        Ok(Var::from_op(name, z, &[self], move |g| Ok(vec![Some(derivative(g, &x, &zc)?)])))
    }

    /// `z = −x`; `dx = −dz`.
    pub fn neg(&self) -> Result<Var> {
        self.unary_op("neg", Tensor::neg, |g, _, _| g.neg())
    }

    /// `z = eˣ`; `dx = dz ⊙ z`.
    pub fn exp(&self) -> Result<Var> {
        self.unary_op("exp", Tensor::exp, |g, _, z| g.mul(z))
    }

    /// `z = ln x`; `dx = dz / x`.
    pub fn log(&self) -> Result<Var> {
        self.unary_op("log", Tensor::log, |g, x, _| g.div(x))
    }

    /// `z = √x`; `dx = dz / (2z)`.
    pub fn sqrt(&self) -> Result<Var> {
        self.unary_op("sqrt", Tensor::sqrt, |g, _, z| g.div(&z.mul_scalar(2.0)?))
    }

    /// `z = tanh x`; `dx = dz ⊙ (1 − z²)`.
    pub fn tanh(&self) -> Result<Var> {
        self.unary_op("tanh", Tensor::tanh, |g, _, z| g.mul(&z.mul(z)?.neg()?.add_scalar(1.0)?))
    }

    /// `z = σ(x) = 1/(1 + e⁻ˣ)`; `dx = dz ⊙ z(1 − z)`.
    pub fn sigmoid(&self) -> Result<Var> {
        self.unary_op("sigmoid", Tensor::sigmoid, |g, _, z| g.mul(&z.mul(&z.neg()?.add_scalar(1.0)?)?))
    }

    /// `z = max(x, 0)`; `dx = dz ⊙ [x > 0]`.
    pub fn relu(&self) -> Result<Var> {
        self.unary_op("relu", Tensor::relu, |g, x, _| {
            x.cmp_scalar(0.0, tensor::CmpOp::Gt)?.where_cond(g, &g.zeros_like())
        })
    }

    /// `z = |x|`; `dx = dz ⊙ sign(x)`.
    pub fn abs(&self) -> Result<Var> {
        self.unary_op("abs", Tensor::abs, |g, x, _| {
            let sign = x.cmp_scalar(0.0, tensor::CmpOp::Gt)?.where_cond(&x.ones_like(), &x.ones_like().neg()?)?;
            let sign = x.cmp_scalar(0.0, tensor::CmpOp::Eq)?.where_cond(&x.zeros_like(), &sign)?;
            g.mul(&sign)
        })
    }

    /// GELU, `z = x·Φ(x)` (erf) or its tanh approximation; `dx = dz ⊙ gelu′(x)` by the fused
    /// kernel (formulas on `kernels::gelu`).
    pub fn gelu(&self, approx: GeluApproximation) -> Result<Var> {
        let name = match approx {
            GeluApproximation::Erf => "gelu_erf",
            GeluApproximation::Tanh => "gelu_tanh",
        };
        self.unary_op(name, move |x| x.unary(tensor::UnaryOp::Gelu(approx)), move |g, x, _| x.gelu_backward(g, approx))
    }

    /// `z = x + s`; `dx = dz`.
    pub fn add_scalar(&self, s: f64) -> Result<Var> {
        self.unary_op("add_scalar", move |x| x.add_scalar(s), |g, _, _| Ok(g.clone()))
    }

    /// `z = x − s`; `dx = dz`.
    pub fn sub_scalar(&self, s: f64) -> Result<Var> {
        self.add_scalar(-s)
    }

    /// `z = x·s`; `dx = s·dz`.
    pub fn mul_scalar(&self, s: f64) -> Result<Var> {
        self.unary_op("mul_scalar", move |x| x.mul_scalar(s), move |g, _, _| g.mul_scalar(s))
    }

    /// `z = x / s`; `dx = dz / s`.
    pub fn div_scalar(&self, s: f64) -> Result<Var> {
        self.unary_op("div_scalar", move |x| x.div_scalar(s), move |g, _, _| g.div_scalar(s))
    }

    /// `z = xˢ`; `dx = dz ⊙ s·xˢ⁻¹`.
    pub fn powf(&self, s: f64) -> Result<Var> {
        self.unary_op("powf", move |x| x.powf(s), move |g, x, _| g.mul(&x.powf(s - 1.0)?.mul_scalar(s)?))
    }
}
