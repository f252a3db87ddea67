//! The multi-tensor AdamW step on the GPU (one launch for every parameter) against the CPU's
//! per-tensor step: parameters of one element, of exactly one chunk, of several chunks with a
//! partial last one, empty, with and without weight decay, with a gradient read through a
//! transposed view; and parameters whose β differ, which take one launch each. Under bf16 matrix
//! products the step also writes each matrix's bf16 copy, which the next product reads. Clipped
//! by the global gradient norm inside the step, against the gradients scaled on the host. Needs a
//! CUDA GPU; counts kernel launches with the process-wide profiler, so this file is its own test
//! binary with one GPU test.

mod common;

use common::max_rel_err;

use kernels::adamw::cuda::ADAMW_CHUNK;
use tensor::{rng, AdamWConfig, AdamWUpdate, DType, Device, ExecutionContext, MatmulPrecision, Tensor};

fn randn(shape: &[usize], seed: u64) -> Tensor {
    Tensor::randn(shape, 0.0, 1.0, DType::F32, &mut rng(seed))
}

/// A parameter with its gradient and moments after a few steps (so m and v are not zero).
struct Slot {
    param: Tensor,
    grad: Tensor,
    m: Tensor,
    v: Tensor,
    cfg: AdamWConfig,
}

/// Parameters of one element, of one chunk, of several with a partial last one, empty, and a
/// matrix whose gradient is a transposed view.
const SHAPES: [&[usize]; 5] = [&[1], &[ADAMW_CHUNK], &[3, ADAMW_CHUNK - 5], &[0], &[7, 9]];

fn slots(configs: &[AdamWConfig]) -> Vec<Slot> {
    slots_of(&SHAPES, configs)
}

fn slots_of(shapes: &[&[usize]], configs: &[AdamWConfig]) -> Vec<Slot> {
    shapes
        .iter()
        .zip(configs.iter().cycle())
        .enumerate()
        .map(|(i, (shape, cfg))| {
            let seed = 10 * i as u64;
            let moment = |s| randn(shape, s).mul_scalar(0.1).unwrap();
            let v = moment(seed + 3).mul(&moment(seed + 3)).unwrap();
            // The last gradient is a transposed view, read as the kernel needs it.
            let grad = if shape.len() == 2 {
                randn(&[shape[1], shape[0]], seed + 1).t().unwrap()
            } else {
                randn(shape, seed + 1)
            };
            Slot { param: randn(shape, seed), grad, m: moment(seed + 2), v, cfg: *cfg }
        })
        .collect()
}

/// Three AdamW steps (t = 4…6) on every slot at once, on `device`, clipped to `max_norm` inside
/// the step when given; the parameters and moments back on the CPU.
fn three_steps(mut slots: Vec<Slot>, device: Device, max_norm: Option<f64>) -> Vec<[Tensor; 3]> {
    let to = |t: &Tensor| t.to_device(device).unwrap();
    for s in &mut slots {
        (s.param, s.grad, s.m, s.v) = (to(&s.param), to(&s.grad), to(&s.m), to(&s.v));
    }
    for t in 4..7 {
        let mut updates: Vec<AdamWUpdate> = slots
            .iter_mut()
            .map(|s| AdamWUpdate { param: &mut s.param, grad: &s.grad, m: &mut s.m, v: &mut s.v, cfg: s.cfg })
            .collect();
        match max_norm {
            Some(max_norm) => Tensor::adamw_step_all_clipped(&mut updates, t, max_norm).unwrap(),
            None => Tensor::adamw_step_all(&mut updates, t).unwrap(),
        }
    }
    let back = |t: &Tensor| t.to_device(Device::Cpu).unwrap();
    slots.iter().map(|s| [back(&s.param), back(&s.m), back(&s.v)]).collect()
}

/// Each parameter's θ, m and v within `tolerance` (relative) of the reference's.
fn assert_close(got: &[[Tensor; 3]], want: &[[Tensor; 3]], tolerance: f64) {
    for (i, (got, want)) in got.iter().zip(want).enumerate() {
        for (what, (g, w)) in ["θ", "m", "v"].iter().zip(got.iter().zip(want)) {
            assert_eq!(g.shape(), w.shape());
            let err = max_rel_err(g, w);
            assert!(err <= tolerance, "parameter {i} {:?}, {what}: {err}", w.shape());
        }
    }
}

#[test]
fn clipping_inside_the_step_needs_one_gpu_and_a_positive_norm() {
    let decayed = AdamWConfig { lr: 3e-3, weight_decay: 0.1, ..Default::default() };
    let mut slots = slots(&[decayed]);
    let mut updates: Vec<AdamWUpdate> = slots
        .iter_mut()
        .map(|s| AdamWUpdate { param: &mut s.param, grad: &s.grad, m: &mut s.m, v: &mut s.v, cfg: s.cfg })
        .collect();
    let e = Tensor::adamw_step_all_clipped(&mut updates, 1, 1.0).unwrap_err().to_string();
    assert!(e.contains("every parameter on one GPU"), "{e}");
    for bad in [0.0, -1.0, f64::NAN] {
        let e = Tensor::adamw_step_all_clipped(&mut updates, 1, bad).unwrap_err().to_string();
        assert!(e.contains("must be above 0"), "{bad}: {e}");
    }
}

#[test]
#[ignore = "needs a CUDA GPU"]
fn multi_tensor_adamw_matches_the_cpu_in_one_launch_and_rounds_matrices_for_bf16() {
    let gpu = kernels::cuda::Gpu::shared(0).unwrap();
    let decayed = AdamWConfig { lr: 3e-3, weight_decay: 0.1, ..Default::default() };
    let plain = AdamWConfig { lr: 1e-3, weight_decay: 0.0, ..Default::default() };
    let other_betas = AdamWConfig { beta1: 0.8, beta2: 0.95, ..plain };
    for (configs, multi, single) in [(vec![decayed, plain], 3, 0), (vec![decayed, other_betas], 0, 3 * 5)] {
        let want = three_steps(slots(&configs), Device::Cpu, None);
        gpu.profile_kernels(true);
        gpu.kernel_times().unwrap(); // the clock starts here
        let got = three_steps(slots(&configs), Device::Cuda(0), None);
        let times = gpu.kernel_times().unwrap();
        gpu.profile_kernels(false);
        let launches = |name: &str| times.iter().find(|t| t.name == name).map_or(0, |t| t.launches);
        let counts = (launches("adamw_step_multi_tensor"), launches("adamw_step"));
        // One launch per step for all five tensors; one per tensor when the β differ.
        assert_eq!(counts, (multi, single), "{configs:?}");
        assert_close(&got, &want, 1e-6);
    }

    // Clipped inside the step: as if every gradient were first scaled on the host by
    // min(1, max_norm / (‖g‖ + 10⁻⁶)), ‖g‖ over all five (in f64 here); two more launches a step.
    // One more parameter of 257 chunks: more chunks than the block that adds their sums has threads.
    let configs = [decayed, plain];
    let shapes = [&SHAPES[..], &[&[257 * ADAMW_CHUNK + 3]]].concat();
    let slots = |configs: &[AdamWConfig]| slots_of(&shapes, configs);
    let squares =
        slots(&configs).into_iter().flat_map(|s| s.grad.to_vec::<f32>().unwrap()).map(|g| f64::from(g).powi(2));
    let norm = squares.sum::<f64>().sqrt();
    for max_norm in [norm / 4.0, 4.0 * norm] {
        let factor = (max_norm / (norm + 1e-6)).min(1.0);
        let mut scaled = slots(&configs);
        for s in &mut scaled {
            s.grad = s.grad.mul_scalar(factor).unwrap();
        }
        let want = three_steps(scaled, Device::Cpu, None);
        gpu.profile_kernels(true);
        gpu.kernel_times().unwrap();
        let got = three_steps(slots(&configs), Device::Cuda(0), Some(max_norm));
        let times = gpu.kernel_times().unwrap();
        gpu.profile_kernels(false);
        let launches = |name: &str| times.iter().find(|t| t.name == name).map_or(0, |t| t.launches);
        let counts = ["gradient_squares_multi_tensor", "clip_factor", "adamw_step_multi_tensor"].map(launches);
        assert_eq!(counts, [3, 3, 3], "{times:?}");
        assert_close(&got, &want, 1e-5);
    }

    // Under bf16 products the step also rounds each matrix for them: the next product reads W's
    // image (x alone is rounded).
    let bf16 = ExecutionContext::default().with_precision(MatmulPrecision::Bf16);
    let (x, want, y, times) = bf16.run(|| {
        let (w, b, x) = (randn(&[32, 20], 50), randn(&[20], 51), randn(&[5, 32], 52));
        let (gw, gb) = (randn(&[32, 20], 53), randn(&[20], 54));
        let mut want = (w.clone(), b.clone());
        let on_gpu = |t: &Tensor| t.to_device(Device::Cuda(0)).unwrap();
        let mut got = (on_gpu(&w), on_gpu(&b));
        for (params, grads) in [(&mut want, (&gw, &gb)), (&mut got, (&on_gpu(&gw), &on_gpu(&gb)))] {
            let (mut m, mut v) =
                ([params.0.zeros_like(), params.1.zeros_like()], [params.0.zeros_like(), params.1.zeros_like()]);
            let [mw, mb] = &mut m;
            let [vw, vb] = &mut v;
            let mut updates = [
                AdamWUpdate { param: &mut params.0, grad: grads.0, m: mw, v: vw, cfg: decayed },
                AdamWUpdate { param: &mut params.1, grad: grads.1, m: mb, v: vb, cfg: plain },
            ];
            Tensor::adamw_step_all(&mut updates, 1).unwrap();
        }
        gpu.profile_kernels(true);
        gpu.kernel_times().unwrap();
        let y = on_gpu(&x).linear(&got.0, &got.1).unwrap();
        let times = gpu.kernel_times().unwrap();
        gpu.profile_kernels(false);
        (x, want, y, times)
    });
    let roundings = times.iter().find(|t| t.name == "f32_to_bf16").map_or(0, |t| t.launches);
    assert_eq!(roundings, 1, "only x: {times:?}");
    let bf16_rounded = |t: &Tensor| t.to_dtype(DType::BF16).to_dtype(DType::F32);
    let want_y = bf16_rounded(&x).linear(&bf16_rounded(&want.0), &want.1).unwrap();
    assert!(max_rel_err(&y, &want_y) <= 1e-4, "the product read the updated W");
}
