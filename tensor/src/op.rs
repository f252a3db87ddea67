//! The elementwise and reduction operations as data: one enum per family, each variant with its
//! formula. Backends match on these; the autograd layer states their derivatives.

use kernels::gelu::gelu_scalar;
pub use kernels::gelu::GeluApproximation;
use kernels::Float;

/// `y = f(x)` elementwise.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum UnaryOp {
    /// `−x`
    Neg,
    /// `eˣ`
    Exp,
    /// `ln x`
    Log,
    /// `√x`
    Sqrt,
    /// `tanh x`
    Tanh,
    /// `σ(x) = 1/(1 + e⁻ˣ)`
    Sigmoid,
    /// `max(x, 0)`
    Relu,
    /// `|x|`
    Abs,
    /// GELU, exact or tanh-approximate.
    Gelu(GeluApproximation),
    /// `x + s`
    AddScalar(f64),
    /// `x·s`
    MulScalar(f64),
    /// `x / s`
    DivScalar(f64),
    /// `xˢ`
    PowScalar(f64),
}

impl UnaryOp {
    pub fn name(self) -> &'static str {
        match self {
            UnaryOp::Neg => "neg",
            UnaryOp::Exp => "exp",
            UnaryOp::Log => "log",
            UnaryOp::Sqrt => "sqrt",
            UnaryOp::Tanh => "tanh",
            UnaryOp::Sigmoid => "sigmoid",
            UnaryOp::Relu => "relu",
            UnaryOp::Abs => "abs",
            UnaryOp::Gelu(GeluApproximation::Erf) => "gelu_erf",
            UnaryOp::Gelu(GeluApproximation::Tanh) => "gelu_tanh",
            UnaryOp::AddScalar(_) => "add_scalar",
            UnaryOp::MulScalar(_) => "mul_scalar",
            UnaryOp::DivScalar(_) => "div_scalar",
            UnaryOp::PowScalar(_) => "pow_scalar",
        }
    }

    #[inline(always)]
    pub fn apply<T: Float>(self, x: T) -> T {
        match self {
            UnaryOp::Neg => -x,
            UnaryOp::Exp => x.exp(),
            UnaryOp::Log => x.ln(),
            UnaryOp::Sqrt => x.sqrt(),
            UnaryOp::Tanh => x.tanh(),
            UnaryOp::Sigmoid => T::ONE / (T::ONE + (-x).exp()),
            UnaryOp::Relu => x.max(T::ZERO),
            UnaryOp::Abs => x.abs(),
            UnaryOp::Gelu(approx) => gelu_scalar(x, approx),
            UnaryOp::AddScalar(s) => x + T::from_f64(s),
            UnaryOp::MulScalar(s) => x * T::from_f64(s),
            UnaryOp::DivScalar(s) => x / T::from_f64(s),
            UnaryOp::PowScalar(s) => x.powf(T::from_f64(s)),
        }
    }
}

/// `z = f(x, y)` elementwise, with numpy broadcasting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinaryOp {
    Add,
    Sub,
    Mul,
    Div,
    /// `xʸ`
    Pow,
    Maximum,
    Minimum,
}

impl BinaryOp {
    pub fn name(self) -> &'static str {
        match self {
            BinaryOp::Add => "add",
            BinaryOp::Sub => "sub",
            BinaryOp::Mul => "mul",
            BinaryOp::Div => "div",
            BinaryOp::Pow => "pow",
            BinaryOp::Maximum => "maximum",
            BinaryOp::Minimum => "minimum",
        }
    }

    #[inline(always)]
    pub fn apply<T: Float>(self, x: T, y: T) -> T {
        match self {
            BinaryOp::Add => x + y,
            BinaryOp::Sub => x - y,
            BinaryOp::Mul => x * y,
            BinaryOp::Div => x / y,
            BinaryOp::Pow => x.powf(y),
            BinaryOp::Maximum => x.max(y),
            BinaryOp::Minimum => x.min(y),
        }
    }
}

/// `z = (x ⋈ y) ? 1 : 0` elementwise (a u32 mask), with broadcasting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl CmpOp {
    pub fn name(self) -> &'static str {
        match self {
            CmpOp::Eq => "eq",
            CmpOp::Ne => "ne",
            CmpOp::Lt => "lt",
            CmpOp::Le => "le",
            CmpOp::Gt => "gt",
            CmpOp::Ge => "ge",
        }
    }

    #[inline(always)]
    pub fn apply<T: PartialOrd>(self, x: T, y: T) -> bool {
        match self {
            CmpOp::Eq => x == y,
            CmpOp::Ne => x != y,
            CmpOp::Lt => x < y,
            CmpOp::Le => x <= y,
            CmpOp::Gt => x > y,
            CmpOp::Ge => x >= y,
        }
    }
}

/// A reduction over a group of elements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReduceOp {
    /// `Σ xᵢ` (accumulated in f64)
    Sum,
    /// `max xᵢ`
    Max,
    /// `min xᵢ`
    Min,
    /// `argmax xᵢ` (first index of the maximum; an i64 tensor)
    ArgMax,
    /// `argmin xᵢ` (first index of the minimum; an i64 tensor)
    ArgMin,
}

impl ReduceOp {
    pub fn name(self) -> &'static str {
        match self {
            ReduceOp::Sum => "sum",
            ReduceOp::Max => "max",
            ReduceOp::Min => "min",
            ReduceOp::ArgMax => "argmax",
            ReduceOp::ArgMin => "argmin",
        }
    }
}
