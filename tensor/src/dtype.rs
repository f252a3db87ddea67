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
element!(bf16, BF16, |x| x.to_f64(), |y| bf16_from_f64(y));
element!(f16, F16, |x| x.to_f64(), |y| f16::from_f64(y));
element!(u32, U32, |x| x as f64, |y| y as u32);
element!(i64, I64, |x| x as f64, |y| y as i64);

/// `y` rounded to the nearest bf16, ties to even. `half`'s `bf16::from_f64` (2.7) rounds some values
/// just above a tie down (1.003907 to 1, not 1.0078125), and rounding to f32 first would round
/// twice (1 + 2⁻⁸ + 2⁻⁴⁰ to the tie 1 + 2⁻⁸, then to 1). So: to f32 rounding to odd — an inexact
/// result keeps a sticky last bit, and no false tie is left — then to bf16 by `bf16::from_f32`.
fn bf16_from_f64(y: f64) -> bf16 {
    let f = y as f32;
    if !f.is_finite() || f64::from(f) == y {
        return bf16::from_f32(f);
    }
    // `y` lies strictly between two f32: the one toward zero, its last bit set.
    let toward_zero = if f64::from(f).abs() > y.abs() { f32::from_bits(f.to_bits() - 1) } else { f };
    bf16::from_f32(f32::from_bits(toward_zero.to_bits() | 1))
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bf16_from_f64_rounds_to_nearest_even_once() {
        let e = |p: i32| 2f64.powi(p);
        for (y, want) in [
            (1.0 + e(-8), 1.0),                  // a tie: to the even neighbour
            (1.0 + 3.0 * e(-8), 1.0 + e(-6)),    // a tie: to the even neighbour, up
            (1.0 + e(-8) + e(-40), 1.0 + e(-7)), // just above a tie, below f32's resolution
            (1.0 + e(-8) + e(-20), 1.0 + e(-7)), // just above a tie, within it
            (1.0 + e(-8) - e(-40), 1.0),         // just below a tie
            (-(1.0 + e(-8) + e(-40)), -(1.0 + e(-7))),
            (1e-50, 0.0),
            (1e300, f64::INFINITY),
        ] {
            assert_eq!(<bf16 as Element>::from_f64(y).to_f64(), want, "{y:e}");
        }
        // Every f32 in a stretch above 1 (whole ranges of ties and near-ties): as bf16::from_f32.
        for bits in (0x3f80_0000u32..0x3f90_0000).step_by(3) {
            let x = f32::from_bits(bits);
            assert_eq!(<bf16 as Element>::from_f64(f64::from(x)), bf16::from_f32(x), "{x}");
        }
        assert!(<bf16 as Element>::from_f64(f64::NAN).is_nan());
    }
}
