//! The AdamW update (F8) in place: on one parameter, or on many at once (on a GPU, one kernel
//! launch for all of them, as PyTorch's fused multi-tensor AdamW): the tensor methods, the
//! dispatch of their in-place buffers over devices, and the device adapters (`cpu.rs`, `cuda.rs`)
//! of `kernels::adamw`.

mod cpu;
mod cuda;

use crate::cuda::CudaStorage;
use crate::{Error, Layout, Result, Storage, Tensor};
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
        Self::step_all(updates, t, None)
    }

    /// [`Tensor::adamw_step_all`] on gradients first clipped to the global norm `max_norm`:
    /// `g ← g·min(1, max_norm / (‖g‖ + 10⁻⁶))`, `‖g‖ = √(Σ g²)` over every gradient of `updates`
    /// (PyTorch's `clip_grad_norm_`), computed and applied on the GPU inside the step: two more
    /// launches, and nothing is read back to the host. Every tensor must live on one GPU and share
    /// β₁, β₂ and ε (one optimizer's); elsewhere, clip the gradients first and step.
    pub fn adamw_step_all_clipped(updates: &mut [AdamWUpdate<'_>], t: u64, max_norm: f64) -> Result<()> {
        if !(max_norm.is_finite() && max_norm > 0.0) {
            return Err(Error::invalid(
                "adamw_step_all_clipped",
                format!("the largest norm {max_norm} must be above 0"),
            ));
        }
        Self::step_all(updates, t, Some(max_norm as f32))
    }

    fn step_all(updates: &mut [AdamWUpdate<'_>], t: u64, max_norm: Option<f32>) -> Result<()> {
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
        Storage::adamw_step_all(parts, t, max_norm)
    }
}

impl Storage {
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
    /// after another. With `max_norm`, clipped on the device first (one GPU only).
    pub fn adamw_step_all(parts: Vec<AdamWBuffers<'_, Storage>>, t: u64, max_norm: Option<f32>) -> Result<()> {
        if !parts.iter().all(|p| matches!(p.param, Storage::Cuda(_))) {
            if max_norm.is_some() {
                return Err(clipping_needs_one_gpu());
            }
            for p in parts {
                p.param.adamw_step(p.grad, p.m, p.v, p.cfg, t)?;
            }
            return Ok(());
        }
        let mut on_gpus = parts.into_iter().map(AdamWBuffers::on_gpu).collect::<Result<Vec<_>>>()?;
        CudaStorage::adamw_step_all(&mut on_gpus, t, max_norm)
    }
}

/// Clipping inside the step sums the squares of every gradient in one launch: it needs them all
/// on one GPU, under one optimizer's β₁, β₂ and ε.
pub(crate) fn clipping_needs_one_gpu() -> Error {
    Error::invalid(
        "adamw_step_all_clipped",
        "clipping inside the step needs every parameter on one GPU, with the same β₁, β₂ and ε",
    )
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
