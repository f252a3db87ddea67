//! Softmax launches: versions 1–4 (a thread, a warp, a block, a cluster of blocks per row), and
//! the backward.

use crate::cuda::cost::{Cost, Math};
use crate::cuda::launch::{grid, param, run, run_in_clusters, shared_function, threads_per_row, Plan};
use crate::cuda::{source, CudaError, Gpu};
use cudarc::driver::{CudaSlice, CudaView, DevicePtr, DevicePtrMut, PushKernelArg};

/// How the rows of a softmax are spread over threads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SoftmaxVersion {
    ThreadPerRow,
    WarpPerRow,
    BlockPerRow,
    /// A cluster of this many blocks (1 to 8) per row, the row in their registers (sm_90 and later).
    ClusterPerRow(u32),
}

/// The values a thread of softmax_cluster_per_row holds (CLUSTER_CACHED in softmax.cu).
const CLUSTER_CACHED: usize = 32;

/// The softmax launch over `(rows, cols)`; log-softmax is written for the block- and
/// cluster-per-row versions only.
pub fn softmax_plan(version: SoftmaxVersion, log: bool, (rows, cols): (usize, usize)) -> Result<Plan, CudaError> {
    let plan = match version {
        SoftmaxVersion::ThreadPerRow => Plan::new("softmax_thread_per_row", grid(rows.div_ceil(128), 128)),
        SoftmaxVersion::WarpPerRow => Plan::new("softmax_warp_per_row", grid(rows.div_ceil(8), 256)),
        SoftmaxVersion::BlockPerRow => {
            let threads = threads_per_row(cols);
            let mut cfg = grid(rows, threads);
            cfg.shared_mem_bytes = staged_row_bytes(cols, threads);
            Plan::new("softmax_block_per_row", cfg)
        }
        SoftmaxVersion::ClusterPerRow(blocks) => cluster_per_row_plan(blocks, (rows, cols))?,
    };
    if log && matches!(version, SoftmaxVersion::ThreadPerRow | SoftmaxVersion::WarpPerRow) {
        return Err(CudaError::Driver(format!(
            "{}: log-softmax is written for the block- and cluster-per-row versions only",
            plan.kernel
        )));
    }
    Ok(plan)
}

/// softmax_cluster_per_row's launch: a cluster of `blocks` per row, each block's threads the
/// fewest power of two (128 to 1024) that hold its slice at CLUSTER_CACHED values a thread, and
/// shared memory for the block's merge (64 floats) and a softmax state per block of the cluster.
fn cluster_per_row_plan(blocks: u32, (rows, cols): (usize, usize)) -> Result<Plan, CudaError> {
    let kernel = "softmax_cluster_per_row";
    if !(1..=8).contains(&blocks) {
        return Err(CudaError::Driver(format!("{kernel}: clusters of 1 to 8 blocks, not {blocks}")));
    }
    let most = blocks as usize * 1024 * CLUSTER_CACHED;
    if cols > most {
        return Err(CudaError::Driver(format!(
            "{kernel}: a cluster of {blocks} blocks holds rows of at most {most} values, not {cols}"
        )));
    }
    let threads = cols.div_ceil(blocks as usize * CLUSTER_CACHED).next_power_of_two().clamp(128, 1024);
    let mut cfg = grid(rows * blocks as usize, threads as u32);
    cfg.shared_mem_bytes = (64 + 2 * blocks) * 4;
    Ok(Plan { kernel, cfg, cluster: blocks })
}

/// The shared memory that stages a row of `cols` floats for softmax_block_per_row: the whole row
/// when it is too long for the threads' registers (16 values each) and fits in 200 KB, else none.
fn staged_row_bytes(cols: usize, threads: u32) -> u32 {
    let bytes = cols * 4;
    if cols > 16 * threads as usize && bytes <= 200 * 1024 {
        bytes as u32
    } else {
        0
    }
}

/// `y = softmax(x)` over each row of `(rows, cols)`, or `y = log_softmax(x)` when `log` (written
/// for the block-per-row version, the one the tensor layer uses).
pub fn softmax(
    gpu: &Gpu,
    version: SoftmaxVersion,
    log: bool,
    x: &CudaView<f32>,
    y: &mut CudaSlice<f32>,
    (rows, cols): (usize, usize),
) -> Result<(), CudaError> {
    let plan = softmax_plan(version, log, (rows, cols))?;
    let Plan { kernel, cfg, .. } = plan;
    let f = shared_function(gpu, "softmax.cu", kernel, cfg.shared_mem_bytes)?;
    // x read, y written; about 5 operations an element (max, exp, sum, scale).
    let cost = Cost::f32s(rows * cols, rows * cols).with_flops(5 * rows * cols, Math::CudaCores);
    let (r, c, log, staged) = (rows as i32, cols as i32, i32::from(log), i32::from(cfg.shared_mem_bytes > 0));
    if let SoftmaxVersion::ClusterPerRow(_) = version {
        let (x, y) = (x.device_ptr(&gpu.stream).0, y.device_ptr_mut(&gpu.stream).0);
        let mut params = [param(&log), param(&r), param(&c), param(&x), param(&y)];
        // Safety: the parameters match softmax_cluster_per_row's signature and the buffers hold
        // rows·cols floats.
        return unsafe { run_in_clusters(gpu, &f, plan, &mut params, cost) };
    }
    let mut args = gpu.stream.launch_builder(&f);
    if version == SoftmaxVersion::BlockPerRow {
        args.arg(&log).arg(&staged);
    }
    args.arg(&r).arg(&c).arg(x).arg(y);
    // Safety: the arguments match the kernel's signature and the buffers hold rows·cols floats.
    unsafe { run(gpu, kernel, &mut args, cfg, cost) }
}

/// The softmax backward launch: a block per row.
pub fn softmax_backward_plan((rows, cols): (usize, usize)) -> Plan {
    Plan::new("softmax_backward", grid(rows, threads_per_row(cols)))
}

/// Backward of [`softmax`] (block per row) from its output `y` and `dy`, into `dx`.
pub fn softmax_backward(
    gpu: &Gpu,
    log: bool,
    (y, dy): (&CudaView<f32>, &CudaView<f32>),
    dx: &mut CudaSlice<f32>,
    (rows, cols): (usize, usize),
) -> Result<(), CudaError> {
    let f = gpu.function(source("softmax.cu"), "softmax_backward")?;
    let (l, r, c) = (i32::from(log), rows as i32, cols as i32);
    let mut args = gpu.stream.launch_builder(&f);
    args.arg(&l).arg(&r).arg(&c).arg(y).arg(dy).arg(dx);
    // Safety: y, dy and dx hold rows·cols floats; a block per row.
    // y and dy read, dx written; about 4 operations an element.
    let cost = Cost::f32s(2 * rows * cols, rows * cols).with_flops(4 * rows * cols, Math::CudaCores);
    unsafe { run(gpu, "softmax_backward", &mut args, softmax_backward_plan((rows, cols)).cfg, cost) }
}
