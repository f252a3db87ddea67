//! TMA tensor maps: how the copy engine finds a tile of a matrix in global memory.

use crate::cuda::CudaError;
use cudarc::driver::DeviceRepr;

/// A tensor map (TMA): how the copy engine finds a box of a tensor in global memory.
#[repr(C)]
#[derive(Clone, Copy)]
pub(super) struct TensorMap(cudarc::driver::sys::CUtensorMap);

// Safety: the driver's 128-byte plain struct, passed by value as the kernels' `TensorMap`.
unsafe impl DeviceRepr for TensorMap {}

impl TensorMap {
    /// The row-major bf16 `(rows, cols)` matrix at device address `ptr`, copied in boxes of
    /// `box_rows` rows × 64 columns (128-byte rows), 128-byte swizzled, zeros past the edges.
    pub(super) fn bf16_tiles(ptr: u64, (rows, cols): (usize, usize), box_rows: u32) -> Result<Self, CudaError> {
        use cudarc::driver::sys::{
            CUtensorMapDataType as Type, CUtensorMapFloatOOBfill as Fill, CUtensorMapInterleave as Interleave,
            CUtensorMapL2promotion as L2, CUtensorMapSwizzle as Swizzle,
        };
        let mut map = std::mem::MaybeUninit::<cudarc::driver::sys::CUtensorMap>::zeroed();
        let (dims, strides) = ([cols as u64, rows as u64], [cols as u64 * 2]);
        let (boxes, element_strides) = ([64u32, box_rows], [1u32, 1]);
        // Safety: every array is as long as rank 2 asks; the map is written by the driver.
        let status = unsafe {
            cudarc::driver::sys::cuTensorMapEncodeTiled(
                map.as_mut_ptr(),
                Type::CU_TENSOR_MAP_DATA_TYPE_BFLOAT16,
                2,
                ptr as *mut std::ffi::c_void,
                dims.as_ptr(),
                strides.as_ptr(),
                boxes.as_ptr(),
                element_strides.as_ptr(),
                Interleave::CU_TENSOR_MAP_INTERLEAVE_NONE,
                Swizzle::CU_TENSOR_MAP_SWIZZLE_128B,
                L2::CU_TENSOR_MAP_L2_PROMOTION_L2_256B,
                Fill::CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE,
            )
        };
        match status {
            cudarc::driver::sys::CUresult::CUDA_SUCCESS => Ok(TensorMap(unsafe { map.assume_init() })),
            e => Err(CudaError::Driver(format!("cuTensorMapEncodeTiled for {rows}×{cols} bf16: {e:?}"))),
        }
    }
}
