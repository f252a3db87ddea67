//! Knowledge distillation (Hinton et al. 2015), F13: a student learns from a teacher's
//! temperature-softened distribution as well as from the labels.

use super::loss::Reduction;
use crate::Var;
use tensor::{Error, Result, Tensor};

impl Var {
    /// `L = α·T²·KL(p_t ‖ p_s) + (1 − α)·CE(y, z_s)` for student logits `z_s = self (…, C)` and
    /// teacher logits `z_t` of the same shape, with `p = softmax(z/T)` and
    /// `KL(p_t ‖ p_s) = Σ_c p_t,c·(log p_t,c − log p_s,c)` averaged over all rows (every position
    /// has a teacher distribution, so none is ignored there). The `T²` keeps the soft term's
    /// gradients the same size as `T` changes. `CE` is the mean cross-entropy on `targets`
    /// (rows with `ignore_index` skipped). The teacher gets no gradient.
    pub fn distillation_loss(
        &self,
        teacher: &Tensor,
        targets: &Tensor,
        temperature: f64,
        alpha: f64,
        ignore_index: Option<i64>,
    ) -> Result<Var> {
        if teacher.shape() != self.shape().as_slice() {
            return Err(Error::ShapeMismatch {
                op: "distillation_loss",
                lhs: self.shape().to_vec(),
                rhs: teacher.shape().to_vec(),
            });
        }
        if !(temperature > 0.0 && (0.0..=1.0).contains(&alpha)) {
            return Err(Error::invalid(
                "distillation_loss",
                format!("needs temperature > 0 and alpha in [0, 1], got T = {temperature}, alpha = {alpha}"),
            ));
        }
        let soft_teacher = teacher.div_scalar(temperature)?;
        let (p_t, log_p_t) = (soft_teacher.softmax(-1)?, soft_teacher.log_softmax(-1)?);
        let log_p_s = self.div_scalar(temperature)?.log_softmax(-1)?;
        let rows = (self.value().elem_count() / self.shape().last().copied().unwrap_or(1).max(1)) as f64;
        let kl = Var::constant(p_t).mul(&Var::constant(log_p_t).sub(&log_p_s)?)?.sum_all()?.div_scalar(rows)?;
        let hard = self.cross_entropy(targets, ignore_index, Reduction::Mean)?;
        kl.mul_scalar(alpha * temperature * temperature)?.add(&hard.mul_scalar(1.0 - alpha)?)
    }
}
