//! Elementwise ops on the GPU: one grid-stride kernel per family, every operand read through its
//! own layout (broadcasts are stride 0), the output dense.

use super::{cuda_error, distinct_elements, over, CudaData, CudaStorage, KernelLayout};
use crate::op::{BinaryOp, CmpOp, GeluApproximation, UnaryOp};
use crate::{Error, Layout, Result};
use kernels::cuda::cost::{Cost, Math};
use kernels::launch;

/// The op code of `unary_op` in elementwise.cu, and its scalar.
fn unary_code(op: UnaryOp) -> (i32, f32) {
    match op {
        UnaryOp::Neg => (0, 0.0),
        UnaryOp::Exp => (1, 0.0),
        UnaryOp::Log => (2, 0.0),
        UnaryOp::Tanh => (3, 0.0),
        UnaryOp::Sigmoid => (4, 0.0),
        UnaryOp::Relu => (5, 0.0),
        UnaryOp::Sqrt => (6, 0.0),
        UnaryOp::Abs => (7, 0.0),
        UnaryOp::AddScalar(s) => (8, s as f32),
        UnaryOp::MulScalar(s) => (9, s as f32),
        UnaryOp::PowScalar(s) => (10, s as f32),
        UnaryOp::DivScalar(s) => (11, s as f32),
        UnaryOp::Gelu(GeluApproximation::Erf) => (12, 0.0),
        UnaryOp::Gelu(GeluApproximation::Tanh) => (13, 0.0),
    }
}

fn binary_code(op: BinaryOp) -> i32 {
    match op {
        BinaryOp::Add => 0,
        BinaryOp::Sub => 1,
        BinaryOp::Mul => 2,
        BinaryOp::Div => 3,
        BinaryOp::Maximum => 4,
        BinaryOp::Minimum => 5,
        BinaryOp::Pow => 6,
    }
}

fn cmp_code(op: CmpOp) -> i32 {
    match op {
        CmpOp::Eq => 0,
        CmpOp::Ne => 1,
        CmpOp::Lt => 2,
        CmpOp::Le => 3,
        CmpOp::Gt => 4,
        CmpOp::Ge => 5,
    }
}

impl CudaStorage {
    pub fn unary(&self, layout: &Layout, op: UnaryOp) -> Result<Self> {
        let name = op.name();
        if let (UnaryOp::Gelu(approx), true) = (op, layout.is_contiguous()) {
            return self.gelu(layout, approx);
        }
        let x = self.f32s(name, layout.shape())?;
        let n = layout.elem_count();
        let mut out = self.alloc_f32(name, n)?;
        let ((code, s), count, lx) = (unary_code(op), n as i64, KernelLayout::new(name, layout)?);
        let cost = Cost::f32s(distinct_elements(layout), n).with_flops(n, Math::CudaCores);
        // Safety: `unary_f32(op, s, n, x, lx, out)`; lx stays inside x, out holds n floats.
        unsafe { launch!(self.gpu, "elementwise.cu", "unary_f32", over(n), cost, &code, &s, &count, x, &lx, &mut out) }
            .map_err(cuda_error(name))?;
        Ok(self.with(n, CudaData::F32(out)))
    }

    /// `a op b` for two layouts of the same (broadcast) shape.
    pub fn binary(&self, lhs: &Layout, rhs: &Self, rhs_layout: &Layout, op: BinaryOp) -> Result<Self> {
        let name = op.name();
        let (a, b) = (self.f32s(name, lhs.shape())?, rhs.f32s(name, rhs_layout.shape())?);
        let n = lhs.elem_count();
        let mut out = self.alloc_f32(name, n)?;
        let (code, count) = (binary_code(op), n as i64);
        let (la, lb) = (KernelLayout::new(name, lhs)?, KernelLayout::new(name, rhs_layout)?);
        let cost = Cost::f32s(distinct_elements(lhs) + distinct_elements(rhs_layout), n).with_flops(n, Math::CudaCores);
        // Safety: `binary_f32(op, n, a, la, b, lb, out)`; both layouts have n elements.
        unsafe {
            launch!(self.gpu, "elementwise.cu", "binary_f32", over(n), cost, &code, &count, a, &la, b, &lb, &mut out)
        }
        .map_err(cuda_error(name))?;
        Ok(self.with(n, CudaData::F32(out)))
    }

    /// `self ← self + rhs` in place (`self` dense, `rhs` read through its layout).
    pub fn add_assign(&mut self, rhs: &Self, rhs_layout: &Layout) -> Result<()> {
        let b = rhs.f32s("add_assign", rhs_layout.shape())?;
        let (n, lb) = (self.len as i64, KernelLayout::new("add_assign", rhs_layout)?);
        let len = self.len;
        let cost = Cost::f32s(len + distinct_elements(rhs_layout), len).with_flops(len, Math::CudaCores);
        let gpu = self.gpu.clone();
        let a = self.f32s_mut("add_assign")?;
        // Safety: `add_assign_f32(n, dst, src, ls)`; dst holds n floats, ls reads n elements of src.
        unsafe { launch!(gpu, "elementwise.cu", "add_assign_f32", over(n as usize), cost, &n, a, b, &lb) }
            .map_err(cuda_error("add_assign"))
    }

    /// The u32 mask `a ⋈ b`.
    pub fn cmp(&self, lhs: &Layout, rhs: &Self, rhs_layout: &Layout, op: CmpOp) -> Result<Self> {
        let name = op.name();
        let (a, b) = (self.f32s(name, lhs.shape())?, rhs.f32s(name, rhs_layout.shape())?);
        let n = lhs.elem_count();
        // Safety: written in full by the kernel below.
        let mut out = unsafe { self.gpu.stream.alloc::<u32>(n.max(1)) }.map_err(super::driver_error(name))?;
        let (code, count) = (cmp_code(op), n as i64);
        let (la, lb) = (KernelLayout::new(name, lhs)?, KernelLayout::new(name, rhs_layout)?);
        let cost = Cost::f32s(distinct_elements(lhs) + distinct_elements(rhs_layout), n).with_flops(n, Math::CudaCores);
        // Safety: `cmp_f32(op, n, a, la, b, lb, out)`.
        unsafe {
            launch!(self.gpu, "elementwise.cu", "cmp_f32", over(n), cost, &code, &count, a, &la, b, &lb, &mut out)
        }
        .map_err(cuda_error(name))?;
        Ok(self.with(n, CudaData::U32(out)))
    }

    /// `t` where the u32 mask `self` is non-zero, else `f`.
    pub fn where_cond(&self, mask: &Layout, t: (&Self, &Layout), f: (&Self, &Layout)) -> Result<Self> {
        let CudaData::U32(m) = &self.data else {
            return Err(Error::UnsupportedDType {
                op: "where_cond",
                dtype: self.dtype(),
                device: self.device(),
                shape: mask.shape().to_vec(),
            });
        };
        let (a, b) = (t.0.f32s("where_cond", t.1.shape())?, f.0.f32s("where_cond", f.1.shape())?);
        let n = mask.elem_count();
        let mut out = self.alloc_f32("where_cond", n)?;
        let k = |l| KernelLayout::new("where_cond", l);
        let (lm, la, lb, count) = (k(mask)?, k(t.1)?, k(f.1)?, n as i64);
        let cost = Cost::f32s(distinct_elements(mask) + distinct_elements(t.1) + distinct_elements(f.1), n);
        // Safety: `where_f32(n, cond, lc, a, la, b, lb, out)`, all layouts of n elements.
        unsafe {
            launch!(self.gpu, "elementwise.cu", "where_f32", over(n), cost, &count, m, &lm, a, &la, b, &lb, &mut out)
        }
        .map_err(cuda_error("where_cond"))?;
        Ok(self.with(n, CudaData::F32(out)))
    }
}
