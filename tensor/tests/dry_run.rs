//! The dry run (`tensor::kernel_profile::start_dry_run`): device `cuda:0` on the null driver. This
//! test binary runs on it throughout (the driver is the process's), on any machine: nothing runs,
//! nothing is allocated, and each launch's declared cost lands in the ledger, checked here against
//! hand counts.

use std::sync::Mutex;
use tensor::kernel_profile::{dry_run_memory, record_launches, recorded_launches, start_dry_run, Launch, Math};
use tensor::{DType, Device, Tensor};

/// The ledger is the process's: one test records at a time.
static LEDGER: Mutex<()> = Mutex::new(());

/// The launches `work` makes on the dry-run device.
fn launches_of(work: impl FnOnce(Device)) -> Vec<Launch> {
    let _one_at_a_time = LEDGER.lock().unwrap_or_else(|e| e.into_inner());
    start_dry_run().expect("the dry-run driver loads");
    record_launches(true);
    work(Device::Cuda(0));
    let launches = recorded_launches();
    record_launches(false);
    launches
}

fn on(device: Device, data: Vec<f32>, shape: &[usize]) -> Tensor {
    Tensor::from_vec(data, shape).unwrap().to_device(device).unwrap()
}

#[test]
fn a_layer_norm_declares_the_bytes_it_moves() {
    // 6 rows of 10: x (60), γ and β (10 each) read; y (60), mean and rstd (6 each) written.
    let launches = launches_of(|device| {
        let x = on(device, vec![0.5; 60], &[6, 10]);
        let (gamma, beta) = (on(device, vec![1.0; 10], &[10]), on(device, vec![0.0; 10], &[10]));
        x.layer_norm_forward(&gamma, &beta, 1e-5).unwrap();
    });
    let norms: Vec<&Launch> = launches.iter().filter(|l| l.name.starts_with("layer_norm")).collect();
    assert_eq!(norms.len(), 1, "{launches:?}");
    assert_eq!(norms[0].cost.read, 4 * (60 + 10 + 10));
    assert_eq!(norms[0].cost.written, 4 * (60 + 6 + 6));
    assert_eq!(norms[0].cost.flops, 8 * 60);
    let uploads = launches.iter().filter(|l| l.name == "copy host→device").count();
    assert_eq!(uploads, 3, "x, γ and β go to the device: {launches:?}");
}

#[test]
fn a_batched_product_counts_a_shared_operand_once() {
    // (2, 3, 4)·(1, 4, 5) in f32: B's one matrix serves both products of the batch, so it is read
    // once.
    let launches = launches_of(|device| {
        let a = on(device, vec![1.0; 24], &[2, 3, 4]);
        let b = on(device, vec![1.0; 20], &[1, 4, 5]);
        a.matmul(&b).unwrap();
    });
    let products: Vec<&Launch> = launches.iter().filter(|l| l.name.starts_with("cuBLAS")).collect();
    assert_eq!(products.len(), 1, "{launches:?}");
    assert_eq!(products[0].name, "cuBLAS f32 gemm 2 × 3×5×4");
    assert_eq!(products[0].cost.flops, 2 * 2 * 3 * 5 * 4);
    assert_eq!(products[0].cost.read, 4 * (24 + 20));
    assert_eq!(products[0].cost.written, 4 * 2 * 3 * 5);
    assert_eq!(products[0].cost.math, Math::CudaCores);
}

#[test]
fn the_fused_classifier_declares_bf16_logits_read_once_and_overwritten() {
    use tensor::{ExecutionContext, MatmulPrecision};
    // h (6, 16) · Wᵀ (16, 21) under bf16 products: the product writes 6 × 21 bf16 logits (its two
    // parts, 16 and 5 columns wide); the pass reads them (2 bytes each) and the 6 i64 targets,
    // and writes 6 f32 losses and the gradient over the logits (2 bytes each).
    let launches = launches_of(|device| {
        let (h, w) = (on(device, vec![0.5; 96], &[6, 16]), on(device, vec![0.1; 336], &[21, 16]));
        let t = Tensor::from_vec(vec![0i64, 20, 3, -100, 7, 1], &[6]).unwrap();
        let bf16 = ExecutionContext::default().with_precision(MatmulPrecision::Bf16);
        bf16.run(|| h.classifier_cross_entropy(&w, &t, Some(-100), Some(0.2))).unwrap();
    });
    let products: Vec<&Launch> = launches.iter().filter(|l| l.name.starts_with("cuBLAS")).collect();
    assert_eq!(products.len(), 2, "{launches:?}");
    assert_eq!(products.iter().map(|p| p.cost.written).sum::<u64>(), 2 * 6 * 21);
    let pass: Vec<&Launch> = launches.iter().filter(|l| l.name == "cross_entropy_bf16_in_place").collect();
    assert_eq!(pass.len(), 1, "{launches:?}");
    assert_eq!(pass[0].cost.read, 2 * 6 * 21 + 8 * 6);
    assert_eq!(pass[0].cost.written, 4 * 6 + 2 * 6 * 21);
    assert!(!launches.iter().any(|l| l.name == "cross_entropy_rows"), "no f32 pass: {launches:?}");
}

#[test]
fn nothing_is_allocated_or_run_but_memory_is_counted() {
    let _one_at_a_time = LEDGER.lock().unwrap_or_else(|e| e.into_inner());
    start_dry_run().unwrap();
    let before = dry_run_memory();
    let x = Tensor::zeros(&[1 << 20, 256], DType::F32).to_device(Device::Cuda(0));
    // A gigabyte "on the device", which no memory holds.
    let x = x.unwrap();
    let during = dry_run_memory();
    assert!(during.live - before.live >= 1 << 30, "{before:?} → {during:?}");
    assert!(during.peak >= during.live);
    // Kernels do not run: what comes back is zeros, whatever the op.
    let y = x.narrow(0, 0, 1).unwrap().add_scalar(3.0).unwrap();
    assert_eq!(y.to_vec::<f32>().unwrap(), vec![0.0; 256]);
    drop((x, y));
    assert_eq!(dry_run_memory().live, before.live);
}
