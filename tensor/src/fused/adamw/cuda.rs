//! The AdamW update on the GPU, in place: per tensor, or for many tensors in one launch
//! (`adamw_step_multi_tensor` of adamw.cu).

use super::AdamWBuffers;
use crate::cuda::{cuda_error, over, CudaStorage};
use crate::{Error, Layout, Result};
use kernels::adamw::cuda::{adamw_multi_tensor, AdamWTensorSlices};
use kernels::adamw::AdamWConfig;
use kernels::launch;

/// The scalars of the AdamW kernels for step `t`: `[β₁, β₂, ε, 1 − η·λ, η / (1 − β₁ᵗ),
/// √(1 − β₂ᵗ)]`, computed in f64 and rounded once.
fn adamw_constants(cfg: &AdamWConfig, t: u64) -> [f32; 6] {
    let bias1 = 1.0 - cfg.beta1.powi(t as i32);
    let bias2 = 1.0 - cfg.beta2.powi(t as i32);
    [cfg.beta1, cfg.beta2, cfg.eps, 1.0 - cfg.lr * cfg.weight_decay, cfg.lr / bias1, bias2.sqrt()].map(|x| x as f32)
}

/// The constants every tensor of one multi-tensor launch shares: `[β₁, β₂, ε, √(1 − β₂ᵗ)]`.
fn shared_constants(cfg: &AdamWConfig, t: u64) -> [f32; 4] {
    let c = adamw_constants(cfg, t);
    [c[0], c[1], c[2], c[5]]
}

/// One parameter of [`CudaStorage::adamw_step_all`] (see [`AdamWBuffers`]).
pub type CudaAdamW<'a> = AdamWBuffers<'a, CudaStorage>;

impl CudaAdamW<'_> {
    fn check_lengths(&self) -> Result<()> {
        let (n, m, v, g) = (self.param.len, self.m.len, self.v.len, self.grad.1.elem_count());
        if m != n || v != n || g != n {
            return Err(Error::invalid(
                "adamw_step",
                format!("parameter of {n} elements, gradient of {g}, moments of {m} and {v}"),
            ));
        }
        Ok(())
    }

    /// Whether all four buffers are on device `ordinal`.
    fn on(&self, ordinal: usize) -> bool {
        [&*self.param, self.grad.0, &*self.m, &*self.v].iter().all(|s| s.ordinal == ordinal)
    }
}

impl CudaStorage {
    /// One AdamW step in place on `self` (the parameter) and the moments `m`, `v`.
    pub fn adamw_step(
        &mut self,
        grad: (&Self, &Layout),
        m: &mut Self,
        v: &mut Self,
        cfg: &AdamWConfig,
        t: u64,
    ) -> Result<()> {
        let op = "adamw_step";
        let part = CudaAdamW { param: self, grad, m, v, cfg, rows_of: None };
        part.check_lengths()?;
        let g = grad.0.dense(op, grad.1)?;
        let consts = adamw_constants(cfg, t);
        let n = part.param.len as i64;
        let gpu = part.param.gpu.clone();
        let (p, m, v) = (part.param.f32s_mut(op)?, part.m.f32s_mut(op)?, part.v.f32s_mut(op)?);
        // Safety: `adamw_step(n, param, grad, m, v, beta1, beta2, eps, decay, step, sqrt_bias2)`, all n floats.
        unsafe {
            launch!(
                gpu,
                "adamw.cu",
                "adamw_step",
                over(n as usize),
                kernels::adamw::cuda::adamw_cost(n as usize),
                &n,
                p,
                &g.view(),
                m,
                v,
                &consts[0],
                &consts[1],
                &consts[2],
                &consts[3],
                &consts[4],
                &consts[5]
            )
        }
        .map_err(cuda_error(op))
    }

    /// One AdamW step on every parameter of `parts`: one launch for all of them when they share a
    /// device and β₁, β₂, ε (the usual case: one optimizer, one GPU), else one per parameter. In
    /// that launch, under bf16 matrix products, each matrix (`rows_of`) also gets its new values
    /// rounded into its bf16 image (`bf16_image.rs`): the next forward's products read the
    /// weights without a conversion pass. With `max_norm`, the gradients are clipped to that global
    /// norm on the device first (which needs the one launch).
    pub fn adamw_step_all(parts: &mut [CudaAdamW], t: u64, max_norm: Option<f32>) -> Result<()> {
        let op = "adamw_step";
        let Some(first) = parts.first() else { return Ok(()) };
        let (ordinal, shared, gpu) = (first.param.ordinal, shared_constants(first.cfg, t), first.param.gpu.clone());
        if !parts.iter().all(|p| p.on(ordinal) && shared_constants(p.cfg, t) == shared) {
            if max_norm.is_some() {
                return Err(super::clipping_needs_one_gpu());
            }
            for p in parts.iter_mut() {
                p.param.adamw_step(p.grad, p.m, p.v, p.cfg, t)?;
            }
            return Ok(());
        }
        for p in parts.iter() {
            p.check_lengths()?;
        }
        let grads = parts.iter().map(|p| p.grad.0.dense(op, p.grad.1)).collect::<Result<Vec<_>>>()?;
        // Each matrix's new bf16 image, when products read them in bf16.
        let mut images = Vec::with_capacity(parts.len());
        for p in parts.iter() {
            let n = p.param.len;
            images.push(match p.rows_of {
                Some(cols) if cols > 0 && n % cols == 0 => p.param.output_image(op, (n / cols, cols))?,
                _ => None,
            });
        }
        {
            let mut slices = Vec::with_capacity(parts.len());
            for ((p, g), image) in parts.iter_mut().zip(&grads).zip(images.iter_mut()) {
                let c = adamw_constants(p.cfg, t);
                let cols = p.rows_of.unwrap_or(1);
                slices.push(AdamWTensorSlices {
                    n: p.param.len,
                    param: p.param.f32s_mut(op)?,
                    grad: g.view(),
                    m: p.m.f32s_mut(op)?,
                    v: p.v.f32s_mut(op)?,
                    decay: c[3],
                    step: c[4],
                    image: image.as_mut().map(|(image, stride)| (image, cols, *stride)),
                });
            }
            // The norm and the factor stay on the device (freed in stream order after the step).
            adamw_multi_tensor(&gpu, &mut slices, shared, max_norm).map_err(cuda_error(op))?;
        }
        for (p, image) in parts.iter_mut().zip(images) {
            p.param.keep_output_image(image, p.rows_of.unwrap_or(1));
        }
        Ok(())
    }
}
