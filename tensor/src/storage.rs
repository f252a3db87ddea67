//! Device dispatch. `Storage` is the one enum over devices, and [`on_device!`] the one dispatch:
//! it checks that every operand lives on one device (else an error that names both devices) and
//! runs the same code on that device's backend storage. The primitive ops (copies, elementwise,
//! reductions, indexing) dispatch in the methods here, each fused op in its own folder
//! (`crate::fused`).

use crate::cpu::CpuStorage;
use crate::cuda::CudaStorage;
use crate::op::{BinaryOp, CmpOp, ReduceOp, UnaryOp};
use crate::{DType, Device, Error, Layout, Result};

#[derive(Debug, Clone, PartialEq)]
pub enum Storage {
    Cpu(CpuStorage),
    Cuda(CudaStorage),
}

/// `N` operands' storages, all on one device.
pub(crate) enum On<'a, const N: usize> {
    Cpu([&'a CpuStorage; N]),
    Cuda([&'a CudaStorage; N]),
}

/// The operands' backend storages, or a device mismatch naming the first operand's device and
/// the first that differs.
pub(crate) fn on_one_device<'a, const N: usize>(op: &'static str, operands: [&'a Storage; N]) -> Result<On<'a, N>> {
    let lhs = operands[0].device();
    if let Some(other) = operands.iter().find(|s| s.device() != lhs) {
        return Err(Error::DeviceMismatch { op, lhs, rhs: other.device() });
    }
    Ok(match operands[0] {
        Storage::Cpu(_) => On::Cpu(operands.map(|s| match s {
            Storage::Cpu(c) => c,
            Storage::Cuda(_) => unreachable!("checked: one device"),
        })),
        Storage::Cuda(_) => On::Cuda(operands.map(|s| match s {
            Storage::Cuda(c) => c,
            Storage::Cpu(_) => unreachable!("checked: one device"),
        })),
    })
}

/// The one device dispatch: `on_device!(op, [a, b, …], |wrap, [x, y, …]| body)` checks that the
/// storages `a, b, …` live on one device (else a device mismatch naming `op`), binds `x, y, …` to
/// their backend storages (`CpuStorage` or `CudaStorage`) and `wrap` to that device's `Storage`
/// constructor, and evaluates `body`: written once, compiled for each device. A device is an arm
/// here and in [`on_one_device`].
macro_rules! on_device {
    ($op:expr, $storages:expr, |$wrap:ident, [$($n:ident),+]| $body:expr) => {
        match $crate::storage::on_one_device($op, $storages)? {
            $crate::storage::On::Cpu([$($n),+]) => {
                let $wrap = $crate::storage::Storage::Cpu;
                $body
            }
            $crate::storage::On::Cuda([$($n),+]) => {
                let $wrap = $crate::storage::Storage::Cuda;
                $body
            }
        }
    };
}
pub(crate) use on_device;

/// A failed copy or conversion of data already on the GPU: the device is gone or out of memory,
/// which the infallible views of the tensor API cannot report otherwise.
fn device_failure(e: Error) -> ! {
    panic!("{e}")
}

impl Storage {
    pub fn device(&self) -> Device {
        match self {
            Storage::Cpu(_) => Device::Cpu,
            Storage::Cuda(s) => s.device(),
        }
    }

    pub fn dtype(&self) -> DType {
        match self {
            Storage::Cpu(s) => s.dtype(),
            Storage::Cuda(s) => s.dtype(),
        }
    }

    pub fn len(&self) -> usize {
        match self {
            Storage::Cpu(s) => s.len(),
            Storage::Cuda(s) => s.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The CPU storage, if this one is on the CPU.
    pub fn as_cpu(&self) -> Option<&CpuStorage> {
        match self {
            Storage::Cpu(s) => Some(s),
            Storage::Cuda(_) => None,
        }
    }

    pub fn full(value: f64, n: usize, dtype: DType, device: Device) -> Result<Self> {
        match device {
            Device::Cpu => Ok(Storage::Cpu(CpuStorage::full(value, n, dtype))),
            Device::Cuda(ordinal) => Ok(Storage::Cuda(CudaStorage::full(value, n, dtype, ordinal)?)),
        }
    }

    pub fn from_f64_iter(values: impl Iterator<Item = f64>, dtype: DType, device: Device) -> Result<Self> {
        Storage::Cpu(CpuStorage::from_f64_iter(values, dtype)).moved_to(device)
    }

    /// The elements `layout` reads, dense, on `device`.
    pub fn to_device(&self, layout: &Layout, device: Device) -> Result<Self> {
        match (self, device) {
            (Storage::Cpu(s), Device::Cpu) => Ok(Storage::Cpu(s.contiguous(layout))),
            (Storage::Cpu(s), Device::Cuda(ordinal)) => Ok(Storage::Cuda(CudaStorage::upload(s, layout, ordinal)?)),
            (Storage::Cuda(s), Device::Cpu) => Ok(Storage::Cpu(s.download(layout)?)),
            (Storage::Cuda(s), d) if d == s.device() => Ok(Storage::Cuda(s.contiguous(layout)?)),
            (Storage::Cuda(s), Device::Cuda(ordinal)) => Ok(Storage::Cuda(CudaStorage::upload(
                &s.download(layout)?,
                &Layout::contiguous(layout.shape()),
                ordinal,
            )?)),
        }
    }

    /// This dense CPU storage on `device` (itself when that is the CPU).
    fn moved_to(self, device: Device) -> Result<Self> {
        if device == Device::Cpu {
            return Ok(self);
        }
        let layout = Layout::contiguous(&[self.len()]);
        self.to_device(&layout, device)
    }

    /// A dense copy (panics only if the GPU fails the copy: see `device_failure`).
    pub fn contiguous(&self, layout: &Layout) -> Self {
        match self {
            Storage::Cpu(s) => Storage::Cpu(s.contiguous(layout)),
            Storage::Cuda(s) => Storage::Cuda(s.contiguous(layout).unwrap_or_else(|e| device_failure(e))),
        }
    }

    pub fn to_dtype(&self, layout: &Layout, dtype: DType) -> Result<Self> {
        match self {
            Storage::Cpu(s) => Ok(Storage::Cpu(s.to_dtype(layout, dtype))),
            Storage::Cuda(s) => Ok(Storage::Cuda(s.to_dtype(layout, dtype)?)),
        }
    }

    /// The elements as f64 on the host (panics only if the GPU fails the copy).
    pub fn to_f64_vec(&self, layout: &Layout) -> Vec<f64> {
        match self {
            Storage::Cpu(s) => s.to_f64_vec(layout),
            Storage::Cuda(s) => {
                s.download(layout).unwrap_or_else(|e| device_failure(e)).to_f64_vec(&Layout::contiguous(layout.shape()))
            }
        }
    }

    pub fn indices(&self, layout: &Layout, size: usize, op: &'static str) -> Result<Vec<usize>> {
        match self {
            Storage::Cpu(s) => s.indices(layout, size, op),
            Storage::Cuda(s) => s.download(layout)?.indices(&Layout::contiguous(layout.shape()), size, op),
        }
    }

    pub fn unary(&self, layout: &Layout, op: UnaryOp) -> Result<Self> {
        Ok(on_device!("unary", [self], |wrap, [s]| wrap(s.unary(layout, op)?)))
    }

    pub fn binary(&self, lhs: &Layout, rhs: &Self, rhs_layout: &Layout, op: BinaryOp) -> Result<Self> {
        Ok(on_device!(op.name(), [self, rhs], |wrap, [a, b]| wrap(a.binary(lhs, b, rhs_layout, op)?)))
    }

    pub fn cmp(&self, lhs: &Layout, rhs: &Self, rhs_layout: &Layout, op: CmpOp) -> Result<Self> {
        Ok(on_device!(op.name(), [self, rhs], |wrap, [a, b]| wrap(a.cmp(lhs, b, rhs_layout, op)?)))
    }

    pub fn where_cond(&self, mask: &Layout, t: (&Self, &Layout), f: (&Self, &Layout)) -> Result<Self> {
        Ok(on_device!("where_cond", [self, t.0, f.0], |wrap, [m, a, b]| wrap(m.where_cond(
            mask,
            (a, t.1),
            (b, f.1)
        )?)))
    }

    /// Reduces over `dims` (sorted, distinct); an empty group is an error except for a sum.
    /// `Σ` over every dim of `layout` but the last: see [`Tensor::bias_grad`].
    ///
    /// [`Tensor::bias_grad`]: crate::Tensor::bias_grad
    pub fn bias_grad(&self, layout: &Layout) -> Result<Self> {
        match self {
            Storage::Cpu(s) => {
                Ok(Storage::Cpu(s.reduce(layout, &(0..layout.rank() - 1).collect::<Vec<_>>(), ReduceOp::Sum)?))
            }
            Storage::Cuda(s) => Ok(Storage::Cuda(s.bias_grad(layout)?)),
        }
    }

    pub fn reduce(&self, layout: &Layout, dims: &[usize], op: ReduceOp) -> Result<Self> {
        let shape = layout.shape();
        if op != ReduceOp::Sum && dims.iter().any(|&d| shape[d] == 0) {
            return Err(Error::invalid(
                op.name(),
                format!("cannot reduce an empty dim of shape {shape:?} over {dims:?}"),
            ));
        }
        Ok(on_device!("reduce", [self], |wrap, [s]| wrap(s.reduce(layout, dims, op)?)))
    }

    pub fn index_select(&self, layout: &Layout, dim: usize, ids: &[usize]) -> Result<Self> {
        Ok(on_device!("index_select", [self], |wrap, [s]| wrap(s.index_select(layout, dim, ids)?)))
    }

    pub fn index_add(&self, layout: &Layout, dim: usize, ids: &[usize], size: usize) -> Result<Self> {
        Ok(on_device!("index_add", [self], |wrap, [s]| wrap(s.index_add(layout, dim, ids, size)?)))
    }

    pub fn embedding(&self, layout: &Layout, ids: &[usize]) -> Result<Self> {
        Ok(on_device!("embedding", [self], |wrap, [s]| wrap(s.embedding(layout, ids)?)))
    }

    pub fn gather(&self, layout: &Layout, dim: usize, index: &[usize], index_shape: &[usize]) -> Result<Self> {
        Ok(on_device!("gather", [self], |wrap, [s]| wrap(s.gather(layout, dim, index, index_shape)?)))
    }

    pub fn scatter_add(&self, layout: &Layout, dim: usize, index: &[usize], out_shape: &[usize]) -> Result<Self> {
        Ok(on_device!("scatter_add", [self], |wrap, [s]| wrap(s.scatter_add(layout, dim, index, out_shape)?)))
    }

    pub fn cat(parts: &[(&Self, &Layout)], dim: usize) -> Result<Self> {
        let first = parts[0].0;
        if let Some((s, _)) = parts.iter().find(|(s, _)| s.device() != first.device()) {
            return Err(Error::DeviceMismatch { op: "cat", lhs: first.device(), rhs: s.device() });
        }
        match first {
            Storage::Cpu(_) => {
                let cpu: Vec<_> = parts.iter().filter_map(|(s, l)| s.as_cpu().map(|c| (c, *l))).collect();
                Ok(Storage::Cpu(CpuStorage::cat(&cpu, dim)?))
            }
            Storage::Cuda(_) => {
                let cuda: Vec<_> = parts
                    .iter()
                    .filter_map(|(s, l)| match s {
                        Storage::Cuda(c) => Some((c, *l)),
                        Storage::Cpu(_) => None,
                    })
                    .collect();
                Ok(Storage::Cuda(CudaStorage::cat(&cuda, dim)?))
            }
        }
    }

    /// `self ← self + rhs` in place (`self` dense and unshared; the tensor layer checks).
    pub fn add_assign(&mut self, rhs: &Self, rhs_layout: &Layout) -> Result<()> {
        match (self, rhs) {
            (Storage::Cpu(a), Storage::Cpu(b)) => a.add_assign(b, rhs_layout),
            (Storage::Cuda(a), Storage::Cuda(b)) if a.device() == b.device() => a.add_assign(b, rhs_layout),
            (a, b) => Err(Error::DeviceMismatch { op: "add_assign", lhs: a.device(), rhs: b.device() }),
        }
    }
}
