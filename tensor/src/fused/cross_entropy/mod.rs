//! Per-row cross-entropy of logits against class targets and its backward (F7): the tensor
//! methods, dispatched to the device adapters (`cpu.rs`, `cuda.rs`) of `kernels::cross_entropy`.

mod cpu;
mod cuda;

use crate::storage::on_device;
use crate::{Error, Result, Tensor};

/// `targets (rows)` as class indices below `classes`: `None` for `ignore_index`, errors for other
/// out-of-range ids and for float targets.
pub(crate) fn class_indices(
    targets: &Tensor,
    (rows, classes): (usize, usize),
    ignore_index: Option<i64>,
    op: &'static str,
) -> Result<Vec<Option<usize>>> {
    if targets.shape() != [rows] {
        return Err(Error::ShapeMismatch { op, lhs: vec![rows, classes], rhs: targets.shape().to_vec() });
    }
    if targets.dtype().is_float() {
        return Err(Error::invalid(op, format!("targets must be u32 or i64 class indices, got {:?}", targets.dtype())));
    }
    targets
        .to_f64_vec()
        .into_iter()
        .map(|t| {
            let t = t as i64;
            if Some(t) == ignore_index {
                Ok(None)
            } else if t < 0 || t as usize >= classes {
                Err(Error::IndexOutOfRange { op, index: t, size: classes })
            } else {
                Ok(Some(t as usize))
            }
        })
        .collect()
}

impl Tensor {
    /// Targets of these `(rows, classes)` logits as class indices (see [`class_indices`]).
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
        class_indices(targets, (*rows, *classes), ignore_index, op)
    }

    /// Per-row cross-entropy `lossᵢ = log Σⱼ exp(xᵢⱼ) − xᵢ,tᵢ` of `(rows, classes)` logits;
    /// rows whose target equals `ignore_index` give 0.
    pub fn cross_entropy_rows(&self, targets: &Tensor, ignore_index: Option<i64>) -> Result<Tensor> {
        let t = self.class_targets(targets, ignore_index, "cross_entropy")?;
        let x = self.with_dense_rows();
        let losses =
            on_device!("cross_entropy", [x.storage()], |wrap, [x_on]| wrap(x_on.cross_entropy(x.layout(), &t)?));
        Ok(Tensor::from_storage(losses, &[t.len()]))
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
        // The forward's losses, when given, must live where the logits do.
        let losses_or_dloss = losses.unwrap_or(dloss).storage();
        let inputs = [x.storage(), dloss.storage(), losses_or_dloss];
        let (storage, layout) = on_device!("cross_entropy_backward", inputs, |wrap, [x_on, d, l]| {
            let losses = losses.map(|losses| (l, losses.layout()));
            let (grad, layout) = x_on.cross_entropy_backward(x.layout(), &t, (d, dloss.layout()), losses)?;
            (wrap(grad), layout)
        });
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
