//! The fused classifier (llm.c's name for it): a head's logits `z = h·Wᵀ` and their
//! cross-entropy (F6) as one op, so that on a GPU under bf16 products the vocabulary-wide logits
//! never exist in f32. There the product writes them in bf16, and one pass over each row
//! (`kernels::cross_entropy::cuda::cross_entropy_bf16_in_place`) gives its loss and overwrites it
//! with its gradient, which the head's two backward products read as their bf16 operand. Elsewhere
//! (the CPU, GPU products in f32 or TF32) it is the composed path: the product, then the
//! cross-entropy kernels.

mod cuda;

use super::cross_entropy::class_indices;
use crate::storage::Storage;
use crate::{DType, Error, ExecutionContext, MatmulPrecision, Result, Tensor};

/// What [`Tensor::classifier_cross_entropy`] gives.
pub struct ClassifierLoss {
    /// Each row's loss `log Σ_c exp(z_c) − z_y` (0 for a row whose target is ignored), `(rows)`.
    pub losses: Tensor,
    /// What the backward starts from.
    pub grad: ClassifierGrad,
}

/// Where the gradient with respect to the logits comes from.
pub enum ClassifierGrad {
    /// The logits `(rows, V)`: the backward computes `dz = dloss·(softmax(z) − onehot(y))` from
    /// them for the upstream gradient it gets (the composed path).
    Logits(Tensor),
    /// `dz = scale·(softmax(z) − onehot(y))`, `(rows, V)` in bf16, computed by the forward's pass
    /// over the logits (a GPU under bf16 products): for an upstream gradient `g` of the rows'
    /// `scale`-weighted sum, the backward's products of it are multiplied by `g`.
    Scaled(Tensor),
    /// None was asked for (`grad_scale` was `None` on the fused path).
    None,
}

impl Tensor {
    /// The cross-entropy of logits `z = h·Wᵀ` for hidden rows `h = self (rows, C)` and a weight
    /// `W (V, C)` (a tied embedding) against `targets (rows)`: per row
    /// `loss_r = log Σ_c exp(z_rc) − z_r,y_r`, 0 where the target is `ignore_index`. With
    /// `grad_scale = Some(s)` (the weight of each counted row's loss in the objective, `1/N` for a
    /// mean), the fused path computes `dz = s·(softmax(z) − onehot(y))` in the same pass as the
    /// losses ([`ClassifierGrad::Scaled`]); the composed path returns the logits
    /// ([`ClassifierGrad::Logits`]).
    pub fn classifier_cross_entropy(
        &self,
        weight: &Tensor,
        targets: &Tensor,
        ignore_index: Option<i64>,
        grad_scale: Option<f64>,
    ) -> Result<ClassifierLoss> {
        let op = "classifier_cross_entropy";
        self.same_dtype_device(weight, op)?;
        let (&[rows, c], &[vocab, c2]) = (self.shape(), weight.shape()) else {
            return Err(Error::invalid(
                op,
                format!("needs h (rows, C) and W (V, C), got {:?} and {:?}", self.shape(), weight.shape()),
            ));
        };
        if c != c2 {
            return Err(Error::ShapeMismatch { op, lhs: self.shape().to_vec(), rhs: weight.shape().to_vec() });
        }
        let bf16 = ExecutionContext::current().precision == MatmulPrecision::Bf16;
        let w_t = weight.t()?;
        match (self.storage(), w_t.storage()) {
            (Storage::Cuda(h), Storage::Cuda(w)) if bf16 && self.dtype() == DType::F32 => {
                let classes = class_indices(targets, (rows, vocab), ignore_index, op)?;
                let scale = grad_scale.map(|s| s as f32);
                let (losses, grad) = h.classifier_bf16(self.layout(), w, w_t.layout(), &classes, scale)?;
                let grad = match grad {
                    Some((storage, layout)) => {
                        ClassifierGrad::Scaled(Tensor::from_storage_with_layout(Storage::Cuda(storage), layout))
                    }
                    None => ClassifierGrad::None,
                };
                Ok(ClassifierLoss { losses: Tensor::from_storage(Storage::Cuda(losses), &[rows]), grad })
            }
            // The composed path: cross_entropy_rows checks the targets.
            _ => {
                let logits = self.matmul(&w_t)?;
                let losses = logits.cross_entropy_rows(targets, ignore_index)?;
                Ok(ClassifierLoss { losses, grad: ClassifierGrad::Logits(logits) })
            }
        }
    }
}
