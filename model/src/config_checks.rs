//! The value checks every `config.json` shares: a number read from a file is what its name promises
//! before any layer is built from it.

use crate::{ModelError, Result};

/// `value` is a probability of dropping: in `[0, 1)`.
pub fn probability(model: &str, name: &str, value: f64) -> Result<()> {
    if (0.0..1.0).contains(&value) {
        return Ok(());
    }
    Err(ModelError::Config(format!("{model}: {name} must be in [0, 1), got {value}")))
}

/// `value` is a positive, finite number (a layer norm's ε: 0 divides by zero on a constant row,
/// a negative one takes the square root of a negative number).
pub fn positive(model: &str, name: &str, value: f64) -> Result<()> {
    if value.is_finite() && value > 0.0 {
        return Ok(());
    }
    Err(ModelError::Config(format!("{model}: {name} must be a positive number, got {value}")))
}

/// `value` is finite and not negative (a standard deviation).
pub fn non_negative(model: &str, name: &str, value: f64) -> Result<()> {
    if value.is_finite() && value >= 0.0 {
        return Ok(());
    }
    Err(ModelError::Config(format!("{model}: {name} must be a finite number ≥ 0, got {value}")))
}

/// More parameters than any model trained on one machine (GPT-3 has 1.75·10¹¹): a config asking
/// for them is a mistake, refused before a size is multiplied in `usize`, where it would overflow.
pub const MAX_PARAMETERS: f64 = 1e12;

/// `parameters` (counted in f64, so no product overflows) is at most [`MAX_PARAMETERS`].
pub fn plausible_size(model: &str, parameters: f64) -> Result<()> {
    if parameters <= MAX_PARAMETERS {
        return Ok(());
    }
    Err(ModelError::Config(format!(
        "{model}: these sizes make {parameters:.3e} parameters, more than {MAX_PARAMETERS:.0e}; is a size mistyped?"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_check_refuses_the_edges() {
        assert!(probability("m", "p", 0.0).is_ok() && probability("m", "p", 0.999).is_ok());
        for bad in [1.0, -0.1, f64::NAN] {
            assert!(probability("m", "p", bad).unwrap_err().to_string().contains("m: p must be in [0, 1)"));
        }
        assert!(positive("m", "eps", 1e-12).is_ok());
        for bad in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            assert!(positive("m", "eps", bad).is_err(), "{bad}");
        }
        assert!(non_negative("m", "std", 0.0).is_ok());
        assert!(non_negative("m", "std", -1e-9).is_err() && non_negative("m", "std", f64::NAN).is_err());
        assert!(plausible_size("m", 1.75e11).is_ok());
        assert!(plausible_size("m", 2e12).unwrap_err().to_string().contains("2.000e12 parameters"));
    }
}
