//! Layer norm on the GPU: a warp per row of `kernels::layer_norm`'s kernels.

use crate::cuda::{cuda_error, CudaData, CudaStorage};
use crate::fused::rows_cols;
use crate::{Layout, Result};
use kernels::layer_norm::cuda::{layer_norm_backward, layer_norm_forward, LayerNormVersion};

impl CudaStorage {
    /// Layer norm over the last dim: `(y, mean, rstd)`, a warp per row.
    pub fn layer_norm(
        &self,
        layout: &Layout,
        gamma: (&Self, &Layout),
        beta: (&Self, &Layout),
        eps: f64,
    ) -> Result<(Self, Self, Self)> {
        let op = "layer_norm";
        let (x, g, b) = (self.dense(op, layout)?, gamma.0.dense(op, gamma.1)?, beta.0.dense(op, beta.1)?);
        let (rows, cols) = rows_cols(layout);
        let (mut y, mut mean, mut rstd) =
            (self.alloc_f32(op, rows * cols)?, self.alloc_f32(op, rows)?, self.alloc_f32(op, rows)?);
        let version = LayerNormVersion::WarpPerRow;
        // A layer norm's output is a linear layer's input: in bf16, its image comes with it.
        let mut image = self.output_image(op, (rows, cols))?;
        let y_bf16 = image.as_mut().map(|(image, stride)| (image, *stride));
        let params = (&g.view(), &b.view());
        let dims = (rows, cols);
        layer_norm_forward(
            &self.gpu,
            version,
            &x.view(),
            params,
            eps as f32,
            (&mut y, y_bf16),
            &mut mean,
            &mut rstd,
            dims,
        )
        .map_err(cuda_error(op))?;
        let mut y = self.with(rows * cols, CudaData::F32(y));
        y.keep_output_image(image, cols);
        Ok((y, self.with(rows, CudaData::F32(mean)), self.with(rows, CudaData::F32(rstd))))
    }

    /// Layer-norm backward: `(dx, dγ, dβ)` from x (self), γ, the cached mean and rstd, and dy.
    pub fn layer_norm_backward(
        &self,
        layout: &Layout,
        gamma: (&Self, &Layout),
        mean: (&Self, &Layout),
        rstd: (&Self, &Layout),
        dy: (&Self, &Layout),
    ) -> Result<(Self, Self, Self)> {
        let op = "layer_norm_backward";
        let x = self.dense(op, layout)?;
        let (g, m, s, d) =
            (gamma.0.dense(op, gamma.1)?, mean.0.dense(op, mean.1)?, rstd.0.dense(op, rstd.1)?, dy.0.dense(op, dy.1)?);
        let (rows, cols) = rows_cols(layout);
        let (mut dx, mut dg, mut db) =
            (self.alloc_f32(op, rows * cols)?, self.zeros_f32(op, cols)?, self.zeros_f32(op, cols)?);
        layer_norm_backward(
            &self.gpu,
            [&x.view(), &g.view(), &m.view(), &s.view(), &d.view()],
            (&mut dx, &mut dg, &mut db),
            (rows, cols),
        )
        .map_err(cuda_error(op))?;
        Ok((
            self.with(rows * cols, CudaData::F32(dx)),
            self.with(cols, CudaData::F32(dg)),
            self.with(cols, CudaData::F32(db)),
        ))
    }
}
