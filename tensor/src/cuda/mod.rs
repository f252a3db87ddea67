//! Tensors on an NVIDIA GPU: `CudaStorage` holds a device buffer, and each op launches the kernels
//! of `kernels::cuda` (matrix products through cuBLAS). Layouts travel to the kernels as
//! `KernelLayout`, so strided views and broadcasts are read in place; ops whose kernels want
//! dense rows make a dense copy first. f32 is the compute dtype; u32 masks and i64 ids can live
//! here too (moved and copied, not computed on), and bf16 tensors, which matrix products read as
//! bf16 operands (the fused classifier's gradient is one), are copied and converted to and from
//! f32.

pub(crate) mod bf16_image;
#[cfg(feature = "nccl")]
mod collective;
#[cfg(feature = "nccl")]
pub use collective::{nccl_available, nccl_comm, nccl_unique_id, NcclComm, NcclId};
mod elementwise;
mod index;
mod reduce;

use crate::cpu::{CpuStorage, IntoStorage};
use crate::{DType, Device, Error, Layout, Result};
use half::bf16;
use kernels::cuda::cost::Cost;
use kernels::cuda::cudarc::driver::{CudaSlice, CudaStream, CudaView, DeviceRepr};
/// A grid-stride launch over `n` elements.
pub(crate) use kernels::cuda::launch::elementwise as over;
use kernels::cuda::{CudaError, Gpu};
use kernels::launch;
use std::sync::Arc;

/// The elements `layout` reads from its buffer, each counted once: its element count without the
/// broadcast dims (stride 0). What a launch's cost says it reads through a layout.
pub(crate) fn distinct_elements(layout: &Layout) -> usize {
    if layout.elem_count() == 0 {
        return 0;
    }
    layout.shape().iter().zip(layout.strides()).filter(|&(_, &stride)| stride != 0).map(|(&n, _)| n).product()
}

/// A buffer on one GPU.
#[derive(Clone)]
pub struct CudaStorage {
    pub(crate) gpu: Arc<Gpu>,
    pub(crate) ordinal: usize,
    /// Elements (the buffer holds at least one, as the driver allocates no empty buffers).
    pub(crate) len: usize,
    pub(crate) data: CudaData,
    /// The bf16 rounding of `data` that bf16 matrix products read, kept while `data` is unchanged.
    pub(crate) bf16_image: bf16_image::Bf16Image,
}

#[derive(Clone)]
pub(crate) enum CudaData {
    F32(CudaSlice<f32>),
    BF16(CudaSlice<bf16>),
    U32(CudaSlice<u32>),
    I64(CudaSlice<i64>),
}

impl std::fmt::Debug for CudaStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CudaStorage({:?} × {} on cuda:{})", self.dtype(), self.len, self.ordinal)
    }
}

/// Equal when the elements are (compared on the host: for tests, not hot paths).
impl PartialEq for CudaStorage {
    fn eq(&self, other: &Self) -> bool {
        self.ordinal == other.ordinal
            && self.len == other.len
            && self.download(&Layout::contiguous(&[self.len])).ok()
                == other.download(&Layout::contiguous(&[other.len])).ok()
    }
}

/// A tensor layout as the kernels read it (`struct Layout` of `kernels/src/cuda/layout.cuh`):
/// rank ≤ 8.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub(crate) struct KernelLayout {
    rank: i32,
    shape: [i64; 8],
    strides: [i64; 8],
    offset: i64,
}

// Safety: a plain `#[repr(C)]` struct of integers, the same fields in the same order as the
// kernels' `struct Layout`.
unsafe impl DeviceRepr for KernelLayout {}

impl KernelLayout {
    /// The layout as the kernels read it, with dims merged where the row-major walk allows (a dim
    /// whose stride is the next dim's extent: a dense tensor becomes rank 1) and size-1 dims
    /// dropped, so each element's offset takes fewer divisions.
    pub(crate) fn new(op: &'static str, layout: &Layout) -> Result<Self> {
        let mut dims: Vec<(usize, usize)> = Vec::with_capacity(layout.rank());
        for (&n, &stride) in layout.shape().iter().zip(layout.strides()) {
            match dims.last_mut() {
                _ if n == 1 => {}
                Some((last_n, last_stride)) if *last_stride == stride * n => {
                    *last_n *= n;
                    *last_stride = stride;
                }
                _ => dims.push((n, stride)),
            }
        }
        if layout.elem_count() == 0 {
            dims = vec![(0, 1)];
        }
        if dims.len() > 8 {
            return Err(Error::invalid(op, format!("the CUDA kernels take rank ≤ 8, got shape {:?}", layout.shape())));
        }
        let mut k =
            KernelLayout { rank: dims.len() as i32, shape: [1; 8], strides: [0; 8], offset: layout.offset() as i64 };
        for (d, (n, stride)) in dims.into_iter().enumerate() {
            k.shape[d] = n as i64;
            k.strides[d] = stride as i64;
        }
        Ok(k)
    }
}

/// A CUDA failure of `op` as the tensor layer's error.
pub(crate) fn cuda_error(op: &'static str) -> impl FnOnce(CudaError) -> Error {
    move |error| Error::Cuda { op, error }
}

/// A driver failure of `op` (allocation, copy) as the tensor layer's error.
pub(crate) fn driver_error<E: std::fmt::Debug>(op: &'static str) -> impl FnOnce(E) -> Error {
    move |e| Error::Cuda { op, error: CudaError::Driver(format!("{e:?}")) }
}

/// How this thread's matrix products run now (its [`crate::ExecutionContext`]'s precision).
/// The row stride of a product's f32 output with `n` columns (and of the cross-entropy gradient,
/// which its kernel writes in float4 packs): the next multiple of 4, so that every row starts 16
/// bytes apart, as cuBLAS's fastest kernels need of C. On an H200, GPT-2's logits,
/// `(16384 × 768)·(768 × 50257)`, took 13.3 ms (95 TFLOP/s) whole into rows 50257 apart, the same
/// into padded rows, 7.7 ms split at n = 50256 + 1 (see `gemm_bf16` in `fused/matmul/cuda.rs`) into rows 50257 apart, and
/// 2.2 ms (587 TFLOP/s) split into padded rows (`benches/cublas_alignment.py`).
pub(crate) fn c_row_stride(n: usize) -> usize {
    n.next_multiple_of(4)
}

pub(crate) fn matmul_precision() -> kernels::cuda::MatmulPrecision {
    crate::ExecutionContext::current().precision
}

/// The GPU of device `ordinal`, checked to have NVRTC as well (every op compiles kernels).
pub(crate) fn gpu(ordinal: usize) -> Result<Arc<Gpu>> {
    let gpu = Gpu::shared(ordinal).map_err(cuda_error("to_device"))?;
    if !kernels::cuda::nvrtc_available() {
        return Err(Error::Cuda { op: "to_device", error: CudaError::NoNvrtc });
    }
    Ok(gpu)
}

impl CudaStorage {
    pub fn dtype(&self) -> DType {
        match self.data {
            CudaData::F32(_) => DType::F32,
            CudaData::BF16(_) => DType::BF16,
            CudaData::U32(_) => DType::U32,
            CudaData::I64(_) => DType::I64,
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn device(&self) -> Device {
        Device::Cuda(self.ordinal)
    }

    /// Wraps a buffer of `len` elements.
    pub(crate) fn new(gpu: &Arc<Gpu>, ordinal: usize, len: usize, data: CudaData) -> Self {
        Self { gpu: gpu.clone(), ordinal, len, data, bf16_image: Default::default() }
    }

    /// The same device, another buffer.
    pub(crate) fn with(&self, len: usize, data: CudaData) -> Self {
        Self::new(&self.gpu, self.ordinal, len, data)
    }

    /// The f32 buffer, or an error naming `op` for other dtypes.
    pub(crate) fn f32s(&self, op: &'static str, shape: &[usize]) -> Result<&CudaSlice<f32>> {
        match &self.data {
            CudaData::F32(s) => Ok(s),
            _ => Err(Error::UnsupportedDType { op, dtype: self.dtype(), device: self.device(), shape: shape.to_vec() }),
        }
    }

    /// The f32 buffer, to be written in place (so its bf16 image is dropped).
    pub(crate) fn f32s_mut(&mut self, op: &'static str) -> Result<&mut CudaSlice<f32>> {
        let (dtype, device, len) = (self.dtype(), self.device(), self.len);
        self.bf16_image.clear();
        match &mut self.data {
            CudaData::F32(s) => Ok(s),
            _ => Err(Error::UnsupportedDType { op, dtype, device, shape: vec![len] }),
        }
    }

    /// An uninitialised f32 buffer of `n` elements (every kernel that gets one writes all of it).
    pub(crate) fn alloc_f32(&self, op: &'static str, n: usize) -> Result<CudaSlice<f32>> {
        // Safety: the memory is written before it is read (the caller's kernel fills it).
        unsafe { self.gpu.stream.alloc::<f32>(n.max(1)) }.map_err(driver_error(op))
    }

    /// A zeroed f32 buffer of `n` elements (for kernels that accumulate).
    pub(crate) fn zeros_f32(&self, op: &'static str, n: usize) -> Result<CudaSlice<f32>> {
        self.gpu.stream.alloc_zeros::<f32>(n.max(1)).map_err(driver_error(op))
    }

    /// Host values (`usize` ids) as an i64 device buffer.
    pub(crate) fn upload_ids(&self, op: &'static str, ids: &[usize]) -> Result<CudaSlice<i64>> {
        let ids: Vec<i64> = if ids.is_empty() { vec![0] } else { ids.iter().map(|&i| i as i64).collect() };
        self.gpu.stream.clone_htod(&ids).map_err(driver_error(op))
    }

    /// `n` copies of `value` as `dtype` on device `ordinal`.
    pub fn full(value: f64, n: usize, dtype: DType, ordinal: usize) -> Result<Self> {
        let gpu = gpu(ordinal)?;
        match dtype {
            DType::F32 => {
                let mut out = unsafe { gpu.stream.alloc::<f32>(n.max(1)) }.map_err(driver_error("full"))?;
                let (count, v) = (n as i64, value as f32);
                // Safety: `fill_f32(n, value, out)` writes n floats of `out`.
                unsafe { launch!(gpu, "elementwise.cu", "fill_f32", over(n), Cost::f32s(0, n), &count, &v, &mut out) }
                    .map_err(cuda_error("full"))?;
                Ok(Self::new(&gpu, ordinal, n, CudaData::F32(out)))
            }
            _ => Self::upload(&CpuStorage::full(value, n, dtype), &Layout::contiguous(&[n]), ordinal),
        }
    }

    /// A host storage (read through `layout`) copied to device `ordinal`.
    pub fn upload(cpu: &CpuStorage, layout: &Layout, ordinal: usize) -> Result<Self> {
        let gpu = gpu(ordinal)?;
        let dense = cpu.contiguous(layout);
        let n = layout.elem_count();
        let copy = |op| driver_error(op);
        let data = match &dense {
            CpuStorage::F32(v) => CudaData::F32(gpu.stream.clone_htod(&padded(v)).map_err(copy("to_device"))?),
            CpuStorage::BF16(v) => CudaData::BF16(gpu.stream.clone_htod(&padded(v)).map_err(copy("to_device"))?),
            CpuStorage::U32(v) => CudaData::U32(gpu.stream.clone_htod(&padded(v)).map_err(copy("to_device"))?),
            CpuStorage::I64(v) => CudaData::I64(gpu.stream.clone_htod(&padded(v)).map_err(copy("to_device"))?),
            other => {
                return Err(Error::UnsupportedDType {
                    op: "to_device",
                    dtype: other.dtype(),
                    device: Device::Cuda(ordinal),
                    shape: layout.shape().to_vec(),
                })
            }
        };
        Ok(Self::new(&gpu, ordinal, n, data))
    }

    /// The elements read through `layout`, copied to the host (dense). Dense f32 data is read where
    /// it lies; a strided f32 view is gathered on the GPU first, masks and ids on the host.
    pub fn download(&self, layout: &Layout) -> Result<CpuStorage> {
        let n = layout.elem_count();
        match &self.data {
            CudaData::F32(_) if n == 0 => Ok(IntoStorage::into_storage(Vec::<f32>::new())),
            CudaData::F32(_) => {
                let x = self.dense("to_device", layout)?;
                let host = self.gpu.stream.clone_dtoh(&x.view().slice(..n)).map_err(driver_error("to_device"))?;
                Ok(IntoStorage::into_storage(host))
            }
            _ => Ok(self.download_dense()?.contiguous(layout)),
        }
    }

    /// A dense row-major copy of the elements `layout` reads.
    pub fn contiguous(&self, layout: &Layout) -> Result<Self> {
        let n = layout.elem_count();
        let data = match &self.data {
            CudaData::F32(x) => {
                let mut out = self.alloc_f32("contiguous", n)?;
                let (op, s, count, lx) = (9i32, 1.0f32, n as i64, KernelLayout::new("contiguous", layout)?);
                let cost = Cost::f32s(distinct_elements(layout), n);
                // Safety: `unary_f32(op, s, n, x, lx, out)`; lx stays inside x, out holds n floats.
                unsafe {
                    launch!(self.gpu, "elementwise.cu", "unary_f32", over(n), cost, &op, &s, &count, x, &lx, &mut out)
                }
                .map_err(cuda_error("contiguous"))?;
                CudaData::F32(out)
            }
            CudaData::BF16(x) => CudaData::BF16(self.convert("contiguous", "copy_bf16", x, layout)?),
            CudaData::U32(x) => CudaData::U32(self.convert("contiguous", "copy_u32", x, layout)?),
            CudaData::I64(x) => CudaData::I64(self.convert("contiguous", "copy_i64", x, layout)?),
        };
        Ok(self.with(n, data))
    }

    /// Runs `kernel` of convert.cu, `(n, x, lx, out)`: the elements `layout` reads of `x`,
    /// converted, into a new dense buffer.
    pub(crate) fn convert<From: DeviceRepr, To: DeviceRepr>(
        &self,
        op: &'static str,
        kernel: &'static str,
        x: &CudaSlice<From>,
        layout: &Layout,
    ) -> Result<CudaSlice<To>> {
        let n = layout.elem_count();
        // Safety: written in full by the kernel below.
        let mut out = unsafe { self.gpu.stream.alloc::<To>(n.max(1)) }.map_err(driver_error(op))?;
        let (count, lx) = (n as i64, KernelLayout::new(op, layout)?);
        let cost = Cost::bytes(distinct_elements(layout) * size_of::<From>(), n * size_of::<To>());
        // Safety: `kernel(n, x, lx, out)` with the element types the caller names; lx reads n
        // elements inside x, out holds n.
        unsafe { launch!(self.gpu, "convert.cu", kernel, over(n), cost, &count, x, &lx, &mut out) }
            .map_err(cuda_error(op))?;
        Ok(out)
    }

    /// The whole buffer on the host, as it lies.
    fn download_dense(&self) -> Result<CpuStorage> {
        fn host<T: DeviceRepr>(stream: &Arc<CudaStream>, s: &CudaSlice<T>, n: usize) -> Result<Vec<T>> {
            let mut v = stream.clone_dtoh(s).map_err(driver_error("to_device"))?;
            v.truncate(n); // the driver's minimum of one element
            Ok(v)
        }
        let (stream, n) = (&self.gpu.stream, self.len);
        Ok(match &self.data {
            CudaData::F32(s) => IntoStorage::into_storage(host(stream, s, n)?),
            CudaData::BF16(s) => IntoStorage::into_storage(host(stream, s, n)?),
            CudaData::U32(s) => IntoStorage::into_storage(host(stream, s, n)?),
            CudaData::I64(s) => IntoStorage::into_storage(host(stream, s, n)?),
        })
    }

    /// A copy converted to `dtype`. Masks, ids and bf16 become f32 on the device (dropout's keep
    /// mask, for one), f32 becomes bf16 there (rounded to nearest even); other conversions go
    /// through the host.
    pub fn to_dtype(&self, layout: &Layout, dtype: DType) -> Result<Self> {
        let n = layout.elem_count();
        let data = match (&self.data, dtype) {
            _ if dtype == self.dtype() => return self.contiguous(layout),
            (CudaData::U32(x), DType::F32) => CudaData::F32(self.convert("to_dtype", "u32_to_f32", x, layout)?),
            (CudaData::I64(x), DType::F32) => CudaData::F32(self.convert("to_dtype", "i64_to_f32", x, layout)?),
            (CudaData::BF16(x), DType::F32) => CudaData::F32(self.convert("to_dtype", "bf16_to_f32", x, layout)?),
            (CudaData::F32(_), DType::BF16) => {
                CudaData::BF16(self.to_bf16(layout, layout.shape().last().copied().unwrap_or(1).max(1))?)
            }
            _ => {
                let host = self.download(layout)?.to_dtype(&Layout::contiguous(layout.shape()), dtype);
                return Self::upload(&host, &Layout::contiguous(layout.shape()), self.ordinal);
            }
        };
        Ok(self.with(n, data))
    }
}

/// f32 elements in row-major order, as kernels that want dense rows read them: the buffer itself
/// (from the layout's offset) when the layout is dense, else a dense copy.
pub(crate) enum Dense<'a> {
    Borrowed(&'a CudaSlice<f32>, usize),
    Owned(CudaStorage),
}

impl Dense<'_> {
    pub(crate) fn view(&self) -> CudaView<'_, f32> {
        match self {
            Dense::Borrowed(s, offset) => s.slice(*offset..),
            Dense::Owned(c) => match &c.data {
                CudaData::F32(s) => s.slice(0..),
                _ => unreachable!("dense copies of f32 data are f32"),
            },
        }
    }
}

impl CudaStorage {
    /// The f32 elements `layout` reads, dense (see [`Dense`]).
    pub(crate) fn dense(&self, op: &'static str, layout: &Layout) -> Result<Dense<'_>> {
        let s = self.f32s(op, layout.shape())?;
        if layout.is_contiguous() {
            Ok(Dense::Borrowed(s, layout.offset()))
        } else {
            Ok(Dense::Owned(self.contiguous(layout)?))
        }
    }

    /// `f` of the bf16 elements `layout` reads as one dense run: where they lie, or a dense copy
    /// (of rows padded apart, say).
    pub(crate) fn with_dense_bf16<R>(
        &self,
        op: &'static str,
        layout: &Layout,
        f: impl FnOnce(CudaView<bf16>) -> Result<R>,
    ) -> Result<R> {
        let copy = if layout.is_contiguous() { None } else { Some(self.contiguous(layout)?) };
        let (dense, offset) = copy.as_ref().map_or((self, layout.offset()), |c| (c, 0));
        let CudaData::BF16(x) = &dense.data else {
            return Err(Error::invalid(op, format!("bf16 data, got {:?}", dense.dtype())));
        };
        f(x.slice(offset..offset + layout.elem_count()))
    }
}

/// The driver allocates no empty buffers: an empty vector travels as one element.
fn padded<T: Copy + Default>(v: &[T]) -> Vec<T> {
    if v.is_empty() {
        vec![T::default()]
    } else {
        v.to_vec()
    }
}

#[cfg(test)]
mod tests {
    use super::KernelLayout;
    use crate::Layout;

    /// `offset_of` of layout.cuh, on the host.
    fn offset_of(mut i: i64, l: &KernelLayout) -> i64 {
        let mut off = l.offset;
        for d in (0..l.rank as usize).rev() {
            off += (i % l.shape[d]) * l.strides[d];
            i /= l.shape[d];
        }
        off
    }

    #[test]
    fn merged_layouts_address_the_same_elements() {
        let base = Layout::contiguous(&[2, 3, 4]);
        let layouts = [
            base.clone(),
            base.permute(&[2, 0, 1]).unwrap(),
            base.narrow(2, 1, 2).unwrap(),
            base.narrow(1, 1, 1).unwrap(),
            Layout::from_parts(&[2, 3], &[0, 1], 5),
            Layout::from_parts(&[4, 1, 3, 2], &[6, 99, 2, 1], 1),
            Layout::contiguous(&[]),
        ];
        for layout in &layouts {
            let k = KernelLayout::new("test", layout).unwrap();
            let got: Vec<usize> = (0..layout.elem_count() as i64).map(|i| offset_of(i, &k) as usize).collect();
            assert_eq!(got, layout.offsets().collect::<Vec<_>>(), "{layout:?} as {k:?}");
        }
        // A dense tensor is one dim; a transposed one stays two; size-1 dims go.
        assert_eq!(KernelLayout::new("test", &base).unwrap().rank, 1);
        assert_eq!(KernelLayout::new("test", &layouts[1]).unwrap().rank, 2);
        assert_eq!(KernelLayout::new("test", &layouts[5]).unwrap().rank, 1);
    }

    #[test]
    fn more_than_eight_unmergeable_dims_are_refused() {
        let shape = [2; 9];
        let strides: Vec<usize> = (0..9).map(|d| 3usize.pow(9 - d as u32)).collect();
        let e = KernelLayout::new("exp", &Layout::from_parts(&shape, &strides, 0)).unwrap_err();
        assert!(e.to_string().contains("rank ≤ 8"), "{e}");
    }
}
