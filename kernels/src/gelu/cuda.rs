//! The GELU forward launch.

use crate::cuda::cost::Cost;
use crate::cuda::launch::{elementwise, run, Bf16Copy, Bf16Out};
use crate::cuda::{source, CudaError, Gpu};
use cudarc::driver::{CudaSlice, CudaView, PushKernelArg};

/// `y = GELU(x)` (tanh approximation if `tanh`) over the `n` elements of x, and y's bf16 copy
/// when given one, y seen as rows of `cols`.
pub fn gelu_forward(
    gpu: &Gpu,
    tanh: bool,
    x: &CudaView<f32>,
    (y, y_bf16): (&mut CudaSlice<f32>, Bf16Out),
    cols: usize,
) -> Result<(), CudaError> {
    let n = x.len();
    if y.len() < n || cols == 0 || n % cols != 0 {
        return Err(CudaError::Driver(format!("gelu: {n} elements into {}, in rows of {cols}", y.len())));
    }
    let copy = Bf16Copy::new(gpu, y_bf16, (n / cols, cols))?;
    let f = gpu.function(source("gelu.cu"), "gelu_forward")?;
    let (approx, count) = (i32::from(tanh), n as i64);
    let mut args = gpu.stream.launch_builder(&f);
    args.arg(&approx).arg(&count).arg(x).arg(y).arg(&copy);
    // Safety: x and y hold n floats, the copy n / cols rows of its stride (checked).
    let cost = gelu_forward_cost(n).writing(copy.bytes(n));
    unsafe { run(gpu, "gelu_forward", &mut args, elementwise(n), cost) }
}

/// What `gelu_forward` of `n` elements moves and computes (without a bf16 copy): x read, y
/// written, 4 bytes each; about 10 operations each (the cubic, the tanh, the products).
pub fn gelu_forward_cost(n: usize) -> Cost {
    Cost::f32s(n, n).with_flops(10 * n, crate::cuda::cost::Math::CudaCores)
}

/// What `gelu_backward` of `n` elements moves and computes: x and dy read, dx written, 4 bytes
/// each; about 15 operations each (GELU's derivative and the product).
pub fn gelu_backward_cost(n: usize) -> Cost {
    Cost::f32s(2 * n, n).with_flops(15 * n, crate::cuda::cost::Math::CudaCores)
}
