//! `exp` for f32 without branches or library calls, so loops that use it vectorise (softmax,
//! GELU, cross-entropy spend most of their time in `exp`; the C library's `expf` is one scalar call
//! per element).
//!
//! `eˣ = 2ⁿ·eʳ` with `n = round(x·log₂e)` and `r = x − n·ln 2 ∈ [−½ln 2, ½ln 2]`; `eʳ` is a degree-7
//! polynomial (Cephes' `expf` coefficients), `ln 2` is split in two parts so `r` is exact to f32
//! precision, and `2ⁿ` is built from its exponent bits in two halves so every intermediate is a
//! normal number (the result may be subnormal). Within 2 ulp of the exact value (a test checks a
//! sweep of the whole range); `−∞ → 0`, `+∞ → +∞`, NaN → NaN, overflow → `+∞`.

/// Above this, `eˣ` overflows f32 (`ln(f32::MAX)`).
const MAX_ARG: f32 = 88.722_84;
/// Below this, `eˣ` rounds to 0 even as a subnormal (`ln 2⁻¹⁵⁰ ≈ −103.97`).
const MIN_ARG: f32 = -104.0;
const LOG2_E: f32 = std::f32::consts::LOG2_E;
/// `ln 2 = LN2_HI + LN2_LO`, with `LN2_HI` exact in few bits so `n·LN2_HI` is exact.
const LN2_HI: f32 = 0.693_359_4;
const LN2_LO: f32 = -2.121_944_4e-4;
/// `1.5·2²³`: adding then subtracting it rounds an f32 of magnitude < 2²² to the nearest integer.
const ROUND_TO_INT: f32 = 12_582_912.0;

/// `eˣ` for f32, branch-free (see the module documentation).
#[inline(always)]
pub fn expf(x: f32) -> f32 {
    let xc = x.clamp(MIN_ARG, MAX_ARG);
    let shifted = xc * LOG2_E + ROUND_TO_INT;
    let n = shifted - ROUND_TO_INT;
    let r = (xc - n * LN2_HI) - n * LN2_LO;
    // eʳ ≈ 1 + r + r²·(½ + r/6 + r²/24 + …), Cephes' minimax coefficients.
    let p = 1.987_569_1e-4_f32;
    let p = p * r + 1.398_199_9e-3;
    let p = p * r + 8.333_452e-3;
    let p = p * r + 4.166_579_6e-2;
    let p = p * r + 1.666_666_5e-1;
    let p = p * r + 0.5;
    let er = p * (r * r) + r + 1.0;
    // 2ⁿ = 2^(n/2, rounded down) · 2^(the rest), each a normal number for n ∈ [−150, 128].
    // n sits in the low mantissa bits of `shifted` (an integer read without a float→int conversion,
    // which does not vectorise).
    let n = shifted.to_bits() as i32 - ROUND_TO_INT.to_bits() as i32;
    let half = n >> 1;
    let pow2 = |k: i32| f32::from_bits(((k + 127) as u32) << 23);
    let y = er * pow2(half) * pow2(n - half);
    if x > MAX_ARG {
        f32::INFINITY
    } else {
        y
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Distance in units in the last place between an f32 and the exact (f64) value.
    fn ulps(got: f32, exact: f64) -> f64 {
        let rounded = exact as f32;
        if rounded.is_infinite() {
            // Beyond f32::MAX once rounded: any value at least f32::MAX is as good as exact.
            return if got >= f32::MAX { 0.0 } else { f64::INFINITY };
        }
        let ulp = (f32::from_bits(rounded.to_bits() + 1) - rounded).abs() as f64;
        let ulp = if ulp > 0.0 { ulp } else { f32::from_bits(1) as f64 };
        (got as f64 - exact).abs() / ulp
    }

    #[test]
    fn within_two_ulp_over_the_whole_range() {
        let mut worst = (0.0, 0.0f32);
        let steps = 2_000_000;
        for i in 0..=steps {
            let x = MIN_ARG + (MAX_ARG - MIN_ARG) * i as f32 / steps as f32;
            let err = ulps(expf(x), (x as f64).exp());
            if err > worst.0 {
                worst = (err, x);
            }
        }
        assert!(worst.0 <= 2.0, "{} ulp at x = {}", worst.0, worst.1);
    }

    #[test]
    fn small_arguments_and_exact_points() {
        for x in [0.0f32, -0.0, 1e-8, -1e-8, 1e-3, 0.5, -0.5, 1.0, -1.0, 10.0, -10.0] {
            assert!(ulps(expf(x), (x as f64).exp()) <= 2.0, "x = {x}");
        }
        assert_eq!(expf(0.0), 1.0);
    }

    #[test]
    fn special_values() {
        assert_eq!(expf(f32::NEG_INFINITY), 0.0);
        assert_eq!(expf(-200.0), 0.0);
        assert_eq!(expf(f32::INFINITY), f32::INFINITY);
        assert_eq!(expf(89.0), f32::INFINITY);
        assert!(expf(f32::NAN).is_nan());
        // Subnormal results are kept, not flushed to zero.
        let tiny = expf(-100.0);
        assert!(tiny > 0.0 && tiny < f32::MIN_POSITIVE);
        assert!(ulps(expf(88.7), (88.7f32 as f64).exp()) <= 2.0);
    }
}
