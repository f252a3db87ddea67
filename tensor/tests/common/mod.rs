//! Helpers shared by the tensor crate's GPU test binaries.

use tensor::Tensor;

/// max |a − b| / max(1, |b|) over the elements; NaN where any is NaN (`total_cmp` ranks NaN above
/// all), so a NaN fails its `err ≤ tolerance` check instead of being skipped.
pub fn max_rel_err(a: &Tensor, b: &Tensor) -> f64 {
    a.to_f64_vec()
        .iter()
        .zip(b.to_f64_vec())
        .map(|(x, y)| (x - y).abs() / y.abs().max(1.0))
        .max_by(f64::total_cmp)
        .unwrap_or(0.0)
}
