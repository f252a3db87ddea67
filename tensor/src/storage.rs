//! Device dispatch. `Storage` is the one enum over devices; each method here is the single place an
//! op picks its backend. Adding a device adds an arm to these matches, not new op code.

use crate::cpu::CpuStorage;
use crate::op::{BinaryOp, CmpOp, GeluApproximation, ReduceOp, UnaryOp};
use crate::{DType, Device, Layout, Result};
use kernels::cpu::adamw::AdamWConfig;
use kernels::cpu::attention::{AttentionDims, HeadLayout};

#[derive(Debug, Clone, PartialEq)]
pub enum Storage {
    Cpu(CpuStorage),
}

/// Two operands' CPU storages. With a second device, this is where a device mismatch is reported
/// (`Error::DeviceMismatch` naming both).
fn cpu_pair<'a>(_op: &'static str, a: &'a Storage, b: &'a Storage) -> Result<(&'a CpuStorage, &'a CpuStorage)> {
    let (Storage::Cpu(a), Storage::Cpu(b)) = (a, b);
    Ok((a, b))
}

/// Every operand's CPU storage (all on the device of the first).
fn cpu_all<'a, L, const N: usize>(
    op: &'static str,
    operands: [(&'a Storage, L); N],
) -> Result<[(&'a CpuStorage, L); N]> {
    let first = operands.first().map(|o| o.0);
    let mut cpu = Vec::with_capacity(N);
    for (s, layout) in operands {
        cpu.push((cpu_pair(op, first.unwrap_or(s), s)?.1, layout));
    }
    Ok(cpu.try_into().unwrap_or_else(|_| unreachable!("N operands in, N out")))
}

impl Storage {
    pub fn device(&self) -> Device {
        match self {
            Storage::Cpu(_) => Device::Cpu,
        }
    }

    pub fn dtype(&self) -> DType {
        match self {
            Storage::Cpu(s) => s.dtype(),
        }
    }

    pub fn len(&self) -> usize {
        match self {
            Storage::Cpu(s) => s.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn as_cpu(&self) -> &CpuStorage {
        match self {
            Storage::Cpu(s) => s,
        }
    }

    pub fn full(value: f64, n: usize, dtype: DType, device: Device) -> Self {
        match device {
            Device::Cpu => Storage::Cpu(CpuStorage::full(value, n, dtype)),
        }
    }

    pub fn from_f64_iter(values: impl Iterator<Item = f64>, dtype: DType, device: Device) -> Self {
        match device {
            Device::Cpu => Storage::Cpu(CpuStorage::from_f64_iter(values, dtype)),
        }
    }

    pub fn contiguous(&self, layout: &Layout) -> Self {
        match self {
            Storage::Cpu(s) => Storage::Cpu(s.contiguous(layout)),
        }
    }

    pub fn to_dtype(&self, layout: &Layout, dtype: DType) -> Self {
        match self {
            Storage::Cpu(s) => Storage::Cpu(s.to_dtype(layout, dtype)),
        }
    }

    pub fn to_f64_vec(&self, layout: &Layout) -> Vec<f64> {
        match self {
            Storage::Cpu(s) => s.to_f64_vec(layout),
        }
    }

    pub fn indices(&self, layout: &Layout, size: usize, op: &'static str) -> Result<Vec<usize>> {
        match self {
            Storage::Cpu(s) => s.indices(layout, size, op),
        }
    }

    pub fn unary(&self, layout: &Layout, op: UnaryOp) -> Result<Self> {
        match self {
            Storage::Cpu(s) => Ok(Storage::Cpu(s.unary(layout, op)?)),
        }
    }

    pub fn binary(&self, lhs: &Layout, rhs: &Self, rhs_layout: &Layout, op: BinaryOp) -> Result<Self> {
        let (a, b) = cpu_pair(op.name(), self, rhs)?;
        Ok(Storage::Cpu(a.binary(lhs, b, rhs_layout, op)?))
    }

    pub fn cmp(&self, lhs: &Layout, rhs: &Self, rhs_layout: &Layout, op: CmpOp) -> Result<Self> {
        let (a, b) = cpu_pair(op.name(), self, rhs)?;
        Ok(Storage::Cpu(a.cmp(lhs, b, rhs_layout, op)?))
    }

    pub fn where_cond(&self, mask: &Layout, t: (&Self, &Layout), f: (&Self, &Layout)) -> Result<Self> {
        let (m, a) = cpu_pair("where_cond", self, t.0)?;
        let (_, b) = cpu_pair("where_cond", self, f.0)?;
        Ok(Storage::Cpu(m.where_cond(mask, a, t.1, b, f.1)?))
    }

    pub fn reduce(&self, layout: &Layout, dims: &[usize], op: ReduceOp) -> Result<Self> {
        match self {
            Storage::Cpu(s) => Ok(Storage::Cpu(s.reduce(layout, dims, op)?)),
        }
    }

    /// `A·B` (+ `bias` on every row), see [`CpuStorage::matmul`].
    pub fn matmul(
        &self,
        lhs: &Layout,
        rhs: &Self,
        rhs_layout: &Layout,
        bias: Option<(&Self, &Layout)>,
    ) -> Result<Self> {
        let (a, b) = cpu_pair("matmul", self, rhs)?;
        let bias = match bias {
            Some((c, l)) => Some((cpu_pair("matmul", self, c)?.1, l)),
            None => None,
        };
        Ok(Storage::Cpu(a.matmul(lhs, b, rhs_layout, bias)?))
    }

    pub fn index_select(&self, layout: &Layout, dim: usize, ids: &[usize]) -> Self {
        match self {
            Storage::Cpu(s) => Storage::Cpu(s.index_select(layout, dim, ids)),
        }
    }

    pub fn index_add(&self, layout: &Layout, dim: usize, ids: &[usize], size: usize) -> Result<Self> {
        match self {
            Storage::Cpu(s) => Ok(Storage::Cpu(s.index_add(layout, dim, ids, size)?)),
        }
    }

    pub fn embedding(&self, layout: &Layout, ids: &[usize]) -> Self {
        match self {
            Storage::Cpu(s) => Storage::Cpu(crate::cpu::embedding(s, layout, ids)),
        }
    }

    pub fn gather(&self, layout: &Layout, dim: usize, index: &[usize], index_shape: &[usize]) -> Self {
        match self {
            Storage::Cpu(s) => Storage::Cpu(s.gather(layout, dim, index, index_shape)),
        }
    }

    pub fn scatter_add(&self, layout: &Layout, dim: usize, index: &[usize], out_shape: &[usize]) -> Result<Self> {
        match self {
            Storage::Cpu(s) => Ok(Storage::Cpu(s.scatter_add(layout, dim, index, out_shape)?)),
        }
    }

    pub fn cat(parts: &[(&Self, &Layout)], dim: usize) -> Result<Self> {
        let cpu: Vec<(&CpuStorage, &Layout)> =
            parts.iter().map(|(s, l)| cpu_pair("cat", parts[0].0, s).map(|(_, c)| (c, *l))).collect::<Result<_>>()?;
        Ok(Storage::Cpu(CpuStorage::cat(&cpu, dim)?))
    }

    pub fn softmax_last_dim(&self, layout: &Layout, log: bool) -> Result<Self> {
        match self {
            Storage::Cpu(s) => Ok(Storage::Cpu(s.softmax_last_dim(layout, log)?)),
        }
    }

    pub fn softmax_last_dim_backward(&self, y: &Layout, dy: &Self, dy_layout: &Layout, log: bool) -> Result<Self> {
        let (a, b) = cpu_pair("softmax_backward", self, dy)?;
        Ok(Storage::Cpu(a.softmax_last_dim_backward(y, b, dy_layout, log)?))
    }

    pub fn layer_norm(
        &self,
        layout: &Layout,
        gamma: (&Self, &Layout),
        beta: (&Self, &Layout),
        eps: f64,
    ) -> Result<(Self, Self, Self)> {
        let (x, g) = cpu_pair("layer_norm", self, gamma.0)?;
        let (_, b) = cpu_pair("layer_norm", self, beta.0)?;
        let (y, m, r) = x.layer_norm(layout, g, gamma.1, b, beta.1, eps)?;
        Ok((Storage::Cpu(y), Storage::Cpu(m), Storage::Cpu(r)))
    }

    pub fn layer_norm_backward(
        &self,
        layout: &Layout,
        gamma: (&Self, &Layout),
        mean: (&Self, &Layout),
        rstd: (&Self, &Layout),
        dy: (&Self, &Layout),
    ) -> Result<(Self, Self, Self)> {
        let op = "layer_norm_backward";
        let (x, g) = cpu_pair(op, self, gamma.0)?;
        let (_, m) = cpu_pair(op, self, mean.0)?;
        let (_, r) = cpu_pair(op, self, rstd.0)?;
        let (_, d) = cpu_pair(op, self, dy.0)?;
        let (dx, dg, db) = x.layer_norm_backward(layout, (g, gamma.1), (m, mean.1), (r, rstd.1), (d, dy.1))?;
        Ok((Storage::Cpu(dx), Storage::Cpu(dg), Storage::Cpu(db)))
    }

    /// Fused attention forward from `[q, k, v]` read through their head layouts:
    /// `(out laid out by out_layout, dense probabilities)`.
    pub fn attention(
        dims: &AttentionDims,
        scale: f64,
        inputs: [(&Self, HeadLayout); 3],
        out_layout: HeadLayout,
    ) -> Result<(Self, Self)> {
        let (out, p) = CpuStorage::attention(dims, scale, cpu_all("attention", inputs)?, out_layout)?;
        Ok((Storage::Cpu(out), Storage::Cpu(p)))
    }

    /// Fused attention backward from `[q, k, v, p, d_out]`: one buffer of `len` elements holding
    /// dq, dk, dv as laid out by `grad_layouts`.
    pub fn attention_backward(
        dims: &AttentionDims,
        scale: f64,
        inputs: [(&Self, HeadLayout); 5],
        grad_layouts: [HeadLayout; 3],
        len: usize,
    ) -> Result<Self> {
        let cpu = cpu_all("attention_backward", inputs)?;
        Ok(Storage::Cpu(CpuStorage::attention_backward(dims, scale, cpu, grad_layouts, len)?))
    }

    pub fn gelu_backward(
        &self,
        layout: &Layout,
        dy: &Self,
        dy_layout: &Layout,
        approx: GeluApproximation,
    ) -> Result<Self> {
        let (x, d) = cpu_pair("gelu_backward", self, dy)?;
        Ok(Storage::Cpu(x.gelu_backward(layout, d, dy_layout, approx)?))
    }

    pub fn cross_entropy(&self, layout: &Layout, targets: &[Option<usize>]) -> Result<Self> {
        match self {
            Storage::Cpu(s) => Ok(Storage::Cpu(s.cross_entropy(layout, targets)?)),
        }
    }

    pub fn cross_entropy_backward(
        &self,
        layout: &Layout,
        targets: &[Option<usize>],
        dloss: &Self,
        dloss_layout: &Layout,
    ) -> Result<Self> {
        let (x, d) = cpu_pair("cross_entropy_backward", self, dloss)?;
        Ok(Storage::Cpu(x.cross_entropy_backward(layout, targets, d, dloss_layout)?))
    }

    /// `self ← self + rhs` in place (`self` dense and unshared; the tensor layer checks).
    pub fn add_assign(&mut self, rhs: &Self, rhs_layout: &Layout) -> Result<()> {
        let (Storage::Cpu(a), Storage::Cpu(b)) = (self, rhs);
        a.add_assign(b, rhs_layout)
    }

    pub fn adamw_step(
        &mut self,
        grad: (&Self, &Layout),
        m: &mut Self,
        v: &mut Self,
        cfg: &AdamWConfig,
        t: u64,
    ) -> Result<()> {
        let (Storage::Cpu(p), Storage::Cpu(g), Storage::Cpu(m), Storage::Cpu(v)) = (self, grad.0, m, v);
        p.adamw_step((g, grad.1), m, v, cfg, t)
    }
}
