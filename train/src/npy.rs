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
    let shape = npy.shape().iter().map(|&d| usize::try_from(d).ok()).collect::<Option<Vec<usize>>>();
    let count = shape.as_deref().and_then(|s| tensor::shape::checked_elem_count("read_ids", s).ok());
    let (Some(shape), Some(count)) = (shape, count) else {
        return Err(TrainError::format(path, format!("shape {:?} has more elements than can be indexed", npy.shape())));
    };
    // The header's shape must agree with the bytes that follow it before anything is allocated.
    let item = npy.dtype().num_bytes().unwrap_or(0) as u128;
    if (count as u128) * item > bytes.len() as u128 {
        return Err(TrainError::format(
            path,
            format!("shape {shape:?} needs {} bytes of data, the file has {}", count as u128 * item, bytes.len()),
        ));
    }
    let descr = npy.dtype().descr();
    let bad = |e: std::io::Error| TrainError::format(path, format!("cannot read the data: {e}"));
    let values: Vec<i64> = match descr.trim_matches('\'').trim_start_matches(['<', '|', '=']) {
        "i8" => npy.into_vec::<i64>().map_err(bad)?,
        "i4" => npy.into_vec::<i32>().map_err(bad)?.into_iter().map(i64::from).collect(),
        "u4" => npy.into_vec::<u32>().map_err(bad)?.into_iter().map(i64::from).collect(),
        "u8" => npy
            .into_vec::<u64>()
            .map_err(bad)?
            .into_iter()
            .map(|v| {
                i64::try_from(v).map_err(|_| TrainError::format(path, format!("id {v} is too large for a token id")))
            })
            .collect::<Result<_>>()?,
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

    /// A `.npy` file: the v1 header for `descr` and `shape`, then `data`.
    fn npy_bytes(descr: &str, shape: &str, data: &[u8]) -> Vec<u8> {
        let mut header = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}");
        while (10 + header.len() + 1) % 64 != 0 {
            header.push(' ');
        }
        header.push('\n');
        let mut out = b"\x93NUMPY\x01\x00".to_vec();
        out.extend((header.len() as u16).to_le_bytes());
        out.extend(header.as_bytes());
        out.extend(data);
        out
    }

    #[test]
    fn shapes_that_overflow_or_outgrow_the_data_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ids.npy");
        let eight: Vec<u8> = (0..8i64).flat_map(|v| v.to_le_bytes()).collect();
        std::fs::write(&path, npy_bytes("<i8", "(2, 4)", &eight)).unwrap();
        assert_eq!(read_ids(&path).unwrap().shape(), &[2, 4]);
        // (2⁶¹ + 1)·8 wraps to 8 elements in a plain product: the shape of the original report.
        std::fs::write(&path, npy_bytes("<i8", "(2305843009213693953, 8)", &eight)).unwrap();
        assert!(read_ids(&path).unwrap_err().to_string().contains("more elements than can be indexed"));
        std::fs::write(&path, npy_bytes("<i8", "(288230376151711744, 64)", &eight)).unwrap();
        assert!(read_ids(&path).unwrap_err().to_string().contains("more elements than can be indexed"));
        // A shape that fits a usize but not the file: refused before allocating it.
        std::fs::write(&path, npy_bytes("<i8", "(1000000000000, 8)", &eight)).unwrap();
        assert!(read_ids(&path).unwrap_err().to_string().contains("bytes of data"));
    }

    #[test]
    fn uint64_ids_past_i64_are_named_not_negated() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ids.npy");
        let big = (1u64 << 63) + 5;
        std::fs::write(&path, npy_bytes("<u8", "(1, 2)", &[7u64.to_le_bytes(), big.to_le_bytes()].concat())).unwrap();
        let err = read_ids(&path).unwrap_err().to_string();
        assert!(err.contains(&format!("id {big} is too large")), "{err}");
    }
}
