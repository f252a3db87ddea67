//! Sinusoidal positional encoding (Vaswani et al. 2017), F5.

use tensor::{DType, Tensor};

/// `PE[pos, 2i] = sin(pos / 10000^{2i/d})`, `PE[pos, 2i+1] = cos(pos / 10000^{2i/d})`, shape
/// `(positions, d)`. (Each of the two is its own column; they are not summed.)
pub fn sinusoidal_positions(positions: usize, d: usize, dtype: DType) -> tensor::Result<Tensor> {
    let values: Vec<f64> = (0..positions)
        .flat_map(|pos| {
            (0..d).map(move |j| {
                let angle = pos as f64 / 10000f64.powf((j - j % 2) as f64 / d as f64);
                if j % 2 == 0 {
                    angle.sin()
                } else {
                    angle.cos()
                }
            })
        })
        .collect();
    Ok(Tensor::from_vec(values, &[positions, d])?.to_dtype(dtype))
}
