//! The GELU forward and backward launches.

use crate::cuda::cost::{Cost, Math};
use crate::cuda::launch::{elementwise, run, Bf16Copy, Bf16Out};
use crate::cuda::{source, CudaError, Gpu};
use cudarc::driver::{CudaSlice, CudaView, PushKernelArg};
use half::bf16;

/// `y = GELU(x)` (tanh approximation if `tanh`) over the `n` elements of x, and y's bf16 copy
/// when given one, y seen as rows of `cols`; without y, the copy alone (an output that only matrix
/// products read).
pub fn gelu_forward(
    gpu: &Gpu,
    tanh: bool,
    x: &CudaView<f32>,
    (y, y_bf16): (Option<&mut CudaSlice<f32>>, Bf16Out),
    cols: usize,
) -> Result<(), CudaError> {
    let n = x.len();
    let y_len = y.as_ref().map_or(n, |y| y.len());
    if y_len < n || cols == 0 || n % cols != 0 {
        return Err(CudaError::Driver(format!("gelu: {n} elements into {y_len}, in rows of {cols}")));
    }
    if y.is_none() && y_bf16.is_none() {
        return Err(CudaError::Driver("gelu: an output in f32, in bf16 or both".into()));
    }
    let copy = Bf16Copy::new(gpu, y_bf16, (n / cols, cols))?;
    let f = gpu.function(source("gelu.cu"), "gelu_forward")?;
    let (approx, count, null) = (i32::from(tanh), n as i64, 0u64);
    let mut args = gpu.stream.launch_builder(&f);
    args.arg(&approx).arg(&count).arg(x);
    // Safety: x holds n floats, y (when given) n, the copy n / cols rows of its stride (checked).
    let cost = match y {
        Some(y) => {
            args.arg(y);
            gelu_forward_cost(n)
        }
        None => {
            args.arg(&null);
            Cost::bytes(4 * n, 0).with_flops(10 * n, Math::CudaCores)
        }
    }
    .writing(copy.bytes(n));
    args.arg(&copy);
    unsafe { run(gpu, "gelu_forward", &mut args, elementwise(n), cost) }
}

/// What `gelu_forward` of `n` elements moves and computes (without a bf16 copy): x read, y
/// written, 4 bytes each; about 10 operations each (the cubic, the tanh, the products).
pub fn gelu_forward_cost(n: usize) -> Cost {
    Cost::f32s(n, n).with_flops(10 * n, Math::CudaCores)
}

/// The output gradient a GELU backward reads: f32, or bf16 where the product that made it wrote
/// bf16 (the MLP's `dy·W₂ᵀ`).
pub enum GeluDy<'a> {
    F32(CudaView<'a, f32>),
    Bf16(CudaView<'a, bf16>),
}

/// `dx = dy ⊙ GELU′(x)` (tanh approximation if `tanh`) over the `n` elements of x, into dx and/or
/// dx's bf16 copy, dx seen as rows of `cols`; without dx, the copy alone (a gradient that only
/// matrix products and column sums read).
pub fn gelu_backward(
    gpu: &Gpu,
    tanh: bool,
    x: &CudaView<f32>,
    dy: &GeluDy,
    (dx, dx_bf16): (Option<&mut CudaSlice<f32>>, Bf16Out),
    cols: usize,
) -> Result<(), CudaError> {
    let n = x.len();
    let (dy_len, dy_bytes) = match dy {
        GeluDy::F32(d) => (d.len(), 4),
        GeluDy::Bf16(d) => (d.len(), 2),
    };
    let dx_len = dx.as_ref().map_or(n, |dx| dx.len());
    if dy_len < n || dx_len < n || cols == 0 || n % cols != 0 {
        return Err(CudaError::Driver(format!(
            "gelu_backward: {n} elements, dy of {dy_len}, into {dx_len}, in rows of {cols}"
        )));
    }
    if dx.is_none() && dx_bf16.is_none() {
        return Err(CudaError::Driver("gelu_backward: an output in f32, in bf16 or both".into()));
    }
    let copy = Bf16Copy::new(gpu, dx_bf16, (n / cols, cols))?;
    let kernel = match dy {
        GeluDy::F32(_) => "gelu_backward",
        GeluDy::Bf16(_) => "gelu_backward_bf16_dy",
    };
    let f = gpu.function(source("gelu.cu"), kernel)?;
    let (approx, count, null) = (i32::from(tanh), n as i64, 0u64);
    let mut args = gpu.stream.launch_builder(&f);
    args.arg(&approx).arg(&count).arg(x);
    match dy {
        GeluDy::F32(d) => args.arg(d),
        GeluDy::Bf16(d) => args.arg(d),
    };
    let cost = gelu_backward_cost(n, dy_bytes, if dx.is_some() { 4 } else { 0 }).writing(copy.bytes(n));
    match dx {
        Some(dx) => args.arg(dx),
        None => args.arg(&null),
    };
    args.arg(&copy);
    // Safety: x holds n floats, dy n elements, dx (when given) n, the copy n / cols rows of its
    // stride (checked).
    unsafe { run(gpu, kernel, &mut args, elementwise(n), cost) }
}

/// What `gelu_backward` of `n` elements moves and computes: x read (4 bytes each), dy read
/// (`dy_bytes` each: 4 for f32, 2 for bf16), dx written (`dx_bytes` each: 4 in f32, 0 where only
/// its bf16 copy is, whose bytes the launch adds); about 15 operations each (GELU's derivative and
/// the product).
pub fn gelu_backward_cost(n: usize, dy_bytes: usize, dx_bytes: usize) -> Cost {
    Cost::bytes((4 + dy_bytes) * n, dx_bytes * n).with_flops(15 * n, Math::CudaCores)
}
