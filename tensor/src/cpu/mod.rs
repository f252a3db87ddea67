//! The CPU backend: storage as typed vectors, and every op as a function over (data, layout).
//! Float math runs in the element's compute type (f32 for bf16/f16, see [`FloatElement`]).

mod buffer;
mod elementwise;
mod index;
pub(crate) use index::split_at_dim;
mod reduce;

use crate::dtype::{Element, FloatElement};
use crate::{DType, Device, Error, Layout, Result};
pub use buffer::Buffer;
use half::{bf16, f16};
use std::borrow::Cow;

/// Elements of a CPU tensor, one variant per dtype.
#[derive(Debug, Clone, PartialEq)]
pub enum CpuStorage {
    F32(Buffer<f32>),
    F64(Buffer<f64>),
    BF16(Buffer<bf16>),
    F16(Buffer<f16>),
    U32(Buffer<u32>),
    I64(Buffer<i64>),
}

/// Runs `$body` with `$v` bound to the typed vector of a float storage, wrapping the resulting
/// vector back into the same variant; other dtypes are an `UnsupportedDType` error.
macro_rules! map_float {
    ($op:expr, $storage:expr, $shape:expr, |$v:ident| $body:expr) => {
        match $storage {
            CpuStorage::F32($v) => CpuStorage::F32($crate::cpu::owned($body)),
            CpuStorage::F64($v) => CpuStorage::F64($crate::cpu::owned($body)),
            CpuStorage::BF16($v) => CpuStorage::BF16($crate::cpu::owned($body)),
            CpuStorage::F16($v) => CpuStorage::F16($crate::cpu::owned($body)),
            other => return Err($crate::cpu::unsupported($op, other.dtype(), $shape)),
        }
    };
}

/// Like [`map_float`] for two storages that must have the same float dtype.
macro_rules! map_float2 {
    ($op:expr, $lhs:expr, $rhs:expr, $shape:expr, |$a:ident, $b:ident| $body:expr) => {
        match ($lhs, $rhs) {
            (CpuStorage::F32($a), CpuStorage::F32($b)) => CpuStorage::F32($crate::cpu::owned($body)),
            (CpuStorage::F64($a), CpuStorage::F64($b)) => CpuStorage::F64($crate::cpu::owned($body)),
            (CpuStorage::BF16($a), CpuStorage::BF16($b)) => CpuStorage::BF16($crate::cpu::owned($body)),
            (CpuStorage::F16($a), CpuStorage::F16($b)) => CpuStorage::F16($crate::cpu::owned($body)),
            (l, r) if l.dtype() != r.dtype() => {
                return Err(Error::DTypeMismatch { op: $op, lhs: l.dtype(), rhs: r.dtype() })
            }
            (l, _) => return Err($crate::cpu::unsupported($op, l.dtype(), $shape)),
        }
    };
}

/// Like [`map_float`] for every dtype, floats and integers.
macro_rules! map_any {
    ($storage:expr, |$v:ident| $body:expr) => {
        match $storage {
            CpuStorage::F32($v) => CpuStorage::F32($crate::cpu::owned($body)),
            CpuStorage::F64($v) => CpuStorage::F64($crate::cpu::owned($body)),
            CpuStorage::BF16($v) => CpuStorage::BF16($crate::cpu::owned($body)),
            CpuStorage::F16($v) => CpuStorage::F16($crate::cpu::owned($body)),
            CpuStorage::U32($v) => CpuStorage::U32($crate::cpu::owned($body)),
            CpuStorage::I64($v) => CpuStorage::I64($crate::cpu::owned($body)),
        }
    };
}

/// Runs `$body` (producing a value, not a storage) with `$v` bound to the typed vector, any dtype.
macro_rules! with_any {
    ($storage:expr, |$v:ident| $body:expr) => {
        match $storage {
            CpuStorage::F32($v) => $body,
            CpuStorage::F64($v) => $body,
            CpuStorage::BF16($v) => $body,
            CpuStorage::F16($v) => $body,
            CpuStorage::U32($v) => $body,
            CpuStorage::I64($v) => $body,
        }
    };
}

pub(crate) use {map_any, map_float, map_float2};

pub(crate) fn unsupported(op: &'static str, dtype: DType, shape: &[usize]) -> Error {
    Error::UnsupportedDType { op, dtype, device: Device::Cpu, shape: shape.to_vec() }
}

/// The elements of `layout` in row-major order: a borrowed slice when already contiguous.
pub(crate) fn contiguous_cow<'a, T: Copy>(data: &'a [T], layout: &Layout) -> Cow<'a, [T]> {
    if layout.is_contiguous() {
        let start = layout.offset();
        Cow::Borrowed(&data[start..start + layout.elem_count()])
    } else {
        Cow::Owned(gather(data, layout))
    }
}

/// Copies a strided layout into row-major order. The trailing dims that are dense in memory are
/// copied as whole slices, the innermost remaining dim with a strided loop, and only the dims
/// before it walk the (slower) general offset iterator — a transpose or a head split costs a few
/// passes over memory, not an index computation per element.
fn gather<T: Copy>(data: &[T], layout: &Layout) -> Vec<T> {
    let (shape, strides) = (layout.shape(), layout.strides());
    let (mut dense, mut block) = (shape.len(), 1usize);
    while dense > 0 && (strides[dense - 1] == block || shape[dense - 1] == 1) {
        dense -= 1;
        block *= shape[dense];
    }
    let mut out = Vec::with_capacity(layout.elem_count());
    if dense == 0 {
        out.extend_from_slice(&data[layout.offset()..layout.offset() + block]);
        return out;
    }
    // Dim `dense − 1` is the innermost non-dense dim: `n` runs of `block` elements, `stride` apart.
    let (n, stride) = (shape[dense - 1], strides[dense - 1]);
    let outer = Layout::from_parts(&shape[..dense - 1], &strides[..dense - 1], layout.offset());
    for base in outer.offsets() {
        for k in 0..n {
            let start = base + k * stride;
            out.extend_from_slice(&data[start..start + block]);
        }
    }
    out
}

impl CpuStorage {
    pub fn dtype(&self) -> DType {
        match self {
            CpuStorage::F32(_) => DType::F32,
            CpuStorage::F64(_) => DType::F64,
            CpuStorage::BF16(_) => DType::BF16,
            CpuStorage::F16(_) => DType::F16,
            CpuStorage::U32(_) => DType::U32,
            CpuStorage::I64(_) => DType::I64,
        }
    }

    pub fn len(&self) -> usize {
        with_any!(self, |v| v.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A storage of `n` copies of `value` (converted to `dtype`).
    pub fn full(value: f64, n: usize, dtype: DType) -> Self {
        match dtype {
            DType::F32 => f32::into_storage(vec![value as f32; n]),
            DType::F64 => f64::into_storage(vec![value; n]),
            DType::BF16 => bf16::into_storage(vec![<bf16 as Element>::from_f64(value); n]),
            DType::F16 => f16::into_storage(vec![f16::from_f64(value); n]),
            DType::U32 => u32::into_storage(vec![value as u32; n]),
            DType::I64 => i64::into_storage(vec![value as i64; n]),
        }
    }

    /// Converts f64 values into a storage of `dtype`.
    pub fn from_f64_iter(values: impl Iterator<Item = f64>, dtype: DType) -> Self {
        match dtype {
            DType::F32 => f32::into_storage(values.map(f32::from_f64).collect()),
            DType::F64 => f64::into_storage(values.collect()),
            DType::BF16 => bf16::into_storage(values.map(<bf16 as Element>::from_f64).collect()),
            DType::F16 => f16::into_storage(values.map(f16::from_f64).collect()),
            DType::U32 => u32::into_storage(values.map(|x| x as u32).collect()),
            DType::I64 => i64::into_storage(values.map(|x| x as i64).collect()),
        }
    }

    /// `len` elements of `dtype` at `byte_offset` in a memory-mapped file, without a copy; `None`
    /// when the window does not fit or is misaligned for the dtype (copy instead).
    pub fn from_mapped(
        map: std::sync::Arc<memmap2::Mmap>,
        byte_offset: usize,
        len: usize,
        dtype: DType,
    ) -> Option<Self> {
        Some(match dtype {
            DType::F32 => CpuStorage::F32(Buffer::mapped(map, byte_offset, len)?),
            DType::F64 => CpuStorage::F64(Buffer::mapped(map, byte_offset, len)?),
            DType::BF16 => CpuStorage::BF16(Buffer::mapped(map, byte_offset, len)?),
            DType::F16 => CpuStorage::F16(Buffer::mapped(map, byte_offset, len)?),
            DType::U32 => CpuStorage::U32(Buffer::mapped(map, byte_offset, len)?),
            DType::I64 => CpuStorage::I64(Buffer::mapped(map, byte_offset, len)?),
        })
    }

    /// True when the elements are read straight from a memory-mapped file.
    pub fn is_mapped(&self) -> bool {
        with_any!(self, |v| v.is_mapped())
    }

    /// The elements of `layout`, densely in row-major order.
    pub fn contiguous(&self, layout: &Layout) -> Self {
        map_any!(self, |v| contiguous_cow(v, layout).into_owned())
    }

    /// The elements of `layout` converted to `dtype` (through f64, exact for every supported pair
    /// except narrowing float conversions, which round to nearest).
    pub fn to_dtype(&self, layout: &Layout, dtype: DType) -> Self {
        with_any!(self, |v| Self::from_f64_iter(layout.offsets().map(|o| v[o].to_f64()), dtype))
    }

    /// The elements of `layout` as f64, in row-major order.
    pub fn to_f64_vec(&self, layout: &Layout) -> Vec<f64> {
        with_any!(self, |v| layout.offsets().map(|o| v[o].to_f64()).collect())
    }

    /// Integer ids (u32 or i64) as indices `< size`, or an error naming the op and the bad id.
    pub fn indices(&self, layout: &Layout, size: usize, op: &'static str) -> Result<Vec<usize>> {
        let check = |id: i64| {
            if id < 0 || id as usize >= size {
                Err(Error::IndexOutOfRange { op, index: id, size })
            } else {
                Ok(id as usize)
            }
        };
        match self {
            CpuStorage::U32(v) => layout.offsets().map(|o| check(v[o] as i64)).collect(),
            CpuStorage::I64(v) => layout.offsets().map(|o| check(v[o])).collect(),
            other => Err(Error::invalid(
                op,
                format!("indices must be u32 or i64, got {:?} (shape {:?})", other.dtype(), layout.shape()),
            )),
        }
    }
}

/// Maps a float slice through `f` in the compute type (parallel and vectorised when large).
pub(crate) fn map_compute<T: FloatElement>(
    data: &[T],
    layout: &Layout,
    f: impl Fn(T::Compute) -> T::Compute + Sync,
) -> Vec<T> {
    let src = contiguous_cow(data, layout);
    let mut out = float_zeros::<T>(src.len());
    kernels::cpu::elementwise::map(&src, &mut out, |x: T| T::from_compute(f(x.to_compute())));
    out
}

/// `n` zeros of a float element type (for a buffer every element of which is then overwritten).
pub(crate) fn float_zeros<T: FloatElement>(n: usize) -> Vec<T> {
    vec![T::from_compute(<T::Compute as kernels::Float>::ZERO); n]
}

/// A float storage from a vector of the compute type (rounded back to `T`).
pub(crate) fn from_compute<T: FloatElement + IntoStorage>(v: Vec<T::Compute>) -> CpuStorage {
    T::into_storage(T::from_compute_vec(v))
}

/// A vector of `n` elements that `write` fills, never zero-filled first (a kernel's output that
/// it writes element by element without reading).
///
/// # Safety
/// `write` initialises every element of the slice it is given.
pub(crate) unsafe fn written_by<T>(n: usize, write: impl FnOnce(&mut [std::mem::MaybeUninit<T>])) -> Vec<T> {
    let mut v = Vec::with_capacity(n);
    write(&mut v.spare_capacity_mut()[..n]);
    v.set_len(n);
    v
}

/// `n` zeros of `T`'s compute type.
pub(crate) fn compute_zeros<T: FloatElement>(n: usize) -> Vec<T::Compute> {
    vec![<T::Compute as kernels::Float>::ZERO; n]
}

/// Elementwise work below this size stays on one thread.
pub(crate) const PARALLEL_MIN_ELEMS: usize = kernels::cpu::elementwise::PARALLEL_MIN_ELEMS;

/// The link between an element type and its storage variant, for generic backend code.
pub trait IntoStorage: Element + bytemuck::Pod {
    fn into_storage(v: Vec<Self>) -> CpuStorage;
    /// The typed elements, if the storage holds this type.
    fn slice(s: &CpuStorage) -> Option<&[Self]>;
    fn slice_mut(s: &mut CpuStorage) -> Option<&mut [Self]>;
}

macro_rules! into_storage {
    ($($t:ty => $variant:ident),*) => {$(
        impl IntoStorage for $t {
            fn into_storage(v: Vec<Self>) -> CpuStorage {
                CpuStorage::$variant(Buffer::from(v))
            }
            fn slice(s: &CpuStorage) -> Option<&[Self]> {
                match s {
                    CpuStorage::$variant(v) => Some(v),
                    _ => None,
                }
            }
            fn slice_mut(s: &mut CpuStorage) -> Option<&mut [Self]> {
                match s {
                    CpuStorage::$variant(v) => Some(v.make_mut()),
                    _ => None,
                }
            }
        }
    )*};
}

/// Calls the generic `$func::<T>(args…)` with `T` the Rust type of a float dtype.
macro_rules! by_float_dtype {
    ($op:expr, $dtype:expr, $shape:expr, $func:ident($($arg:expr),*)) => {
        match $dtype {
            DType::F32 => $func::<f32>($($arg),*),
            DType::F64 => $func::<f64>($($arg),*),
            DType::BF16 => $func::<half::bf16>($($arg),*),
            DType::F16 => $func::<half::f16>($($arg),*),
            other => Err($crate::cpu::unsupported($op, other, $shape)),
        }
    };
}
pub(crate) use by_float_dtype;

/// The typed elements of `s` as a contiguous slice of `layout`, or a dtype-mismatch error.
pub(crate) fn typed<'a, T: IntoStorage>(op: &'static str, s: &'a CpuStorage, layout: &Layout) -> Result<Cow<'a, [T]>> {
    let v = T::slice(s).ok_or(Error::DTypeMismatch { op, lhs: T::DTYPE, rhs: s.dtype() })?;
    Ok(contiguous_cow(v, layout))
}
into_storage!(f32 => F32, f64 => F64, bf16 => BF16, f16 => F16, u32 => U32, i64 => I64);

/// An owned buffer from a vector (the macros' way to say "this body builds a `Vec`").
pub(crate) fn owned<T: bytemuck::Pod>(v: Vec<T>) -> Buffer<T> {
    Buffer::Owned(v)
}
