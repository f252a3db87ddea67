//! The multi-tensor AdamW launch: one kernel updates every parameter tensor.

use crate::cuda::cost::{Cost, Math};
use crate::cuda::launch::{grid, run, Bf16Copy};
use crate::cuda::{source, CudaError, Gpu};
use cudarc::driver::{CudaSlice, CudaView, DevicePtr, DevicePtrMut, DeviceRepr, PushKernelArg};
use half::bf16;

/// One tensor of a multi-tensor AdamW step: its first `n` elements of parameter, gradient and
/// moments, its decay `1 − ηλ` and step `η / (1 − β₁ᵗ)`, and optionally where its new values go
/// rounded to bf16: `(image, cols, stride)`, rows of `cols` elements `stride` apart.
pub struct AdamWTensorSlices<'a, 'b> {
    pub n: usize,
    pub param: &'a mut CudaSlice<f32>,
    pub grad: CudaView<'b, f32>,
    pub m: &'a mut CudaSlice<f32>,
    pub v: &'a mut CudaSlice<f32>,
    pub decay: f32,
    pub step: f32,
    pub image: Option<(&'a mut CudaSlice<bf16>, usize, usize)>,
}

/// A tensor as `adamw_step_multi_tensor` reads it (`struct AdamWTensor` of adamw.cu).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
struct AdamWTensor {
    param: u64,
    grad: u64,
    m: u64,
    v: u64,
    copy: Bf16Copy,
    n: i64,
    first_chunk: i64,
    decay: f32,
    step: f32,
}

// Safety: a plain `#[repr(C)]` struct of integers and floats, the same fields in the same order
// as the kernel's `struct AdamWTensor`.
unsafe impl DeviceRepr for AdamWTensor {}

/// What an AdamW step of `n` parameters moves and computes (without a bf16 image): parameters,
/// gradients and both moments read, parameters and moments written, 4 bytes each; about 15
/// operations an element.
pub fn adamw_cost(n: usize) -> Cost {
    Cost::f32s(4 * n, 3 * n).with_flops(15 * n, Math::CudaCores)
}

/// Elements per block of `adamw_step_multi_tensor` (`ADAMW_CHUNK` of adamw.cu).
pub const ADAMW_CHUNK: usize = 4096;

/// One AdamW step on every tensor of `tensors` in one launch (multi-tensor apply): a table of
/// the tensors goes to the device, and each block updates one chunk of one tensor. `shared` is
/// `[β₁, β₂, ε, √(1 − β₂ᵗ)]`. With `max_norm`, the gradients are first clipped to that global
/// norm on the device (two launches before the step; nothing waits for the host), and the
/// returned buffer holds `[‖g‖, factor]` for whoever wants to read the norm.
pub fn adamw_multi_tensor(
    gpu: &Gpu,
    tensors: &mut [AdamWTensorSlices],
    shared: [f32; 4],
    max_norm: Option<f32>,
) -> Result<Option<CudaSlice<f32>>, CudaError> {
    let mut table = Vec::with_capacity(tensors.len());
    let mut chunks = 0usize;
    let mut cost = Cost::default();
    for (i, t) in tensors.iter_mut().enumerate() {
        let lens = [t.param.len(), t.grad.len(), t.m.len(), t.v.len()];
        if lens.iter().any(|&len| len < t.n) {
            return Err(CudaError::Driver(format!("adamw tensor {i}: {} elements, buffers of {lens:?}", t.n)));
        }
        if t.n == 0 {
            continue;
        }
        // Raw addresses for the table; the buffers outlive the launch (the caller holds them).
        let grad = t.grad.device_ptr(&gpu.stream).0;
        let param = t.param.device_ptr_mut(&gpu.stream).0;
        let (m, v) = (t.m.device_ptr_mut(&gpu.stream).0, t.v.device_ptr_mut(&gpu.stream).0);
        let copy = match t.image.take() {
            Some((image, cols, stride)) if cols > 0 && t.n % cols == 0 => {
                Bf16Copy::new(gpu, Some((image, stride)), (t.n / cols, cols))
            }
            Some((_, cols, _)) => Err(CudaError::Driver(format!("{} elements are not rows of {cols}", t.n))),
            None => Bf16Copy::new(gpu, None, (t.n, 1)),
        }
        .map_err(|e| CudaError::Driver(format!("adamw tensor {i}: {e}")))?;
        cost = cost.plus(adamw_cost(t.n).writing(copy.bytes(t.n)));
        let (n, first_chunk) = (t.n as i64, chunks as i64);
        table.push(AdamWTensor { param, grad, m, v, copy, n, first_chunk, decay: t.decay, step: t.step });
        chunks += t.n.div_ceil(ADAMW_CHUNK);
    }
    if table.is_empty() {
        return Ok(None);
    }
    let table_on_device =
        gpu.stream.clone_htod(&table).map_err(|e| CudaError::Driver(format!("adamw table: {e:?}")))?;
    let count = table.len() as i32;
    let floats = table.iter().map(|t| t.n as usize).sum();
    let clip = match max_norm {
        Some(max_norm) => Some(clip_factor(gpu, (&table_on_device, count), (chunks, floats), max_norm)?),
        None => None,
    };
    let f = gpu.function(source("adamw.cu"), "adamw_step_multi_tensor")?;
    let mut args = gpu.stream.launch_builder(&f);
    args.arg(&count).arg(&table_on_device);
    for x in &shared {
        args.arg(x);
    }
    let no_clip = 0u64;
    match &clip {
        Some(clip) => args.arg(clip),
        None => args.arg(&no_clip),
    };
    let cost = if clip.is_some() { cost.plus(Cost::bytes(8, 0)) } else { cost };
    // Safety: each table entry addresses n floats of four live buffers and, if given, an image of
    // n / cols rows of stride bf16 (checked above); the parameters, moments and images are
    // distinct mutable buffers; a block per chunk; clip holds 2 floats or is null.
    unsafe { run(gpu, "adamw_step_multi_tensor", &mut args, grid(chunks, 256), cost) }?;
    Ok(clip)
}

/// `[‖g‖, min(1, max_norm / (‖g‖ + 10⁻⁶))]` on the device for the gradients of a step's `table`
/// (`count` tensors in `chunks` chunks, `floats` elements): the squares of each chunk added by a
/// block (f64), then the chunks' sums by one block (adamw.cu's clipping kernels).
fn clip_factor(
    gpu: &Gpu,
    (table, count): (&CudaSlice<AdamWTensor>, i32),
    (chunks, floats): (usize, usize),
    max_norm: f32,
) -> Result<CudaSlice<f32>, CudaError> {
    let alloc = |e: cudarc::driver::DriverError| CudaError::Driver(format!("clipping's buffers: {e:?}"));
    // Safety: written in full by the kernels below (a partial per chunk; the norm and the factor).
    let mut partials = unsafe { gpu.stream.alloc::<f64>(chunks) }.map_err(alloc)?;
    let mut clip = unsafe { gpu.stream.alloc::<f32>(2) }.map_err(alloc)?;
    let f = gpu.function(source("adamw.cu"), "gradient_squares_multi_tensor")?;
    let mut args = gpu.stream.launch_builder(&f);
    args.arg(&count).arg(table).arg(&mut partials);
    let cost = Cost::bytes(4 * floats, 8 * chunks).with_flops(2 * floats, Math::CudaCores);
    // Safety: the table's entries address live gradients of n floats; a block per chunk.
    unsafe { run(gpu, "gradient_squares_multi_tensor", &mut args, grid(chunks, 256), cost) }?;
    let f = gpu.function(source("adamw.cu"), "clip_factor")?;
    let mut args = gpu.stream.launch_builder(&f);
    let chunks = chunks as i64;
    args.arg(&chunks).arg(&partials).arg(&max_norm).arg(&mut clip);
    let cost = Cost::bytes(8 * chunks as usize, 8).with_flops(chunks as usize, Math::CudaCores);
    // Safety: partials holds `chunks` sums, clip 2 floats; one block.
    unsafe { run(gpu, "clip_factor", &mut args, grid(1, 256), cost) }?;
    Ok(clip)
}
