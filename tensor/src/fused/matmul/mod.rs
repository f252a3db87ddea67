//! Matrix multiplication with batched and broadcast batch dims: the tensor methods, dispatched to
//! the device adapters (`cpu.rs`: `kernels::gemm`; `cuda.rs`: cuBLAS).

mod cpu;
mod cuda;

pub(crate) use cpu::ContextMicroKernel;

use crate::cuda::CudaData;
use crate::shape::broadcast_shapes;
use crate::storage::{on_device, Storage};
use crate::{DType, Device, Error, Layout, Result, Tensor};

impl Tensor {
    /// `C = A·B` over the last two dims: `[…, m, k] · […, k, n] → […, m, n]`, the batch dims
    /// broadcast (numpy `matmul`). A 1-D operand is a vector: `[k]` on the left acts as `[1, k]`,
    /// on the right as `[k, 1]`, and that dim is dropped from the result.
    /// On a GPU, f32 and bf16 operands mix (the product runs on bf16 tensor cores, into f32).
    pub fn matmul(&self, rhs: &Tensor) -> Result<Tensor> {
        self.matmul_operands(rhs, "matmul")?;
        if self.rank() == 0 || rhs.rank() == 0 {
            return Err(Error::invalid(
                "matmul",
                format!("needs rank ≥ 1, got {:?} · {:?}", self.shape(), rhs.shape()),
            ));
        }
        if rhs.rank() == 2 && self.rank() > 2 && self.shape()[self.rank() - 1] == rhs.shape()[0] {
            // A batch of matrices times one matrix is one tall product: fold the batch dims into
            // the rows, `[…, m, k]·[k, n] = ([…·m, k]·[k, n]).reshape([…, m, n])`.
            let (k, n) = (rhs.shape()[0], rhs.shape()[1]);
            let rows = self.elem_count() / k.max(1);
            let out_shape = [&self.shape()[..self.rank() - 1], &[n]].concat();
            return self.reshape(&[rows, k])?.matmul(rhs)?.reshape(&out_shape);
        }
        let lhs = if self.rank() == 1 { self.unsqueeze(0)? } else { self.clone() };
        let rhs_m = if rhs.rank() == 1 { rhs.unsqueeze(1)? } else { rhs.clone() };
        let (lr, rr) = (lhs.rank(), rhs_m.rank());
        let (m, k) = (lhs.shape()[lr - 2], lhs.shape()[lr - 1]);
        let (k2, n) = (rhs_m.shape()[rr - 2], rhs_m.shape()[rr - 1]);
        if k != k2 {
            return Err(Error::ShapeMismatch { op: "matmul", lhs: self.shape().to_vec(), rhs: rhs.shape().to_vec() });
        }
        let batch = broadcast_shapes("matmul", &lhs.shape()[..lr - 2], &rhs_m.shape()[..rr - 2])?;
        let a = lhs.broadcast_to(&[batch.clone(), vec![m, k]].concat())?;
        let b = rhs_m.broadcast_to(&[batch.clone(), vec![k, n]].concat())?;
        let out = Self::product(&a, &b, None)?;
        // Drop the dims that the vector operands gained: `n` (rhs) first, then `m` (lhs).
        let out = if rhs.rank() == 1 { out.squeeze(-1)? } else { out };
        if self.rank() == 1 {
            let m_dim = if rhs.rank() == 1 { -1 } else { -2 };
            return out.squeeze(m_dim);
        }
        Ok(out)
    }

    /// [`Tensor::matmul`] written in `dtype`. On a GPU, a bf16 product of `[…, m, k]·[k, n]` comes
    /// straight from the product's f32 sums (rounded once, in rows padded to 16 bytes): an output
    /// read only as bf16, as GELU's backward reads the MLP's `dy·Wᵀ`. Otherwise the product is
    /// converted where `dtype` is not its own.
    pub fn matmul_into(&self, rhs: &Tensor, dtype: DType) -> Result<Tensor> {
        let k = self.shape().last().copied().unwrap_or(0);
        let folds = self.rank() >= 2 && rhs.rank() == 2 && rhs.shape()[0] == k;
        if dtype == DType::BF16 && folds && matches!(self.device(), Device::Cuda(_)) {
            self.matmul_operands(rhs, "matmul")?;
            let (rows, n) = (self.elem_count() / k.max(1), rhs.shape()[1]);
            let lhs = self.reshape(&[rows, k])?;
            let (Storage::Cuda(a), Storage::Cuda(b)) = (lhs.storage(), rhs.storage()) else {
                unreachable!("operands on one GPU (checked)")
            };
            let (c, stride) = a.matmul_into_bf16(lhs.layout(), b, rhs.layout())?;
            let out_shape = [&self.shape()[..self.rank() - 1], &[n]].concat();
            let storage = Storage::Cuda(a.with(rows * stride, CudaData::BF16(c)));
            return Ok(Tensor::from_storage_with_layout(storage, Layout::rows_apart(&out_shape, stride)));
        }
        let c = self.matmul(rhs)?;
        Ok(if c.dtype() == dtype { c } else { c.to_dtype(dtype) })
    }

    /// Operands on one device and of one dtype, or f32 with bf16 on a GPU.
    fn matmul_operands(&self, rhs: &Tensor, op: &'static str) -> Result<()> {
        let dtypes = [self.dtype(), rhs.dtype()];
        let mixed = dtypes.contains(&DType::F32) && dtypes.contains(&DType::BF16);
        match self.device() {
            Device::Cuda(_) if mixed && rhs.device() == self.device() => Ok(()),
            _ => self.same_dtype_device(rhs, op),
        }
    }

    /// The affine map `y = x·W + b`: `x (…, k)`, `W (k, n)`, `b (n)` → `(…, n)`, with the bias
    /// added inside the matrix multiply (no separate pass over `y`).
    /// On a GPU, a bf16 `x` meets f32 weights (as in [`Tensor::matmul`]).
    pub fn linear(&self, weight: &Tensor, bias: &Tensor) -> Result<Tensor> {
        self.linear_operands(weight, bias)?;
        let (k, n) = (weight.shape()[0], weight.shape()[1]);
        let rows = self.shape()[..self.rank() - 1].iter().product();
        let x = self.reshape(&[rows, k])?;
        let out_shape = [&self.shape()[..self.rank() - 1], &[n]].concat();
        Self::product(&x, weight, Some(bias))?.reshape(&out_shape)
    }

    /// `y = r + x·W + b`: a linear layer's output added onto `r` (the residual stream of a
    /// pre-LN block, of y's shape). On a GPU under bf16 products the product's epilogue adds `r`
    /// as it adds the bias (cuBLASLt reading r as its C matrix), so `x·W + b` is never written
    /// alone and no pass of its own adds the two; elsewhere `x·W + b` is summed into in place.
    pub fn linear_onto(&self, weight: &Tensor, bias: &Tensor, residual: &Tensor) -> Result<Tensor> {
        self.linear_operands(weight, bias)?;
        let (k, n) = (weight.shape()[0], weight.shape()[1]);
        let out_shape = [&self.shape()[..self.rank() - 1], &[n]].concat();
        if residual.shape() != out_shape {
            return Err(Error::ShapeMismatch { op: "linear_onto", lhs: out_shape, rhs: residual.shape().to_vec() });
        }
        let x = self.reshape(&[self.elem_count() / k.max(1), k])?;
        if let (Storage::Cuda(x_on), Storage::Cuda(w), Storage::Cuda(b), Storage::Cuda(r)) =
            (x.storage(), weight.storage(), bias.storage(), residual.storage())
        {
            let operands = ((w, weight.layout()), (b, bias.layout()), (r, residual.layout()));
            if let Some(y) = x_on.linear_onto_bf16(x.layout(), operands.0, operands.1, operands.2)? {
                return Ok(Tensor::from_storage(Storage::Cuda(y), &out_shape));
            }
        }
        let mut y = self.linear(weight, bias)?;
        y.add_assign(residual)?;
        Ok(y)
    }

    /// The operands of a linear layer `x·W + b`: `x (…, k)`, `W (k, n)`, `b (n)`, on one device,
    /// the weight and bias of one dtype.
    pub(crate) fn linear_operands(&self, weight: &Tensor, bias: &Tensor) -> Result<()> {
        self.matmul_operands(weight, "linear")?;
        weight.same_dtype_device(bias, "linear")?;
        let k = self.shape().last().copied().unwrap_or(0);
        if self.rank() == 0 || weight.rank() != 2 || weight.shape()[0] != k || bias.shape() != [weight.shape()[1]] {
            return Err(Error::invalid(
                "linear",
                format!(
                    "x {:?}, weight {:?}, bias {:?}: need (…, k), (k, n), (n)",
                    self.shape(),
                    weight.shape(),
                    bias.shape()
                ),
            ));
        }
        Ok(())
    }

    /// `A·B` (+ `bias` on every row) of `[batch…, m, k]·[batch…, k, n]`, batch dims already
    /// broadcast, on the operands' device: dense on the CPU, on a GPU in rows that may be padded
    /// (see [`CpuStorage::matmul`](crate::cpu::CpuStorage::matmul) and
    /// [`CudaStorage::matmul`](crate::cuda::CudaStorage::matmul)).
    fn product(a: &Tensor, b: &Tensor, bias: Option<&Tensor>) -> Result<Tensor> {
        let r = a.rank();
        let out_shape = [&a.shape()[..r - 1], &b.shape()[r - 1..]].concat();
        let inputs = [a.storage(), b.storage(), bias.unwrap_or(a).storage()];
        let (storage, row_stride) = on_device!("matmul", inputs, |wrap, [a_on, b_on, c]| {
            let (out, row_stride) = a_on.matmul(a.layout(), b_on, b.layout(), bias.map(|bias| (c, bias.layout())))?;
            (wrap(out), row_stride)
        });
        Ok(Tensor::from_storage_with_layout(storage, Layout::rows_apart(&out_shape, row_stride)))
    }
}
