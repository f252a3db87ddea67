//! `Tensor`: shared storage plus a layout. Cloning is cheap (an `Arc`); views share storage.

use crate::cpu::{CpuStorage, IntoStorage};
use crate::shape::{checked_elem_count, elem_count};
use crate::storage::Storage;
use crate::{DType, Device, Error, Layout, Result};
use rand::Rng;
use std::sync::Arc;

#[derive(Clone, Debug)]
pub struct Tensor {
    storage: Arc<Storage>,
    layout: Layout,
}

impl Tensor {
    /// A tensor owning `storage`, laid out densely with `shape`.
    pub(crate) fn from_storage(storage: Storage, shape: &[usize]) -> Self {
        debug_assert_eq!(storage.len(), elem_count(shape));
        Self { storage: Arc::new(storage), layout: Layout::contiguous(shape) }
    }

    /// A tensor over a new storage through `layout` (which stays inside it).
    pub(crate) fn from_storage_with_layout(storage: Storage, layout: Layout) -> Self {
        debug_assert!(layout.elem_count() == 0 || layout.last_offset() < storage.len());
        Self { storage: Arc::new(storage), layout }
    }

    /// The same storage seen through another layout.
    pub(crate) fn with_layout(&self, layout: Layout) -> Self {
        Self { storage: self.storage.clone(), layout }
    }

    pub fn storage(&self) -> &Storage {
        &self.storage
    }

    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    pub fn shape(&self) -> &[usize] {
        self.layout.shape()
    }

    pub fn rank(&self) -> usize {
        self.layout.rank()
    }

    pub fn elem_count(&self) -> usize {
        self.layout.elem_count()
    }

    pub fn dtype(&self) -> DType {
        self.storage.dtype()
    }

    pub fn device(&self) -> Device {
        self.storage.device()
    }

    pub fn is_contiguous(&self) -> bool {
        self.layout.is_contiguous()
    }

    /// True when both tensors are views of the same storage.
    pub fn shares_storage_with(&self, other: &Tensor) -> bool {
        Arc::ptr_eq(&self.storage, &other.storage)
    }

    /// Size of dim `d` (negative counts from the end).
    pub fn dim<D: crate::Dim>(&self, d: D) -> Result<usize> {
        Ok(self.shape()[d.index("dim", self.shape())?])
    }

    // ----- constructors -----

    /// A tensor from a vector of elements in row-major order; the length must match the shape.
    pub fn from_vec<T: IntoStorage>(data: Vec<T>, shape: &[usize]) -> Result<Self> {
        let count = checked_elem_count("from_vec", shape)?;
        if data.len() != count {
            return Err(Error::invalid(
                "from_vec",
                format!("{} elements cannot fill shape {shape:?} ({count} elements)", data.len()),
            ));
        }
        Ok(Self::from_storage(Storage::Cpu(T::into_storage(data)), shape))
    }

    /// A tensor of f64 values converted to `dtype`.
    pub fn from_f64s(values: &[f64], shape: &[usize], dtype: DType) -> Result<Self> {
        if values.len() != checked_elem_count("from_f64s", shape)? {
            return Err(Error::invalid("from_f64s", format!("{} values cannot fill shape {shape:?}", values.len())));
        }
        Ok(Self::from_storage(Storage::Cpu(CpuStorage::from_f64_iter(values.iter().copied(), dtype)), shape))
    }

    /// A tensor reading its elements straight from a memory-mapped file (no copy): `shape`
    /// elements of `dtype` at `byte_offset`. `None` when they do not fit in the map or are not
    /// aligned for the dtype — copy them instead. Writing to the tensor copies it first.
    pub fn from_mapped(map: Arc<memmap2::Mmap>, byte_offset: usize, shape: &[usize], dtype: DType) -> Option<Self> {
        let count = checked_elem_count("from_mapped", shape).ok()?;
        let storage = crate::cpu::CpuStorage::from_mapped(map, byte_offset, count, dtype)?;
        Some(Self::from_storage(Storage::Cpu(storage), shape))
    }

    /// True when the elements are read from a memory-mapped file.
    pub fn is_mapped(&self) -> bool {
        self.storage.as_cpu().is_some_and(|cpu| cpu.is_mapped())
    }

    /// A rank-0 tensor.
    pub fn scalar(value: f64, dtype: DType) -> Self {
        Self::full(&[], value, dtype)
    }

    /// `value` everywhere, on the CPU.
    pub fn full(shape: &[usize], value: f64, dtype: DType) -> Self {
        Self::from_storage(Storage::Cpu(CpuStorage::full(value, elem_count(shape), dtype)), shape)
    }

    /// `value` everywhere, on `device` (an error if the device cannot be opened).
    pub fn full_on(shape: &[usize], value: f64, dtype: DType, device: Device) -> Result<Self> {
        Ok(Self::from_storage(Storage::full(value, checked_elem_count("full", shape)?, dtype, device)?, shape))
    }

    pub fn zeros(shape: &[usize], dtype: DType) -> Self {
        Self::full(shape, 0.0, dtype)
    }

    pub fn ones(shape: &[usize], dtype: DType) -> Self {
        Self::full(shape, 1.0, dtype)
    }

    /// Zeros of `self`'s shape and dtype on `self`'s device.
    pub fn zeros_like(&self) -> Self {
        self.full_like(0.0)
    }

    pub fn ones_like(&self) -> Self {
        self.full_like(1.0)
    }

    /// `value` in `self`'s shape and dtype on `self`'s device (panics only if that GPU cannot
    /// allocate it).
    pub fn full_like(&self, value: f64) -> Self {
        Self::full_on(self.shape(), value, self.dtype(), self.device()).unwrap_or_else(|e| panic!("{e}"))
    }

    /// The same elements on `device` (`self` when already there): a dense copy.
    pub fn to_device(&self, device: Device) -> Result<Self> {
        if device == self.device() {
            return Ok(self.clone());
        }
        Ok(Self::from_storage(self.storage.to_device(&self.layout, device)?, self.shape()))
    }

    /// `[start, start + step, …]` up to but excluding `end`, as a 1-D tensor.
    pub fn arange(start: f64, end: f64, step: f64, dtype: DType) -> Result<Self> {
        if step == 0.0 || !step.is_finite() || (end - start) / step < 0.0 {
            return Err(Error::invalid("arange", format!("cannot step from {start} to {end} by {step}")));
        }
        let n = ((end - start) / step).ceil() as usize;
        let values: Vec<f64> = (0..n).map(|i| start + i as f64 * step).collect();
        Self::from_f64s(&values, &[n], dtype)
    }

    /// Samples of `N(mean, std²)` by the Box–Muller transform:
    /// `z = √(−2 ln u₁)·cos(2π u₂)` with `u₁ ∈ (0, 1]`, `u₂ ∈ [0, 1)` uniform.
    pub fn randn(shape: &[usize], mean: f64, std: f64, dtype: DType, rng: &mut impl Rng) -> Self {
        let values = (0..elem_count(shape)).map(|_| {
            let u1: f64 = 1.0 - rng.random::<f64>();
            let u2: f64 = rng.random::<f64>();
            mean + std * (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
        });
        Self::from_storage(Storage::Cpu(CpuStorage::from_f64_iter(values, dtype)), shape)
    }

    /// Samples uniform on `[low, high)`.
    pub fn uniform(shape: &[usize], low: f64, high: f64, dtype: DType, rng: &mut impl Rng) -> Self {
        let values = (0..elem_count(shape)).map(|_| low + (high - low) * rng.random::<f64>());
        Self::from_storage(Storage::Cpu(CpuStorage::from_f64_iter(values, dtype)), shape)
    }

    // ----- reading out -----

    /// The elements in row-major order; `T` must be the tensor's dtype.
    pub fn to_vec<T: IntoStorage>(&self) -> Result<Vec<T>> {
        let host;
        let (cpu, layout) = match self.storage.as_ref() {
            Storage::Cpu(cpu) => (cpu, &self.layout),
            Storage::Cuda(cuda) => {
                host = (cuda.download(&self.layout)?, Layout::contiguous(self.shape()));
                (&host.0, &host.1)
            }
        };
        let data = T::slice(cpu).ok_or(Error::DTypeMismatch { op: "to_vec", lhs: T::DTYPE, rhs: self.dtype() })?;
        Ok(layout.offsets().map(|o| data[o]).collect())
    }

    /// The elements in row-major order, converted to f64 (any dtype).
    pub fn to_f64_vec(&self) -> Vec<f64> {
        self.storage.to_f64_vec(&self.layout)
    }

    /// The single element of a one-element tensor, as f64.
    pub fn to_scalar(&self) -> Result<f64> {
        if self.elem_count() != 1 {
            return Err(Error::invalid(
                "to_scalar",
                format!("tensor of shape {:?} has {} elements, not 1", self.shape(), self.elem_count()),
            ));
        }
        Ok(self.to_f64_vec()[0])
    }

    // ----- copies -----

    /// A dense row-major copy, or `self` (sharing storage) when already dense from element 0.
    pub fn contiguous(&self) -> Self {
        if self.is_contiguous() && self.layout.offset() == 0 && self.storage.len() == self.elem_count() {
            return self.clone();
        }
        Self::from_storage(self.storage.contiguous(&self.layout), self.shape())
    }

    /// A copy converted to `dtype` (`self` when it already has it).
    pub fn to_dtype(&self, dtype: DType) -> Self {
        if dtype == self.dtype() {
            return self.clone();
        }
        let storage = self.storage.to_dtype(&self.layout, dtype).unwrap_or_else(|e| panic!("{e}"));
        Self::from_storage(storage, self.shape())
    }

    /// `self ← self + other` (same shape, dtype and device): in place when `self` is dense and no
    /// other tensor shares its storage, else a new sum exactly as [`Tensor::add`] makes. Gradient
    /// accumulation uses it so that summing into a large gradient allocates nothing.
    pub fn add_assign(&mut self, other: &Tensor) -> Result<()> {
        self.expect_same_shape(other, "add_assign")?;
        self.same_dtype_device(other, "add_assign")?;
        let dense = self.spans_its_storage();
        match Arc::get_mut(&mut self.storage) {
            Some(storage) if dense => storage.add_assign(&other.storage, &other.layout),
            _ => {
                *self = self.add(other)?;
                Ok(())
            }
        }
    }

    /// Whether the tensor is its whole storage, densely in row-major order.
    fn spans_its_storage(&self) -> bool {
        self.is_contiguous() && self.layout.offset() == 0 && self.storage.len() == self.elem_count()
    }

    /// Mutable access to a dense, unshared storage (copied first if needed): for in-place updates.
    pub(crate) fn storage_mut(&mut self) -> &mut Storage {
        if !self.spans_its_storage() {
            *self = Self::from_storage(self.storage.contiguous(&self.layout), self.shape());
        }
        Arc::make_mut(&mut self.storage)
    }

    /// A `ShapeMismatch` error naming `op` unless both tensors have the same shape.
    pub fn expect_same_shape(&self, other: &Tensor, op: &'static str) -> Result<()> {
        if self.shape() != other.shape() {
            return Err(Error::ShapeMismatch { op, lhs: self.shape().to_vec(), rhs: other.shape().to_vec() });
        }
        Ok(())
    }

    /// Checks that two tensors share dtype and device, for ops that combine them.
    pub(crate) fn same_dtype_device(&self, other: &Tensor, op: &'static str) -> Result<()> {
        if self.device() != other.device() {
            return Err(Error::DeviceMismatch { op, lhs: self.device(), rhs: other.device() });
        }
        if self.dtype() != other.dtype() {
            return Err(Error::DTypeMismatch { op, lhs: self.dtype(), rhs: other.dtype() });
        }
        Ok(())
    }
}
