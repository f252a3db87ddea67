//! The bf16 rounding of a buffer's elements, made once for the bf16 matrix products that read them.
//! A linear layer's backward reads both forward operands again (`dx = dy·Wᵀ`, `dW = xᵀ·dy`) and
//! its output gradient twice, so without a kept image each of those is rounded twice per step.
//! The image covers one span of the buffer — rows of the same run, evenly spaced (dense, or padded
//! as a product's output and the cross-entropy gradient are) — in memory order, each row padded to
//! a 16-byte boundary, so a matrix read as a row-major batch in the forward and as one transposed
//! matrix in the backward finds the same image. Writing the buffer in place (the optimizer step)
//! drops it.

use super::matmul_precision;
use super::{driver_error, CudaStorage};
use crate::Result;
use half::bf16;
use kernels::cuda::cudarc::driver::CudaSlice;
use kernels::cuda::MatmulPrecision;
use std::sync::{Arc, Mutex};

/// The row stride of a bf16 copy of rows of `run` elements: the next multiple of 8, so every row
/// starts 16-byte aligned.
pub(crate) fn aligned_run(run: usize) -> usize {
    run.next_multiple_of(8).max(8)
}

/// The kept image of one span, if any (see the module docs).
#[derive(Default)]
pub(crate) struct Bf16Image(Mutex<Option<Image>>);

struct Image {
    span: Span,
    data: Arc<CudaSlice<bf16>>,
}

/// `rows` rows of `run` elements of the f32 buffer, the first at `offset`, each `row_stride` after
/// the one before.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Span {
    offset: usize,
    rows: usize,
    run: usize,
    row_stride: usize,
}

impl Span {
    /// `rows` rows of `run`, `row_stride ≥ run` apart, from `offset` (a single row has no stride
    /// of its own: the same span whatever stride it is given).
    pub(crate) fn new(offset: usize, rows: usize, run: usize, row_stride: usize) -> Self {
        let row_stride = if rows <= 1 { run } else { row_stride };
        Self { offset, rows, run, row_stride }
    }

    /// The `len` elements from `offset`, dense, as rows of `run`.
    pub(crate) fn dense(offset: usize, len: usize, run: usize) -> Self {
        Self::new(offset, len / run.max(1), run, run)
    }
}

/// A copied buffer is a new buffer: its image is made when it is next read.
impl Clone for Bf16Image {
    fn clone(&self) -> Self {
        Self::default()
    }
}

impl Bf16Image {
    /// The image of `span`: the kept one, or `round()`'s, which is then kept in place of any
    /// other span's.
    pub(crate) fn get_or_round(
        &self,
        span: Span,
        round: impl FnOnce() -> Result<CudaSlice<bf16>>,
    ) -> Result<Arc<CudaSlice<bf16>>> {
        let mut kept = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(image) = kept.as_ref().filter(|i| i.span == span) {
            return Ok(image.data.clone());
        }
        let data = Arc::new(round()?);
        *kept = Some(Image { span, data: data.clone() });
        Ok(data)
    }

    /// Keeps `data` as the image of `span`: for a kernel that wrote it beside the buffer itself.
    pub(crate) fn keep(&mut self, span: Span, data: CudaSlice<bf16>) {
        *self.0.get_mut().unwrap_or_else(|e| e.into_inner()) = Some(Image { span, data: Arc::new(data) });
    }

    /// Forgets the image: the buffer is about to change.
    pub(crate) fn clear(&mut self) {
        *self.0.get_mut().unwrap_or_else(|e| e.into_inner()) = None;
    }
}

/// A new output's bf16 image, written by the kernel that computes the output
/// (`kernels::cuda::launch::Bf16Copy`): the buffer and its row stride.
pub(crate) type OutputImage = Option<(CudaSlice<bf16>, usize)>;

impl CudaStorage {
    /// A buffer for the bf16 image of a new `(rows, cols)` output when bf16 products are on (else
    /// none), rows padded as a product's operand: for outputs that are usually a product's input
    /// next (a layer norm's, a GELU's, a weight's after its optimizer step, a gradient).
    pub(crate) fn output_image(&self, op: &'static str, (rows, cols): (usize, usize)) -> Result<OutputImage> {
        if matmul_precision() != MatmulPrecision::Bf16 || rows * cols == 0 {
            return Ok(None);
        }
        let stride = aligned_run(cols);
        // Safety: written (but for the row padding, which no product reads) by the caller's kernel.
        let image = unsafe { self.gpu.stream.alloc::<bf16>(rows * stride) }.map_err(driver_error(op))?;
        Ok(Some((image, stride)))
    }

    /// Keeps `image` (from [`CudaStorage::output_image`], written) as the image of this whole
    /// buffer in rows of `cols`.
    pub(crate) fn keep_output_image(&mut self, image: OutputImage, cols: usize) {
        self.keep_output_image_of_rows(image, cols, cols);
    }

    /// Keeps `image` as the image of this whole buffer's rows of `cols`, `row_stride` apart (an
    /// output with padded rows).
    pub(crate) fn keep_output_image_of_rows(&mut self, image: OutputImage, cols: usize, row_stride: usize) {
        if let Some((image, _)) = image {
            let span = Span::new(0, self.len / row_stride.max(1), cols, row_stride);
            self.bf16_image.keep(span, image);
        }
    }
}
