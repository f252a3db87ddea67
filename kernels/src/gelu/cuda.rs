//! The GELU forward and backward launches.

use crate::cuda::cost::{Cost, Math};
use crate::cuda::launch::{elementwise, run, Bf16Copy, Bf16Out};
use crate::cuda::{source, CudaError, Gpu};
use cudarc::driver::{CudaSlice, CudaView, LaunchArgs, PushKernelArg};
use half::bf16;

/// GELU's input `u`: f32, or under bf16 products the MLP's first product `x·W₁` in bf16 with the
/// f32 bias that product left out, which the kernels add as they read (`u = x·W₁ + b₁`, `b₁[c]`
/// added to column `c`), so that `u` is never written.
pub enum GeluInput<'a> {
    F32(CudaView<'a, f32>),
    Bf16Product { product: CudaView<'a, bf16>, bias: CudaView<'a, f32> },
}

impl GeluInput<'_> {
    /// Pushes the kernel's `u` arguments (the bias after the product) and returns the bytes the
    /// launch reads of them (the bias once per column: it stays in cache).
    fn push<'a>(&'a self, args: &mut LaunchArgs<'a>, cols: usize) -> usize {
        match self {
            GeluInput::F32(u) => {
                args.arg(u);
                4 * u.len()
            }
            GeluInput::Bf16Product { product, bias } => {
                args.arg(product).arg(bias);
                2 * product.len() + 4 * cols
            }
        }
    }

    /// Checks `u` against rows of `cols`: whole rows, and a bias of one value per column.
    fn check(&self, op: &str, cols: usize) -> Result<usize, CudaError> {
        let (n, bias) = match self {
            GeluInput::F32(u) => (u.len(), None),
            GeluInput::Bf16Product { product, bias } => (product.len(), Some(bias.len())),
        };
        if cols == 0 || n % cols != 0 || bias.is_some_and(|b| b < cols) {
            let bias = bias.map_or(String::new(), |b| format!(", a bias of {b}"));
            return Err(CudaError::Driver(format!("{op}: {n} elements in rows of {cols}{bias}")));
        }
        Ok(n)
    }
}

/// `y = GELU(u)` (tanh approximation if `tanh`) over the elements of u, and y's bf16 copy when
/// given one, y seen as rows of `cols`; without y, the copy alone (an output that only matrix
/// products read).
pub fn gelu_forward(
    gpu: &Gpu,
    tanh: bool,
    u: &GeluInput,
    (y, y_bf16): (Option<&mut CudaSlice<f32>>, Bf16Out),
    cols: usize,
) -> Result<(), CudaError> {
    let n = u.check("gelu", cols)?;
    let y_len = y.as_ref().map_or(n, |y| y.len());
    if y_len < n {
        return Err(CudaError::Driver(format!("gelu: {n} elements into {y_len}, in rows of {cols}")));
    }
    if y.is_none() && y_bf16.is_none() {
        return Err(CudaError::Driver("gelu: an output in f32, in bf16 or both".into()));
    }
    let copy = Bf16Copy::new(gpu, y_bf16, (n / cols, cols))?;
    let kernel = match u {
        GeluInput::F32(_) => "gelu_forward",
        GeluInput::Bf16Product { .. } => "gelu_forward_bf16_product",
    };
    let f = gpu.function(source("gelu.cu"), kernel)?;
    let (approx, count, width, null) = (i32::from(tanh), n as i64, cols as i64, 0u64);
    let mut args = gpu.stream.launch_builder(&f);
    args.arg(&approx).arg(&count).arg(&width);
    let read = u.push(&mut args, cols);
    let written = push_output(&mut args, y, &null, n);
    args.arg(&copy);
    let cost = Cost::bytes(read, written + copy.bytes(n)).with_flops(GELU_FLOPS * n, Math::CudaCores);
    // Safety: u holds n elements (and the bias cols), y (when given) n, the copy n / cols rows
    // of its stride (checked).
    unsafe { run(gpu, kernel, &mut args, elementwise(n), cost) }
}

/// About the operations GELU takes per element (the cubic, the tanh, the products).
pub const GELU_FLOPS: usize = 10;

/// About the operations GELU's backward takes per element (GELU's derivative and the product).
pub const GELU_BACKWARD_FLOPS: usize = 15;

/// The output gradient a GELU backward reads, in its input's precision: f32 for an f32 `u`, bf16
/// for a bf16 product (the MLP's `dy·W₂ᵀ`, which its product writes in bf16).
pub enum GeluDy<'a> {
    F32(CudaView<'a, f32>),
    Bf16(CudaView<'a, bf16>),
}

/// `du = dy ⊙ GELU′(u)` (tanh approximation if `tanh`) over the elements of u, into du and/or
/// du's bf16 copy, du seen as rows of `cols`; without du, the copy alone (a gradient that only
/// matrix products and column sums read).
pub fn gelu_backward(
    gpu: &Gpu,
    tanh: bool,
    u: &GeluInput,
    dy: &GeluDy,
    (du, du_bf16): (Option<&mut CudaSlice<f32>>, Bf16Out),
    cols: usize,
) -> Result<(), CudaError> {
    let n = u.check("gelu_backward", cols)?;
    let kernel = match (u, dy) {
        (GeluInput::F32(_), GeluDy::F32(_)) => "gelu_backward",
        (GeluInput::Bf16Product { .. }, GeluDy::Bf16(_)) => "gelu_backward_bf16_product",
        _ => return Err(CudaError::Driver("gelu_backward: dy in its input's precision".into())),
    };
    let (dy_len, dy_bytes) = match dy {
        GeluDy::F32(d) => (d.len(), 4),
        GeluDy::Bf16(d) => (d.len(), 2),
    };
    let du_len = du.as_ref().map_or(n, |du| du.len());
    if dy_len < n || du_len < n {
        return Err(CudaError::Driver(format!(
            "gelu_backward: {n} elements, dy of {dy_len}, into {du_len}, in rows of {cols}"
        )));
    }
    if du.is_none() && du_bf16.is_none() {
        return Err(CudaError::Driver("gelu_backward: an output in f32, in bf16 or both".into()));
    }
    let copy = Bf16Copy::new(gpu, du_bf16, (n / cols, cols))?;
    let f = gpu.function(source("gelu.cu"), kernel)?;
    let (approx, count, width, null) = (i32::from(tanh), n as i64, cols as i64, 0u64);
    let mut args = gpu.stream.launch_builder(&f);
    args.arg(&approx).arg(&count).arg(&width);
    let read = u.push(&mut args, cols) + dy_bytes * n;
    match dy {
        GeluDy::F32(d) => args.arg(d),
        GeluDy::Bf16(d) => args.arg(d),
    };
    let written = push_output(&mut args, du, &null, n);
    args.arg(&copy);
    let cost = Cost::bytes(read, written + copy.bytes(n)).with_flops(GELU_BACKWARD_FLOPS * n, Math::CudaCores);
    // Safety: u holds n elements (and the bias cols), dy n, du (when given) n, the copy n / cols
    // rows of its stride (checked).
    unsafe { run(gpu, kernel, &mut args, elementwise(n), cost) }
}

/// Pushes an f32 output of `n` elements, or `null` where there is none (its bf16 copy alone), and
/// returns the bytes the launch writes to it.
fn push_output<'a>(args: &mut LaunchArgs<'a>, out: Option<&'a mut CudaSlice<f32>>, null: &'a u64, n: usize) -> usize {
    match out {
        Some(out) => {
            args.arg(out);
            4 * n
        }
        None => {
            args.arg(null);
            0
        }
    }
}
