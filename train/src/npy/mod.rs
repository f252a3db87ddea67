//! `.npy` files in and out of tensors: token ids in (read here, the header by the `header` module), logits out
//! (written through the `npyz` crate).

mod header;

use crate::error::{Result, TrainError};
use npyz::WriterBuilder;
use std::path::Path;
use tensor::{DType, Tensor};

/// Reads an integer `.npy` array (int32, int64, uint32 or uint64, either byte order, C order) as
/// an i64 tensor.
pub fn read_ids(path: &Path) -> Result<Tensor> {
    let bytes = std::fs::read(path).map_err(|e| TrainError::io(path, e))?;
    let h = header::parse(&bytes).map_err(|e| TrainError::format(path, format!("not a .npy file: {e}")))?;
    if h.fortran_order {
        return Err(TrainError::format(path, "Fortran-order arrays are not supported; save with np.ascontiguousarray"));
    }
    let shape = h.shape.iter().map(|&d| usize::try_from(d).ok()).collect::<Option<Vec<usize>>>();
    let count = shape.as_deref().and_then(|s| tensor::shape::checked_elem_count("read_ids", s).ok());
    let (Some(shape), Some(count)) = (shape, count) else {
        return Err(TrainError::format(path, format!("shape {:?} has more elements than can be indexed", h.shape)));
    };
    let (big_endian, kind) = match h.descr.split_at(h.descr.len().min(1)) {
        ("<" | "|" | "=", kind) => (cfg!(target_endian = "big") && h.descr.starts_with('='), kind),
        (">", kind) => (true, kind),
        _ => (false, h.descr.as_str()),
    };
    let item = match kind {
        "i4" | "u4" => 4,
        "i8" | "u8" => 8,
        _ => {
            return Err(TrainError::format(
                path,
                format!("dtype {} is not an integer array of token ids (int32/int64/uint32/uint64)", h.descr),
            ))
        }
    };
    // The header's shape must agree with the bytes that follow it before anything is allocated.
    let data = &bytes[h.data_offset..];
    if (count as u128) * item as u128 != data.len() as u128 {
        return Err(TrainError::format(
            path,
            format!(
                "shape {shape:?} needs {} bytes of data, the file has {}",
                count as u128 * item as u128,
                data.len()
            ),
        ));
    }
    let word = |chunk: &[u8]| {
        let mut w = [0u8; 8];
        if big_endian {
            w[8 - item..].copy_from_slice(chunk);
            u64::from_be_bytes(w)
        } else {
            w[..item].copy_from_slice(chunk);
            u64::from_le_bytes(w)
        }
    };
    let values = data
        .chunks_exact(item)
        .map(|chunk| {
            let v = word(chunk);
            match kind {
                "i4" => Ok(i64::from(v as u32 as i32)),
                "i8" => Ok(v as i64),
                "u4" => Ok(v as i64),
                _ => i64::try_from(v)
                    .map_err(|_| TrainError::format(path, format!("id {v} is too large for a token id"))),
            }
        })
        .collect::<Result<Vec<i64>>>()?;
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
    fn every_integer_dtype_in_either_byte_order() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ids.npy");
        let cases: [(&str, Vec<u8>); 4] = [
            (">i4", [[0u8, 0, 0, 7], [0xff, 0xff, 0xff, 0xfe]].concat()),
            ("<i4", [7i32.to_le_bytes(), (-2i32).to_le_bytes()].concat()),
            ("<u4", [7u32.to_le_bytes(), 256u32.to_le_bytes()].concat()),
            (">u8", [7u64.to_be_bytes(), 256u64.to_be_bytes()].concat()),
        ];
        for (descr, data) in cases {
            std::fs::write(&path, npy_bytes(descr, "(2,)", &data)).unwrap();
            let ids = read_ids(&path).unwrap().to_vec::<i64>().unwrap();
            assert_eq!(ids[0], 7, "{descr}");
            assert_eq!(ids[1], if descr.contains('i') { -2 } else { 256 }, "{descr}");
        }
        // Trailing bytes the shape does not account for.
        std::fs::write(&path, npy_bytes("<i4", "(1,)", &[0; 8])).unwrap();
        assert!(read_ids(&path).unwrap_err().to_string().contains("needs 4 bytes of data, the file has 8"));
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
