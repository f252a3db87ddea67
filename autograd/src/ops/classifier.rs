//! The fused classifier: a language model's head and its loss as one op (F6 on `z = h·Wᵀ`), so
//! that on a GPU under bf16 products the logits exist only in bf16 and their gradient comes from
//! the forward's one pass over them (see [`Tensor::classifier_cross_entropy`]).

use super::loss::{target_rows, TargetRows};
use crate::{Reduction, Var};
use tensor::{ClassifierGrad, ClassifierLoss, Error, Result, Tensor};

impl Var {
    /// The mean cross-entropy of the logits `z = h·Wᵀ` of hidden states `h = self (…, C)` and a
    /// weight `W (V, C)` against `targets (…)`: over the `N` rows whose target is not
    /// `ignore_index`, `L = 1/N Σ_r (log Σ_c exp(z_rc) − z_r,y_r)` — the same value as
    /// `self.matmul(&weight.t())?.cross_entropy(targets, ignore_index, Reduction::Mean)`, without
    /// keeping the logits where the device can avoid it. Backward, for the upstream gradient `g`:
    /// `dz = (g/N)·(softmax(z) − onehot(y))` (0 on ignored rows), `dh = dz·W`, `dW = dzᵀ·h`.
    pub fn classifier_cross_entropy(&self, weight: &Var, targets: &Tensor, ignore_index: Option<i64>) -> Result<Var> {
        let (h, w) = (self.value(), weight.value());
        let op = "classifier_cross_entropy";
        let TargetRows { x: h2, targets: t1, rows, counted } =
            target_rows(op, &h, targets, ignore_index, "hidden states must have a channel dim")?;
        let wants_grad = crate::is_grad_enabled() && (self.requires_grad() || weight.requires_grad());
        // Each counted row's weight in the mean, 1/N: the fused pass scales dz by it.
        let row_weight = 1.0 / counted.max(1) as f64;
        let ClassifierLoss { losses, grad } =
            h2.classifier_cross_entropy(&w, &t1, ignore_index, wants_grad.then_some(row_weight))?;
        let (value, scale) = Reduction::Mean.apply(&losses, counted)?;
        let h_shape = h.shape().to_vec();
        Ok(Var::from_op(op, value, &[self, weight], move |g| {
            let (dz, upstream) = match &grad {
                // dz for the upstream gradient of each row's loss, g/N.
                ClassifierGrad::Logits(z) => {
                    let dl = Reduction::Mean.per_element_grad(g, scale, &[rows])?;
                    (z.cross_entropy_rows_backward(&t1, ignore_index, &dl, Some(&losses))?, None)
                }
                // dz/g, computed by the forward: the products are multiplied by g.
                ClassifierGrad::Scaled(dz) => (dz.clone(), Some(g)),
                ClassifierGrad::None => return Err(Error::invalid(op, "backward through a pass without gradient")),
            };
            let times_upstream = |x: Tensor| match upstream {
                Some(g) => x.mul(g),
                None => Ok(x),
            };
            let dh = times_upstream(dz.matmul(&w)?)?.reshape(&h_shape)?;
            let dw = times_upstream(dz.t()?.matmul(&h2)?)?;
            Ok(vec![Some(dh), Some(dw)])
        }))
    }
}

#[cfg(test)]
mod tests {
    use crate::{no_grad, Reduction, Var};
    use tensor::{rng, DType, Tensor};

    fn max_abs_diff(a: &Tensor, b: &Tensor) -> f64 {
        a.to_f64_vec().iter().zip(b.to_f64_vec()).map(|(x, y)| (x - y).abs()).fold(0.0, f64::max)
    }

    /// The fused op and `h·Wᵀ` followed by the mean cross-entropy agree in value and in both
    /// gradients (f64, an upstream gradient other than 1, two ignored rows); without gradients
    /// it records no graph.
    #[test]
    fn the_fused_classifier_equals_the_composed_head_and_loss() {
        let mut r = rng(7);
        let h = Tensor::randn(&[2, 5, 8], 0.0, 1.0, DType::F64, &mut r);
        let w = Tensor::randn(&[11, 8], 0.0, 1.0, DType::F64, &mut r);
        let targets = Tensor::from_vec(vec![3i64, 10, -100, 0, 7, 7, 1, -100, 4, 9], &[2, 5]).unwrap();
        let run = |fused: bool| {
            let (h, w) = (Var::new(h.clone(), true), Var::new(w.clone(), true));
            let loss = if fused {
                h.classifier_cross_entropy(&w, &targets, Some(-100)).unwrap()
            } else {
                h.matmul(&w.t().unwrap()).unwrap().cross_entropy(&targets, Some(-100), Reduction::Mean).unwrap()
            };
            loss.mul_scalar(0.3).unwrap().backward().unwrap();
            (loss.value(), h.grad().unwrap(), w.grad().unwrap())
        };
        let (fused, composed) = (run(true), run(false));
        assert!(max_abs_diff(&fused.0, &composed.0) < 1e-12, "loss");
        assert!(max_abs_diff(&fused.1, &composed.1) < 1e-12, "dh");
        assert!(max_abs_diff(&fused.2, &composed.2) < 1e-12, "dW");
        assert!(fused.1.to_f64_vec().iter().any(|&g| g != 0.0));
        let quiet = no_grad(|| {
            let (h, w) = (Var::new(h.clone(), true), Var::new(w.clone(), true));
            h.classifier_cross_entropy(&w, &targets, Some(-100)).unwrap()
        });
        assert!(quiet.is_leaf() && !quiet.requires_grad());
        assert!(max_abs_diff(&quiet.value(), &fused.0) < 1e-12);
    }

    #[test]
    fn mismatched_shapes_are_refused() {
        let h = Var::new(Tensor::zeros(&[3, 4], DType::F32), true);
        let w = Var::new(Tensor::zeros(&[6, 5], DType::F32), true);
        let t = Tensor::from_vec(vec![0i64, 1, 2], &[3]).unwrap();
        let err = h.classifier_cross_entropy(&w, &t, None).unwrap_err().to_string();
        assert!(err.contains("[3, 4]") && err.contains("[6, 5]"), "{err}");
        let w = Var::new(Tensor::zeros(&[6, 4], DType::F32), true);
        let err = h.classifier_cross_entropy(&w, &Tensor::from_vec(vec![0i64, 1], &[2]).unwrap(), None).unwrap_err();
        assert!(err.to_string().contains("[2]"), "{err}");
        let err = h.classifier_cross_entropy(&w, &Tensor::from_vec(vec![0i64, 6, 1], &[3]).unwrap(), None);
        assert!(err.unwrap_err().to_string().contains('6'));
        let w3 = Var::new(Tensor::zeros(&[2, 6, 4], DType::F32), true);
        let err = h.classifier_cross_entropy(&w3, &t, None).unwrap_err().to_string();
        assert!(err.contains("needs h (rows, C) and W (V, C)") && err.contains("[2, 6, 4]"), "{err}");
        let scalar = Var::new(Tensor::zeros(&[], DType::F32), true);
        let err = scalar.classifier_cross_entropy(&w, &Tensor::zeros(&[], DType::I64), None).unwrap_err();
        assert!(err.to_string().contains("hidden states must have a channel dim"), "{err}");
    }
}
