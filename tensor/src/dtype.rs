//! Element types: what a tensor's storage holds, and how each converts.

use half::{bf16, f16};
use kernels::Float;
use std::borrow::Cow;

/// The element type of a tensor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DType {
    F32,
    /// CPU only; exists so gradient checks are exact enough to mean something.
    F64,
    BF16,
    F16,
    /// Token ids.
    U32,
    /// Token ids, class indices (PyTorch's `long`).
    I64,
}

impl DType {
    pub fn is_float(self) -> bool {
        matches!(self, DType::F32 | DType::F64 | DType::BF16 | DType::F16)
    }

    pub fn size_in_bytes(self) -> usize {
        match self {
            DType::F64 | DType::I64 => 8,
            DType::F32 | DType::U32 => 4,
            DType::BF16 | DType::F16 => 2,
        }
    }
}

/// A Rust type that can be a tensor element.
pub trait Element: Copy + Send + Sync + PartialOrd + std::fmt::Debug + 'static {
    const DTYPE: DType;
    fn to_f64(self) -> f64;
    fn from_f64(x: f64) -> Self;
}

macro_rules! element {
    ($t:ty, $dtype:ident, |$x:ident| $to:expr, |$y:ident| $from:expr) => {
        impl Element for $t {
            const DTYPE: DType = DType::$dtype;
            #[inline(always)]
            fn to_f64(self) -> f64 {
                let $x = self;
                $to
            }
            #[inline(always)]
            fn from_f64($y: f64) -> Self {
                $from
            }
        }
    };
}

element!(f32, F32, |x| x as f64, |y| y as f32);
element!(f64, F64, |x| x, |y| y);
element!(bf16, BF16, |x| x.to_f64(), |y| bf16::from_f64(y));
element!(f16, F16, |x| x.to_f64(), |y| f16::from_f64(y));
element!(u32, U32, |x| x as f64, |y| y as u32);
element!(i64, I64, |x| x as f64, |y| y as i64);

/// A floating-point element. Math runs in its `Compute` type: itself for f32/f64, f32 for the
/// 16-bit types (stored in 16 bits, computed in 32, as mixed-precision training does).
pub trait FloatElement: Element {
    type Compute: Float;
    fn to_compute(self) -> Self::Compute;
    fn from_compute(x: Self::Compute) -> Self;
    /// The slice in the compute type: borrowed when that is the same type, converted otherwise.
    fn compute_slice(s: &[Self]) -> Cow<'_, [Self::Compute]>;
    /// A compute-type vector back in the storage type (a move when the types are the same).
    fn from_compute_vec(v: Vec<Self::Compute>) -> Vec<Self>;
}

/// f32 and f64 compute in themselves: every conversion is the identity.
macro_rules! native_float {
    ($($t:ty),*) => {$(
        impl FloatElement for $t {
            type Compute = $t;
            #[inline(always)]
            fn to_compute(self) -> $t {
                self
            }
            #[inline(always)]
            fn from_compute(x: $t) -> Self {
                x
            }
            fn compute_slice(s: &[Self]) -> Cow<'_, [$t]> {
                Cow::Borrowed(s)
            }
            fn from_compute_vec(v: Vec<$t>) -> Vec<Self> {
                v
            }
        }
    )*};
}

/// bf16 and f16 are stored in 16 bits and computed in f32.
macro_rules! half_float {
    ($($t:ty),*) => {$(
        impl FloatElement for $t {
            type Compute = f32;
            #[inline(always)]
            fn to_compute(self) -> f32 {
                self.to_f32()
            }
            #[inline(always)]
            fn from_compute(x: f32) -> Self {
                <$t>::from_f32(x)
            }
            fn compute_slice(s: &[Self]) -> Cow<'_, [f32]> {
                Cow::Owned(s.iter().map(|x| x.to_f32()).collect())
            }
            fn from_compute_vec(v: Vec<f32>) -> Vec<Self> {
                v.into_iter().map(<$t>::from_f32).collect()
            }
        }
    )*};
}

native_float!(f32, f64);
half_float!(bf16, f16);
