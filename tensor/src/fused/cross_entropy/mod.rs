//! Per-row cross-entropy of logits against class targets and its backward (F7): the tensor
//! method, its dispatch over devices, and the device adapters (`cpu.rs`, `cuda.rs`) of
//! `kernels::cross_entropy`.

mod cpu;
mod cuda;

use crate::storage::{on_one_device, On, Storage};
use crate::{Error, Layout, Result, Tensor};

impl Tensor {
    /// Targets as class indices: `None` for `ignore_index`, errors for other out-of-range ids.
    fn class_targets(
        &self,
        targets: &Tensor,
        ignore_index: Option<i64>,
        op: &'static str,
    ) -> Result<Vec<Option<usize>>> {
        let [rows, classes] = self.shape() else {
            return Err(Error::invalid(
                op,
                format!("logits must be 2-D (rows, classes), got shape {:?}", self.shape()),
            ));
        };
        if targets.shape() != [*rows] {
            return Err(Error::ShapeMismatch { op, lhs: self.shape().to_vec(), rhs: targets.shape().to_vec() });
        }
        if targets.dtype().is_float() {
            return Err(Error::invalid(
                op,
                format!("targets must be u32 or i64 class indices, got {:?}", targets.dtype()),
            ));
        }
        targets
            .to_f64_vec()
            .into_iter()
            .map(|t| {
                let t = t as i64;
                if Some(t) == ignore_index {
                    Ok(None)
                } else if t < 0 || t as usize >= *classes {
                    Err(Error::IndexOutOfRange { op, index: t, size: *classes })
                } else {
                    Ok(Some(t as usize))
                }
            })
            .collect()
    }

    /// Per-row cross-entropy `lossᵢ = log Σⱼ exp(xᵢⱼ) − xᵢ,tᵢ` of `(rows, classes)` logits;
    /// rows whose target equals `ignore_index` give 0.
    pub fn cross_entropy_rows(&self, targets: &Tensor, ignore_index: Option<i64>) -> Result<Tensor> {
        let t = self.class_targets(targets, ignore_index, "cross_entropy")?;
        let x = self.with_dense_rows();
        Ok(Tensor::from_storage(x.storage().cross_entropy(x.layout(), &t)?, &[t.len()]))
    }

    /// Backward of [`Tensor::cross_entropy_rows`]: `dxᵢ = dlossᵢ·(softmax(xᵢ) − onehot(tᵢ))`. The
    /// forward's `losses`, when given, spare the GPU a pass over the logits (`log Σ exp = lossᵢ +
    /// xᵢ,tᵢ`).
    pub fn cross_entropy_rows_backward(
        &self,
        targets: &Tensor,
        ignore_index: Option<i64>,
        dloss: &Tensor,
        losses: Option<&Tensor>,
    ) -> Result<Tensor> {
        let t = self.class_targets(targets, ignore_index, "cross_entropy_backward")?;
        let x = self.with_dense_rows();
        let losses = losses.map(|l| (l.storage(), l.layout()));
        let (storage, layout) =
            x.storage().cross_entropy_backward(x.layout(), &t, (dloss.storage(), dloss.layout()), losses)?;
        Ok(Tensor::from_storage_with_layout(storage, layout))
    }

    /// This matrix if its rows are dense runs (at any stride: a product's padded output), else a
    /// contiguous copy: what the row-wise kernels read.
    fn with_dense_rows(&self) -> Tensor {
        if self.layout().row_stride().is_some() {
            self.clone()
        } else {
            self.contiguous()
        }
    }
}

impl Storage {
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
}
