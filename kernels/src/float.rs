//! The scalar types the compute kernels are generic over (f32 and f64).

use std::fmt::Debug;
use std::iter::Sum;
use std::ops::{Add, AddAssign, Div, DivAssign, Mul, MulAssign, Neg, Sub, SubAssign};

/// A floating-point scalar the kernels compute in. f32 is the workhorse; f64 exists so gradient
/// checks are exact enough to mean something.
pub trait Float:
    Copy
    + Send
    + Sync
    + Default
    + Debug
    + PartialOrd
    + 'static
    + Add<Output = Self>
    + Sub<Output = Self>
    + Mul<Output = Self>
    + Div<Output = Self>
    + Neg<Output = Self>
    + AddAssign
    + SubAssign
    + MulAssign
    + DivAssign
    + Sum
{
    const ZERO: Self;
    const ONE: Self;
    const NEG_INFINITY: Self;
    fn from_f64(x: f64) -> Self;
    fn to_f64(self) -> f64;
    /// `eˣ`: for f32 the branch-free [`crate::expf::expf`] (≤ 2 ulp, vectorises), for f64 libm's.
    fn exp(self) -> Self;
    fn ln(self) -> Self;
    fn sqrt(self) -> Self;
    fn tanh(self) -> Self;
    fn erf(self) -> Self;
    fn powf(self, e: Self) -> Self;
    fn abs(self) -> Self;
    /// The larger of the two, or NaN when either is NaN (IEEE 754-2019 `maximum`, as
    /// `torch.maximum`): a NaN is never dropped, unlike `f32::max`, which returns the other value.
    fn max(self, other: Self) -> Self;
    /// The smaller of the two, or NaN when either is NaN (`torch.minimum`).
    fn min(self, other: Self) -> Self;
    fn mul_add(self, a: Self, b: Self) -> Self;
    fn is_finite(self) -> bool;
}

macro_rules! impl_float {
    ($t:ty, $erf:path, $exp:path) => {
        impl Float for $t {
            const ZERO: Self = 0.0;
            const ONE: Self = 1.0;
            const NEG_INFINITY: Self = <$t>::NEG_INFINITY;
            #[inline(always)]
            fn from_f64(x: f64) -> Self {
                x as $t
            }
            #[inline(always)]
            fn to_f64(self) -> f64 {
                self as f64
            }
            #[inline(always)]
            fn exp(self) -> Self {
                $exp(self)
            }
            #[inline(always)]
            fn ln(self) -> Self {
                <$t>::ln(self)
            }
            #[inline(always)]
            fn sqrt(self) -> Self {
                <$t>::sqrt(self)
            }
            #[inline(always)]
            fn tanh(self) -> Self {
                <$t>::tanh(self)
            }
            #[inline(always)]
            fn erf(self) -> Self {
                $erf(self)
            }
            #[inline(always)]
            fn powf(self, e: Self) -> Self {
                <$t>::powf(self, e)
            }
            #[inline(always)]
            fn abs(self) -> Self {
                <$t>::abs(self)
            }
            #[inline(always)]
            fn max(self, other: Self) -> Self {
                if self > other || self.is_nan() {
                    self
                } else {
                    other
                }
            }
            #[inline(always)]
            fn min(self, other: Self) -> Self {
                if self < other || self.is_nan() {
                    self
                } else {
                    other
                }
            }
            #[inline(always)]
            fn mul_add(self, a: Self, b: Self) -> Self {
                <$t>::mul_add(self, a, b)
            }
            #[inline(always)]
            fn is_finite(self) -> bool {
                <$t>::is_finite(self)
            }
        }
    };
}

impl_float!(f32, libm::erff, crate::expf::expf);
impl_float!(f64, libm::erf, f64::exp);

#[cfg(test)]
mod tests {
    use super::Float;

    #[test]
    fn max_and_min_keep_nan_from_either_side() {
        for (a, b) in [(f32::NAN, 1.0), (1.0, f32::NAN), (f32::NAN, f32::NEG_INFINITY), (f32::NEG_INFINITY, f32::NAN)] {
            assert!(Float::max(a, b).is_nan() && Float::min(a, b).is_nan(), "{a} {b}");
        }
        assert_eq!(Float::max(2.0f32, -3.0), 2.0);
        assert_eq!(Float::min(2.0f64, -3.0), -3.0);
        assert_eq!(Float::max(f64::NEG_INFINITY, -1e300), -1e300);
    }
}
