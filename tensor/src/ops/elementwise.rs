//! Elementwise ops with numpy broadcasting, scalar variants, comparisons, `where`, masks.

use crate::cpu::CpuStorage;
use crate::op::{BinaryOp, CmpOp, GeluApproximation, UnaryOp};
use crate::shape::broadcast_shapes;
use crate::storage::Storage;
use crate::{DType, Error, Result, Tensor};

macro_rules! unary_fns {
    ($($name:ident => $op:expr),* $(,)?) => {$(
        #[doc = concat!("Elementwise `", stringify!($name), "` (see [`UnaryOp`] for the formula).")]
        pub fn $name(&self) -> Result<Tensor> {
            self.unary($op)
        }
    )*};
}

macro_rules! binary_fns {
    ($($name:ident => $op:expr),* $(,)?) => {$(
        #[doc = concat!("Elementwise `", stringify!($name), "` with numpy broadcasting.")]
        pub fn $name(&self, rhs: &Tensor) -> Result<Tensor> {
            self.binary(rhs, $op)
        }
    )*};
}

macro_rules! cmp_fns {
    ($($name:ident => $op:expr),* $(,)?) => {$(
        #[doc = concat!("`1` where `self ", stringify!($name), " rhs`, else `0` (u32), with broadcasting.")]
        pub fn $name(&self, rhs: &Tensor) -> Result<Tensor> {
            self.cmp(rhs, $op)
        }
    )*};
}

impl Tensor {
    pub fn unary(&self, op: UnaryOp) -> Result<Tensor> {
        Ok(Tensor::from_storage(self.storage().unary(self.layout(), op)?, self.shape()))
    }

    unary_fns! {
        neg => UnaryOp::Neg, exp => UnaryOp::Exp, log => UnaryOp::Log, sqrt => UnaryOp::Sqrt,
        tanh => UnaryOp::Tanh, sigmoid => UnaryOp::Sigmoid, relu => UnaryOp::Relu, abs => UnaryOp::Abs,
        gelu_erf => UnaryOp::Gelu(GeluApproximation::Erf), gelu_tanh => UnaryOp::Gelu(GeluApproximation::Tanh),
    }

    /// `x + s`
    pub fn add_scalar(&self, s: f64) -> Result<Tensor> {
        self.unary(UnaryOp::AddScalar(s))
    }

    /// `x − s`
    pub fn sub_scalar(&self, s: f64) -> Result<Tensor> {
        self.unary(UnaryOp::AddScalar(-s))
    }

    /// `x·s`
    pub fn mul_scalar(&self, s: f64) -> Result<Tensor> {
        self.unary(UnaryOp::MulScalar(s))
    }

    /// `x / s`
    pub fn div_scalar(&self, s: f64) -> Result<Tensor> {
        self.unary(UnaryOp::DivScalar(s))
    }

    /// `xˢ`
    pub fn powf(&self, s: f64) -> Result<Tensor> {
        self.unary(UnaryOp::PowScalar(s))
    }

    /// Both operands broadcast to their common shape, checked for dtype and device.
    pub fn broadcast_pair(&self, rhs: &Tensor, op: &'static str) -> Result<(Tensor, Tensor)> {
        self.same_dtype_device(rhs, op)?;
        let shape = broadcast_shapes(op, self.shape(), rhs.shape())?;
        Ok((self.broadcast_to(&shape)?, rhs.broadcast_to(&shape)?))
    }

    pub fn binary(&self, rhs: &Tensor, op: BinaryOp) -> Result<Tensor> {
        let (a, b) = self.broadcast_pair(rhs, op.name())?;
        let storage = a.storage().binary(a.layout(), b.storage(), b.layout(), op)?;
        Ok(Tensor::from_storage(storage, a.shape()))
    }

    binary_fns! {
        add => BinaryOp::Add, sub => BinaryOp::Sub, mul => BinaryOp::Mul, div => BinaryOp::Div,
        pow => BinaryOp::Pow, maximum => BinaryOp::Maximum, minimum => BinaryOp::Minimum,
    }

    pub fn cmp(&self, rhs: &Tensor, op: CmpOp) -> Result<Tensor> {
        let (a, b) = self.broadcast_pair(rhs, op.name())?;
        let storage = a.storage().cmp(a.layout(), b.storage(), b.layout(), op)?;
        Ok(Tensor::from_storage(storage, a.shape()))
    }

    cmp_fns! { eq => CmpOp::Eq, ne => CmpOp::Ne, lt => CmpOp::Lt, le => CmpOp::Le, gt => CmpOp::Gt, ge => CmpOp::Ge }

    /// Compares against a scalar: `1` where `self ⋈ s`.
    pub fn cmp_scalar(&self, s: f64, op: CmpOp) -> Result<Tensor> {
        self.cmp(&Tensor::full_on(&[], s, self.dtype(), self.device())?, op)
    }

    /// `mask ≠ 0 ? on_true : on_false` elementwise; `self` is the u32 mask. All three broadcast.
    pub fn where_cond(&self, on_true: &Tensor, on_false: &Tensor) -> Result<Tensor> {
        if self.dtype() != DType::U32 {
            return Err(Error::invalid(
                "where_cond",
                format!("mask must be u32, got {:?} (shape {:?})", self.dtype(), self.shape()),
            ));
        }
        on_true.same_dtype_device(on_false, "where_cond")?;
        let shape = broadcast_shapes("where_cond", self.shape(), on_true.shape())?;
        let shape = broadcast_shapes("where_cond", &shape, on_false.shape())?;
        let (m, t, f) = (self.broadcast_to(&shape)?, on_true.broadcast_to(&shape)?, on_false.broadcast_to(&shape)?);
        let storage = m.storage().where_cond(m.layout(), (t.storage(), t.layout()), (f.storage(), f.layout()))?;
        Ok(Tensor::from_storage(storage, &shape))
    }

    /// `value` where `mask ≠ 0`, `self` elsewhere (the mask broadcasts to `self`).
    pub fn masked_fill(&self, mask: &Tensor, value: f64) -> Result<Tensor> {
        mask.where_cond(&Tensor::full_on(&[], value, self.dtype(), self.device())?, self)
    }

    /// The `(rows, cols)` u32 mask with ones where `col ≤ row + diagonal` (lower triangle).
    pub fn tril_mask(rows: usize, cols: usize, diagonal: i64) -> Tensor {
        let values: Vec<f64> =
            (0..rows * cols).map(|i| ((i % cols) as i64 <= (i / cols) as i64 + diagonal) as u32 as f64).collect();
        Tensor::from_storage(Storage::Cpu(CpuStorage::from_f64_iter(values.into_iter(), DType::U32)), &[rows, cols])
    }

    /// Keeps the lower triangle (`col ≤ row + diagonal`) of every matrix in the last two dims.
    pub fn tril(&self, diagonal: i64) -> Result<Tensor> {
        let (rows, cols) = self.matrix_dims("tril")?;
        Tensor::tril_mask(rows, cols, diagonal).to_device(self.device())?.where_cond(self, &self.zeros_like())
    }

    /// Keeps the upper triangle (`col ≥ row + diagonal`) of every matrix in the last two dims.
    pub fn triu(&self, diagonal: i64) -> Result<Tensor> {
        let (rows, cols) = self.matrix_dims("triu")?;
        // col ≥ row + d  ⇔  not (col ≤ row + d − 1)
        Tensor::tril_mask(rows, cols, diagonal - 1).to_device(self.device())?.where_cond(&self.zeros_like(), self)
    }

    fn matrix_dims(&self, op: &'static str) -> Result<(usize, usize)> {
        match self.shape() {
            [.., r, c] => Ok((*r, *c)),
            _ => Err(Error::invalid(op, format!("needs rank ≥ 2, got shape {:?}", self.shape()))),
        }
    }
}
