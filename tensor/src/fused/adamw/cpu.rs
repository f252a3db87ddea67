//! The AdamW update on the CPU, in place (`kernels::adamw::adamw_step`).

use crate::cpu::{typed, CpuStorage};
use crate::{Error, Layout, Result};
use kernels::adamw;

impl CpuStorage {
    /// One AdamW step in place on `self` (the parameter) and the moments `m`, `v`; all contiguous.
    pub fn adamw_step(
        &mut self,
        grad: (&Self, &Layout),
        m: &mut Self,
        v: &mut Self,
        cfg: &adamw::AdamWConfig,
        t: u64,
    ) -> Result<()> {
        match (self, m, v) {
            (CpuStorage::F32(p), CpuStorage::F32(m), CpuStorage::F32(v)) => {
                let g = typed::<f32>("adamw_step", grad.0, grad.1)?;
                adamw::adamw_step(p.make_mut(), &g, m.make_mut(), v.make_mut(), cfg, t);
            }
            (CpuStorage::F64(p), CpuStorage::F64(m), CpuStorage::F64(v)) => {
                let g = typed::<f64>("adamw_step", grad.0, grad.1)?;
                adamw::adamw_step(p.make_mut(), &g, m.make_mut(), v.make_mut(), cfg, t);
            }
            (p, m, _) => {
                return Err(Error::invalid(
                    "adamw_step",
                    format!(
                        "parameter and moments must all be f32 or all f64 (master weights), got {:?} and {:?}",
                        p.dtype(),
                        m.dtype()
                    ),
                ))
            }
        }
        Ok(())
    }
}
