//! `.npy` files in and out of tensors (token ids in, logits out), through the `npyz` crate.

use crate::error::{Result, TrainError};
use npyz::WriterBuilder;
use std::path::Path;
use tensor::{DType, Tensor};

/// Reads an integer `.npy` array (int32, int64, uint32 or uint64, C order) as an i64 tensor.
pub fn read_ids(path: &Path) -> Result<Tensor> {
    let bytes = std::fs::read(path).map_err(|e| TrainError::io(path, e))?;
    let npy = npyz::NpyFile::new(&bytes[..]).map_err(|e| TrainError::format(path, format!("not a .npy file: {e}")))?;
    if npy.order() != npyz::Order::C {
        return Err(TrainError::format(path, "Fortran-order arrays are not supported; save with np.ascontiguousarray"));
    }
    let shape: Vec<usize> = npy.shape().iter().map(|&d| d as usize).collect();
    let descr = npy.dtype().descr();
    let bad = |e: std::io::Error| TrainError::format(path, format!("cannot read the data: {e}"));
    let values: Vec<i64> = match descr.trim_matches('\'').trim_start_matches(['<', '|', '=']) {
        "i8" => npy.into_vec::<i64>().map_err(bad)?,
        "i4" => npy.into_vec::<i32>().map_err(bad)?.into_iter().map(i64::from).collect(),
        "u4" => npy.into_vec::<u32>().map_err(bad)?.into_iter().map(i64::from).collect(),
        "u8" => npy.into_vec::<u64>().map_err(bad)?.into_iter().map(|v| v as i64).collect(),
        _ => {
            return Err(TrainError::format(
                path,
                format!("dtype {descr} is not an integer array of token ids (int32/int64/uint32/uint64)"),
            ))
        }
    };
    Ok(Tensor::from_vec(values, &shape)?)
}

/// Writes a tensor as a little-endian f32 `.npy` array (converting from any dtype).
pub fn write_f32(path: &Path, t: &Tensor) -> Result<()> {
    let values = t.to_dtype(DType::F32).to_vec::<f32>()?;
    let shape: Vec<u64> = t.shape().iter().map(|&d| d as u64).collect();
    let mut out = Vec::with_capacity(values.len() * 4 + 128);
    let io = |e: std::io::Error| TrainError::io(path, e);
    let mut writer = npyz::WriteOptions::new().default_dtype().shape(&shape).writer(&mut out).begin_nd().map_err(io)?;
    writer.extend(values).map_err(io)?;
    writer.finish().map_err(io)?;
    model::checkpoint::write_atomically(path, &out)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.npy");
        let t = Tensor::from_vec(vec![1.5f32, -2.0, 3.25, 0.0, 1.0, 2.0], &[2, 3]).unwrap();
        write_f32(&path, &t).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(&bytes[..6], b"\x93NUMPY");
        let back = npyz::NpyFile::new(&bytes[..]).unwrap();
        assert_eq!(back.shape(), &[2, 3]);
        assert_eq!(back.into_vec::<f32>().unwrap(), t.to_vec::<f32>().unwrap());
        // A float array is not ids; garbage is not npy.
        assert!(read_ids(&path).unwrap_err().to_string().contains("not an integer array"));
        std::fs::write(&path, b"hello").unwrap();
        assert!(read_ids(&path).unwrap_err().to_string().contains("not a .npy file"));
    }
}
