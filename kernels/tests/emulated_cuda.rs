//! The emulated CUDA libraries (the `cuda-emulator` crate) stand in for the real ones: once
//! installed, cudarc opens a device, compiles and launches kernels and calls cuBLAS as it would on
//! a GPU, and the results are the CPU's. (`.ci/run` runs every GPU test this way; this binary
//! checks the mechanism itself in a plain `cargo test`: one test installs the libraries, which is
//! process-wide; the other runs a faulting kernel in a child process.)

use cudarc::cublas::{Gemm, GemmConfig};
use cudarc::driver::{LaunchConfig, PushKernelArg};
use kernels::cuda::cudarc;
use kernels::cuda::launch;
use kernels::cuda::{driver_available, nvrtc_available, Gpu, SOURCES};
use kernels::gemm::{gemm, MatRef};
use kernels::softmax::cuda::{softmax, softmax_backward, SoftmaxVersion};
use kernels::softmax::softmax_rows;

mod common;
use common::{max_rel_err, random};

/// The emulated libraries in place of the real ones, loading the engine's kernel sources (what
/// the `emulator` feature's `kernels::cuda::emulated::install` does; this test builds without it).
fn install() {
    cuda_emulator::install_libraries(|name| {
        let source = SOURCES.iter().find(|s| s.name == name)?;
        Some(cuda_emulator::Source { name: source.name, text: source.source, kernels: source.kernels })
    })
    .unwrap();
}

#[test]
fn the_emulated_libraries_run_the_gpu_path_on_the_cpu() {
    install();
    assert!(driver_available() && nvrtc_available());
    let gpu = Gpu::new(0).unwrap();
    assert_eq!((gpu.name.as_str(), gpu.arch), (cuda_emulator::DEVICE_NAME, "sm_90a"));
    assert!(Gpu::new(1).err().expect("one device").to_string().contains("no CUDA device 1"));

    // A kernel compiled through "NVRTC", loaded and launched through the driver API.
    let (rows, cols) = (6, 700);
    let x = random(rows * cols, 1);
    let mut want = vec![0.0; rows * cols];
    softmax_rows(&x, &mut want, cols);
    let xd = gpu.stream.clone_htod(&x).unwrap();
    let mut yd = gpu.stream.alloc_zeros::<f32>(rows * cols).unwrap();
    softmax(&gpu, SoftmaxVersion::BlockPerRow, false, &xd.slice(..), &mut yd, (rows, cols)).unwrap();
    assert!(max_rel_err(&gpu.stream.clone_dtoh(&yd).unwrap(), &want) <= 1e-5);

    // The kernel profile: launches timed by events while on, none while off.
    gpu.profile_kernels(true);
    for _ in 0..2 {
        softmax(&gpu, SoftmaxVersion::WarpPerRow, false, &xd.slice(..), &mut yd, (rows, cols)).unwrap();
    }
    softmax_backward(&gpu, false, (&yd.slice(..), &xd.slice(..)), &mut yd.clone(), (rows, cols)).unwrap();
    gpu.profile_kernels(false);
    softmax(&gpu, SoftmaxVersion::WarpPerRow, false, &xd.slice(..), &mut yd, (rows, cols)).unwrap();
    let times = gpu.kernel_times().unwrap();
    let counts: Vec<(&str, usize)> = times.iter().map(|t| (t.name.as_str(), t.launches)).collect();
    assert_eq!(counts.len(), 2, "{times:?}");
    assert!(counts.contains(&("softmax_warp_per_row", 2)) && counts.contains(&("softmax_backward", 1)), "{times:?}");
    assert!(times.iter().all(|t| t.ms >= 0.0) && times[0].ms >= times[1].ms, "slowest first: {times:?}");
    assert!(gpu.kernel_times().unwrap().is_empty(), "read once");

    // A launch the emulator refuses (more threads than a block holds) is the driver's error.
    let f = gpu.function(kernels::cuda::source("softmax.cu"), "softmax_backward").unwrap();
    let cfg = LaunchConfig { grid_dim: (1, 1, 1), block_dim: (2048, 1, 1), shared_mem_bytes: 0 };
    let mut builder = gpu.stream.launch_builder(&f);
    let (log, r, c) = (0i32, 1i32, 1i32);
    builder.arg(&log).arg(&r).arg(&c).arg(&xd).arg(&xd).arg(&mut yd);
    // Safety: the arguments match softmax_backward's signature; the launch never runs.
    assert!(unsafe { builder.launch(cfg) }.is_err());

    // More than 48 KB of dynamic shared memory only for a function that opted in, as on the GPU.
    let f = gpu.function(kernels::cuda::source("softmax.cu"), "softmax_block_per_row").unwrap();
    let launch_with = |bytes: u32, yd: &mut cudarc::driver::CudaSlice<f32>| {
        let cfg = LaunchConfig { grid_dim: (rows as u32, 1, 1), block_dim: (256, 1, 1), shared_mem_bytes: bytes };
        let (log, staged, r, c) = (0i32, 0i32, rows as i32, cols as i32);
        let mut builder = gpu.stream.launch_builder(&f);
        builder.arg(&log).arg(&staged).arg(&r).arg(&c).arg(&xd).arg(yd);
        // Safety: the arguments match softmax_block_per_row's signature, over rows × cols.
        unsafe { builder.launch(cfg) }
    };
    assert!(launch_with(64 * 1024, &mut yd).is_err(), "64 KB without opting in");
    let most = cudarc::driver::sys::CUfunction_attribute::CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES;
    assert!(f.set_attribute(most, 228 * 1024).is_err(), "past the 227 KB an sm_90 block can have");
    f.set_attribute(most, 64 * 1024).unwrap();
    launch_with(64 * 1024, &mut yd).unwrap();

    // A new buffer holds garbage, as on the GPU (NaN bytes here), unless it is asked for zeroed.
    // Safety: read back only to see what a new buffer holds.
    let fresh = unsafe { gpu.stream.alloc::<f32>(5) }.unwrap();
    assert!(gpu.stream.clone_dtoh(&fresh).unwrap().iter().all(|v| v.is_nan()));
    assert_eq!(gpu.stream.clone_dtoh(&gpu.stream.alloc_zeros::<f32>(5).unwrap()).unwrap(), [0.0; 5]);

    // cuBLAS: C = A·B, row-major, asked of column-major cuBLAS as Cᵀ = Bᵀ·Aᵀ.
    let (m, n, k) = (5, 7, 9);
    let (a, b) = (random(m * k, 2), random(k * n, 3));
    let mut want = vec![0.0; m * n];
    gemm(MatRef::row_major(&a, m, k), MatRef::row_major(&b, k, n), &mut want, n, false);
    let (ad, bd) = (gpu.stream.clone_htod(&a).unwrap(), gpu.stream.clone_htod(&b).unwrap());
    let mut cd = gpu.stream.alloc_zeros::<f32>(m * n).unwrap();
    let op_n = cudarc::cublas::sys::cublasOperation_t::CUBLAS_OP_N;
    let cfg = GemmConfig {
        transa: op_n,
        transb: op_n,
        m: n as i32,
        n: m as i32,
        k: k as i32,
        alpha: 1.0f32,
        lda: n as i32,
        ldb: k as i32,
        beta: 0.0,
        ldc: n as i32,
    };
    // Safety: the buffers hold m·k, k·n and m·n floats, as the configuration reads them.
    unsafe { gpu.blas(kernels::cuda::MatmulPrecision::F32).unwrap().gemm(cfg, &bd, &ad, &mut cd) }.unwrap();
    assert!(max_rel_err(&gpu.stream.clone_dtoh(&cd).unwrap(), &want) <= 1e-5);
}

#[test]
fn an_access_past_the_end_of_a_buffer_faults_where_it_happens() {
    // In a process of its own: the fault ends the process.
    use std::os::unix::process::ExitStatusExt;
    let status = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["reading_past_the_end", "--exact", "--ignored", "--test-threads=1"])
        .env("EMERGENT_FAULT_CHILD", "1")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap();
    assert_eq!(status.signal(), Some(11), "{status:?}");
}

#[test]
#[ignore = "the child process of an_access_past_the_end_of_a_buffer_faults_where_it_happens"]
fn reading_past_the_end() {
    if std::env::var("EMERGENT_FAULT_CHILD").is_err() {
        return; // only as that test's child
    }
    install();
    let gpu = Gpu::new(0).unwrap();
    let x = gpu.stream.clone_htod(&[0.5f32; 1024]).unwrap();
    let mut y = gpu.stream.alloc_zeros::<f32>(4096).unwrap();
    let f = gpu.function(kernels::cuda::source("gelu.cu"), "gelu_forward").unwrap();
    let (approx, n, cols) = (0i32, 4096i64, 4096i64); // four times what x holds
    let mut builder = gpu.stream.launch_builder(&f);
    let no_copy = launch::Bf16Copy::new(&gpu, None, (1, 4096)).unwrap();
    builder.arg(&approx).arg(&n).arg(&cols).arg(&x).arg(&mut y).arg(&no_copy);
    // Safety: not safe: the kernel reads past the end of x, which is the point; the emulated
    // driver's guard page stops it there.
    let _ = unsafe { builder.launch(launch::elementwise(4096)) };
}
