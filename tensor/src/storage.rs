//! Device dispatch. `Storage` is the one enum over devices; each method here is the single place an
//! op picks its backend, after checking that every operand lives on one device (else an error that
//! names both devices).

use crate::cpu::CpuStorage;
use crate::cuda::CudaStorage;
use crate::op::{BinaryOp, CmpOp, GeluApproximation, ReduceOp, UnaryOp};
use crate::{DType, Device, Error, Layout, Result};
use kernels::adamw::AdamWConfig;
use kernels::attention::{AttentionDims, HeadLayout};

#[derive(Debug, Clone, PartialEq)]
pub enum Storage {
    Cpu(CpuStorage),
    Cuda(CudaStorage),
}

/// `N` operands' storages, all on one device.
enum On<'a, const N: usize> {
    Cpu([&'a CpuStorage; N]),
    Cuda([&'a CudaStorage; N]),
}

/// The operands' backend storages, or a device mismatch naming the first operand's device and
/// the first that differs.
fn on_one_device<'a, const N: usize>(op: &'static str, operands: [&'a Storage; N]) -> Result<On<'a, N>> {
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
        match self {
            Storage::Cpu(s) => Ok(Storage::Cpu(s.unary(layout, op)?)),
            Storage::Cuda(s) => Ok(Storage::Cuda(s.unary(layout, op)?)),
        }
    }

    pub fn binary(&self, lhs: &Layout, rhs: &Self, rhs_layout: &Layout, op: BinaryOp) -> Result<Self> {
        match on_one_device(op.name(), [self, rhs])? {
            On::Cpu([a, b]) => Ok(Storage::Cpu(a.binary(lhs, b, rhs_layout, op)?)),
            On::Cuda([a, b]) => Ok(Storage::Cuda(a.binary(lhs, b, rhs_layout, op)?)),
        }
    }

    pub fn cmp(&self, lhs: &Layout, rhs: &Self, rhs_layout: &Layout, op: CmpOp) -> Result<Self> {
        match on_one_device(op.name(), [self, rhs])? {
            On::Cpu([a, b]) => Ok(Storage::Cpu(a.cmp(lhs, b, rhs_layout, op)?)),
            On::Cuda([a, b]) => Ok(Storage::Cuda(a.cmp(lhs, b, rhs_layout, op)?)),
        }
    }

    pub fn where_cond(&self, mask: &Layout, t: (&Self, &Layout), f: (&Self, &Layout)) -> Result<Self> {
        match on_one_device("where_cond", [self, t.0, f.0])? {
            On::Cpu([m, a, b]) => Ok(Storage::Cpu(m.where_cond(mask, a, t.1, b, f.1)?)),
            On::Cuda([m, a, b]) => Ok(Storage::Cuda(m.where_cond(mask, (a, t.1), (b, f.1))?)),
        }
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
        match self {
            Storage::Cpu(s) => Ok(Storage::Cpu(s.reduce(layout, dims, op)?)),
            Storage::Cuda(s) => Ok(Storage::Cuda(s.reduce(layout, dims, op)?)),
        }
    }

    /// `A·B` (+ `bias` on every row), see [`CpuStorage::matmul`] and [`CudaStorage::matmul`]: the
    /// `[batch…, m, n]` result and its layout (dense on the CPU; on a GPU its rows may be padded).
    pub fn matmul(
        &self,
        lhs: &Layout,
        rhs: &Self,
        rhs_layout: &Layout,
        bias: Option<(&Self, &Layout)>,
    ) -> Result<(Self, Layout)> {
        let bias_storage = bias.map_or(self, |(c, _)| c);
        let r = lhs.rank();
        let out_shape = [&lhs.shape()[..r - 1], &rhs_layout.shape()[r - 1..]].concat();
        match on_one_device("matmul", [self, rhs, bias_storage])? {
            On::Cpu([a, b, c]) => {
                let out = a.matmul(lhs, b, rhs_layout, bias.map(|(_, l)| (c, l)))?;
                Ok((Storage::Cpu(out), Layout::contiguous(&out_shape)))
            }
            On::Cuda([a, b, c]) => {
                let (out, row_stride) = a.matmul(lhs, b, rhs_layout, bias.map(|(_, l)| (c, l)))?;
                Ok((Storage::Cuda(out), Layout::rows_apart(&out_shape, row_stride)))
            }
        }
    }

    pub fn index_select(&self, layout: &Layout, dim: usize, ids: &[usize]) -> Result<Self> {
        match self {
            Storage::Cpu(s) => Ok(Storage::Cpu(s.index_select(layout, dim, ids))),
            Storage::Cuda(s) => Ok(Storage::Cuda(s.index_select(layout, dim, ids)?)),
        }
    }

    pub fn index_add(&self, layout: &Layout, dim: usize, ids: &[usize], size: usize) -> Result<Self> {
        match self {
            Storage::Cpu(s) => Ok(Storage::Cpu(s.index_add(layout, dim, ids, size)?)),
            Storage::Cuda(s) => Ok(Storage::Cuda(s.index_add(layout, dim, ids, size)?)),
        }
    }

    pub fn embedding(&self, layout: &Layout, ids: &[usize]) -> Result<Self> {
        match self {
            Storage::Cpu(s) => Ok(Storage::Cpu(crate::cpu::embedding(s, layout, ids))),
            Storage::Cuda(s) => Ok(Storage::Cuda(s.embedding(layout, ids)?)),
        }
    }

    pub fn gather(&self, layout: &Layout, dim: usize, index: &[usize], index_shape: &[usize]) -> Result<Self> {
        match self {
            Storage::Cpu(s) => Ok(Storage::Cpu(s.gather(layout, dim, index, index_shape))),
            Storage::Cuda(s) => Ok(Storage::Cuda(s.gather(layout, dim, index, index_shape)?)),
        }
    }

    pub fn scatter_add(&self, layout: &Layout, dim: usize, index: &[usize], out_shape: &[usize]) -> Result<Self> {
        match self {
            Storage::Cpu(s) => Ok(Storage::Cpu(s.scatter_add(layout, dim, index, out_shape)?)),
            Storage::Cuda(s) => Ok(Storage::Cuda(s.scatter_add(layout, dim, index, out_shape)?)),
        }
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

    pub fn softmax_last_dim(&self, layout: &Layout, log: bool) -> Result<Self> {
        match self {
            Storage::Cpu(s) => Ok(Storage::Cpu(s.softmax_last_dim(layout, log)?)),
            Storage::Cuda(s) => Ok(Storage::Cuda(s.softmax_last_dim(layout, log)?)),
        }
    }

    pub fn softmax_last_dim_backward(&self, y: &Layout, dy: &Self, dy_layout: &Layout, log: bool) -> Result<Self> {
        match on_one_device("softmax_backward", [self, dy])? {
            On::Cpu([a, b]) => Ok(Storage::Cpu(a.softmax_last_dim_backward(y, b, dy_layout, log)?)),
            On::Cuda([a, b]) => Ok(Storage::Cuda(a.softmax_last_dim_backward(y, b, dy_layout, log)?)),
        }
    }

    pub fn layer_norm(
        &self,
        layout: &Layout,
        gamma: (&Self, &Layout),
        beta: (&Self, &Layout),
        eps: f64,
    ) -> Result<(Self, Self, Self)> {
        match on_one_device("layer_norm", [self, gamma.0, beta.0])? {
            On::Cpu([x, g, b]) => {
                let (y, m, r) = x.layer_norm(layout, g, gamma.1, b, beta.1, eps)?;
                Ok((Storage::Cpu(y), Storage::Cpu(m), Storage::Cpu(r)))
            }
            On::Cuda([x, g, b]) => {
                let (y, m, r) = x.layer_norm(layout, (g, gamma.1), (b, beta.1), eps)?;
                Ok((Storage::Cuda(y), Storage::Cuda(m), Storage::Cuda(r)))
            }
        }
    }

    pub fn layer_norm_backward(
        &self,
        layout: &Layout,
        gamma: (&Self, &Layout),
        mean: (&Self, &Layout),
        rstd: (&Self, &Layout),
        dy: (&Self, &Layout),
    ) -> Result<(Self, Self, Self)> {
        match on_one_device("layer_norm_backward", [self, gamma.0, mean.0, rstd.0, dy.0])? {
            On::Cpu([x, g, m, r, d]) => {
                let (dx, dg, db) = x.layer_norm_backward(layout, (g, gamma.1), (m, mean.1), (r, rstd.1), (d, dy.1))?;
                Ok((Storage::Cpu(dx), Storage::Cpu(dg), Storage::Cpu(db)))
            }
            On::Cuda([x, g, m, r, d]) => {
                let (dx, dg, db) = x.layer_norm_backward(layout, (g, gamma.1), (m, mean.1), (r, rstd.1), (d, dy.1))?;
                Ok((Storage::Cuda(dx), Storage::Cuda(dg), Storage::Cuda(db)))
            }
        }
    }

    /// Fused attention forward from `[q, k, v]` read through their head layouts:
    /// `(out laid out by out_layout, saved)`, where `saved` is what the backward needs besides the
    /// inputs and the output: on the CPU the dense probabilities `(batch, T, S)`, on a GPU each
    /// query row's log-sum-exp `(batch, T)`.
    pub fn attention(
        dims: &AttentionDims,
        scale: f64,
        inputs: [(&Self, HeadLayout); 3],
        out_layout: HeadLayout,
    ) -> Result<(Self, Self)> {
        let [q, k, v] = inputs.map(|(_, l)| l);
        match on_one_device("attention", inputs.map(|(s, _)| s))? {
            On::Cpu([a, b, c]) => {
                let (out, p) = CpuStorage::attention(dims, scale, [(a, q), (b, k), (c, v)], out_layout)?;
                Ok((Storage::Cpu(out), Storage::Cpu(p)))
            }
            On::Cuda([a, b, c]) => {
                let (out, lse) = CudaStorage::attention(dims, scale, [(a, q), (b, k), (c, v)], out_layout)?;
                Ok((Storage::Cuda(out), Storage::Cuda(lse)))
            }
        }
    }

    /// Fused attention backward from `[q, k, v, out, saved, d_out]`: one buffer of `len` elements
    /// holding dq, dk, dv as laid out by `grad_layouts`.
    pub fn attention_backward(
        dims: &AttentionDims,
        scale: f64,
        inputs: [(&Self, HeadLayout); 6],
        grad_layouts: [HeadLayout; 3],
        len: usize,
    ) -> Result<Self> {
        let [q, k, v, _, p, d] = inputs.map(|(_, l)| l);
        match on_one_device("attention_backward", inputs.map(|(s, _)| s))? {
            On::Cpu([a, b, c, _, e, f]) => {
                let cpu = [(a, q), (b, k), (c, v), (e, p), (f, d)];
                Ok(Storage::Cpu(CpuStorage::attention_backward(dims, scale, cpu, grad_layouts, len)?))
            }
            On::Cuda(s) => {
                let cuda = [0, 1, 2, 3, 4, 5].map(|i| (s[i], inputs[i].1));
                Ok(Storage::Cuda(CudaStorage::attention_backward(dims, scale, cuda, grad_layouts, len)?))
            }
        }
    }

    pub fn gelu_backward(
        &self,
        layout: &Layout,
        dy: &Self,
        dy_layout: &Layout,
        approx: GeluApproximation,
    ) -> Result<Self> {
        match on_one_device("gelu_backward", [self, dy])? {
            On::Cpu([x, d]) => Ok(Storage::Cpu(x.gelu_backward(layout, d, dy_layout, approx)?)),
            On::Cuda([x, d]) => Ok(Storage::Cuda(x.gelu_backward(layout, d, dy_layout, approx)?)),
        }
    }

    pub fn cross_entropy(&self, layout: &Layout, targets: &[Option<usize>]) -> Result<Self> {
        match self {
            Storage::Cpu(s) => Ok(Storage::Cpu(s.cross_entropy(layout, targets)?)),
            Storage::Cuda(s) => Ok(Storage::Cuda(s.cross_entropy(layout, targets)?)),
        }
    }

    /// The gradient of [`Storage::cross_entropy`] and its layout (dense on the CPU; on the GPU in
    /// rows padded to 16 bytes); the forward's `losses`, when given, let the GPU take one pass over
    /// the logits (the CPU computes as before).
    pub fn cross_entropy_backward(
        &self,
        layout: &Layout,
        targets: &[Option<usize>],
        (dloss, dloss_layout): (&Self, &Layout),
        losses: Option<(&Self, &Layout)>,
    ) -> Result<(Self, Layout)> {
        let cuda = |(grad, layout)| (Storage::Cuda(grad), layout);
        match (on_one_device("cross_entropy_backward", [self, dloss])?, losses) {
            (On::Cpu([x, d]), _) => Ok((
                Storage::Cpu(x.cross_entropy_backward(layout, targets, d, dloss_layout)?),
                Layout::contiguous(layout.shape()),
            )),
            (On::Cuda([x, d]), Some((Storage::Cuda(l), ll))) => {
                Ok(cuda(x.cross_entropy_backward(layout, targets, (d, dloss_layout), Some((l, ll)))?))
            }
            (On::Cuda([x, d]), _) => Ok(cuda(x.cross_entropy_backward(layout, targets, (d, dloss_layout), None)?)),
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

    pub fn adamw_step(
        &mut self,
        grad: (&Self, &Layout),
        m: &mut Self,
        v: &mut Self,
        cfg: &AdamWConfig,
        t: u64,
    ) -> Result<()> {
        let device = self.device();
        let mismatch = [grad.0.device(), m.device(), v.device()].into_iter().find(|d| *d != device);
        if let Some(rhs) = mismatch {
            return Err(Error::DeviceMismatch { op: "adamw_step", lhs: device, rhs });
        }
        match (self, grad.0, m, v) {
            (Storage::Cpu(p), Storage::Cpu(g), Storage::Cpu(m), Storage::Cpu(v)) => {
                p.adamw_step((g, grad.1), m, v, cfg, t)
            }
            (Storage::Cuda(p), Storage::Cuda(g), Storage::Cuda(m), Storage::Cuda(v)) => {
                p.adamw_step((g, grad.1), m, v, cfg, t)
            }
            _ => unreachable!("checked: one device"),
        }
    }

    /// One AdamW step on every parameter of `parts`: with all of them on GPUs, one launch per
    /// device for those sharing β₁, β₂ and ε ([`CudaStorage::adamw_step_all`]); otherwise one
    /// after another.
    pub fn adamw_step_all(parts: Vec<AdamWBuffers<'_, Storage>>, t: u64) -> Result<()> {
        if !parts.iter().all(|p| matches!(p.param, Storage::Cuda(_))) {
            for p in parts {
                p.param.adamw_step(p.grad, p.m, p.v, p.cfg, t)?;
            }
            return Ok(());
        }
        let mut on_gpus = parts.into_iter().map(AdamWBuffers::on_gpu).collect::<Result<Vec<_>>>()?;
        CudaStorage::adamw_step_all(&mut on_gpus, t)
    }
}

/// One parameter's buffers for a multi-tensor AdamW step: the parameter, its gradient, its moments
/// and its settings. `rows_of`: for a matrix that bf16 products read, the length of its rows (its
/// last dim), so a GPU step also writes its bf16 image.
pub struct AdamWBuffers<'a, S> {
    pub param: &'a mut S,
    pub grad: (&'a S, &'a Layout),
    pub m: &'a mut S,
    pub v: &'a mut S,
    pub cfg: &'a AdamWConfig,
    pub rows_of: Option<usize>,
}

impl<'a> AdamWBuffers<'a, Storage> {
    /// The GPU buffers, or a device mismatch if any lives elsewhere.
    fn on_gpu(self) -> Result<AdamWBuffers<'a, CudaStorage>> {
        let device = self.param.device();
        match (self.param, self.grad.0, self.m, self.v) {
            (Storage::Cuda(param), Storage::Cuda(grad), Storage::Cuda(m), Storage::Cuda(v)) => {
                Ok(AdamWBuffers { param, grad: (grad, self.grad.1), m, v, cfg: self.cfg, rows_of: self.rows_of })
            }
            (_, g, m, v) => {
                let rhs = [g.device(), m.device(), v.device()].into_iter().find(|d| *d != device).unwrap_or(device);
                Err(Error::DeviceMismatch { op: "adamw_step", lhs: device, rhs })
            }
        }
    }
}
