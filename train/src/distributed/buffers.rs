//! Tensors joined into the flat buffers the collectives carry, and cut back out of them, on the
//! device where they live.

use crate::error::{Result, TrainError};
use tensor::{DType, Device, Tensor};

/// Refuses anything but f32 (the collectives carry f32), naming the tensor.
pub fn check_f32(name: &str, what: &str, t: &Tensor) -> Result<()> {
    if t.dtype() != DType::F32 {
        return Err(TrainError::Invalid(format!(
            "data-parallel training exchanges f32 tensors; {what} of {name} is {:?}",
            t.dtype()
        )));
    }
    Ok(())
}

/// `parts`, each flattened, end to end and then zeros up to `len` elements, on `device`.
pub fn join(parts: &[Tensor], len: usize, device: Device) -> Result<Tensor> {
    let mut flat: Vec<Tensor> = parts.iter().map(Tensor::flatten_all).collect::<tensor::Result<_>>()?;
    let filled: usize = flat.iter().map(Tensor::elem_count).sum();
    if filled < len || flat.is_empty() {
        flat.push(Tensor::full_on(&[len - filled], 0.0, DType::F32, device)?);
    }
    Ok(Tensor::cat(&flat.iter().collect::<Vec<_>>(), 0)?)
}

/// The elements of `flat` from `offset` on, as a dense tensor (its own buffer) of `shape`.
pub fn cut(flat: &Tensor, offset: usize, shape: &[usize]) -> Result<Tensor> {
    let n = shape.iter().product();
    Ok(flat.narrow(0, offset, n)?.contiguous().reshape(shape)?)
}

/// A collective that moves host memory (MPI) applied to a flat f32 tensor: `op` gets the tensor's
/// values (a GPU tensor's copied to the host) and returns the result's, which go back to the
/// tensor's device.
pub fn through_host(t: &Tensor, op: impl FnOnce(Vec<f32>) -> Result<Vec<f32>>) -> Result<Tensor> {
    let result = op(t.to_vec::<f32>()?)?;
    let len = result.len();
    Ok(Tensor::from_vec(result, &[len])?.to_device(t.device())?)
}
