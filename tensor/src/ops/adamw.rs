//! The AdamW update (F8) in place: on one parameter, or on many at once (on a GPU, one kernel
//! launch for all of them, as PyTorch's fused multi-tensor AdamW).

use crate::storage::AdamWBuffers;
use crate::{Error, Result, Storage, Tensor};
pub use kernels::adamw::AdamWConfig;

/// One parameter's part in [`Tensor::adamw_step_all`]: the parameter, its gradient, its moments,
/// and its settings (weight decay differs between matrices and the rest, say).
pub struct AdamWUpdate<'a> {
    pub param: &'a mut Tensor,
    pub grad: &'a Tensor,
    pub m: &'a mut Tensor,
    pub v: &'a mut Tensor,
    pub cfg: AdamWConfig,
}

impl Tensor {
    /// One AdamW step (see [`kernels::adamw::adamw_step`]) on the parameter `self` and its
    /// moments `m`, `v`, in place. `t` counts steps from 1. f32 or f64 master weights.
    pub fn adamw_step(
        &mut self,
        grad: &Tensor,
        m: &mut Tensor,
        v: &mut Tensor,
        cfg: &AdamWConfig,
        t: u64,
    ) -> Result<()> {
        self.check_adamw_step(grad, m, v, t)?;
        self.storage_mut().adamw_step((grad.storage(), grad.layout()), m.storage_mut(), v.storage_mut(), cfg, t)
    }

    /// What [`Tensor::adamw_step`] checks before it updates: the gradient and moments have the
    /// parameter's shape, dtype and device, and `t` counts from 1.
    pub fn check_adamw_step(&self, grad: &Tensor, m: &Tensor, v: &Tensor, t: u64) -> Result<()> {
        for other in [grad, m, v] {
            self.expect_same_shape(other, "adamw_step")?;
            self.same_dtype_device(other, "adamw_step")?;
        }
        if t == 0 {
            return Err(Error::invalid("adamw_step", "step t counts from 1"));
        }
        Ok(())
    }

    /// One AdamW step on every parameter of `updates`, with the numbers [`Tensor::adamw_step`]
    /// gives each. When all of them live on GPUs, one kernel launch updates all those of a
    /// device that share β₁, β₂ and ε (each chunk of each tensor a block), and under bf16 matrix
    /// products also rounds each matrix for them; otherwise they are updated one after another.
    pub fn adamw_step_all(updates: &mut [AdamWUpdate<'_>], t: u64) -> Result<()> {
        for u in updates.iter() {
            u.param.check_adamw_step(u.grad, u.m, u.v, t)?;
        }
        let parts = updates
            .iter_mut()
            .map(|u| {
                let grad_layout = u.grad.layout();
                // Matrices are what matrix products read: in bf16, the step writes their bf16 copies.
                let rows_of = (u.param.rank() >= 2).then(|| u.param.shape()[u.param.rank() - 1]);
                let (param, grad, m, v) =
                    (u.param.storage_mut(), u.grad.storage(), u.m.storage_mut(), u.v.storage_mut());
                AdamWBuffers { param, grad: (grad, grad_layout), m, v, cfg: &u.cfg, rows_of }
            })
            .collect();
        Storage::adamw_step_all(parts, t)
    }
}
