//! Optimizers against steps computed by hand, schedules and clipping against their formulas, and
//! optimizer state surviving a save/restore exactly.

use autograd::Params;
use tensor::{AdamWConfig, DType, Tensor};
use train::optim::{clip_grad_norm, AdaGrad, Adam, AdamW, Optimizer, Schedule, Sgd};

/// One scalar parameter θ = `theta` with gradient `g` at each step; returns θ after each step.
fn run(opt: &mut dyn Optimizer, theta: f64, grads: &[f64], lr: f64) -> Vec<f64> {
    let mut params = Params::new();
    let p = params.add("w", Tensor::full(&[1], theta, DType::F64)).unwrap();
    grads
        .iter()
        .map(|&g| {
            p.set_grad(Some(Tensor::full(&[1], g, DType::F64))).unwrap();
            opt.step(&params, lr).unwrap();
            p.value().to_scalar().unwrap()
        })
        .collect()
}

fn close(a: &[f64], b: &[f64]) {
    for (x, y) in a.iter().zip(b) {
        assert!((x - y).abs() < 1e-12, "{a:?} vs {b:?}");
    }
}

#[test]
fn sgd_plain_momentum_nesterov_and_weight_decay() {
    close(&run(&mut Sgd::new(0.0, false, 0.0), 1.0, &[0.5, 0.5], 0.1), &[0.95, 0.90]);
    // b₁ = 1 → θ = 0.9; b₂ = 0.9·1 + 1 = 1.9 → θ = 0.9 − 0.19 = 0.71.
    close(&run(&mut Sgd::new(0.9, false, 0.0), 1.0, &[1.0, 1.0], 0.1), &[0.9, 0.71]);
    // Nesterov: step uses g + μb: 1 + 0.9 = 1.9 → 0.81; b₂ = 1.9, 1 + 1.71 = 2.71 → 0.539.
    close(&run(&mut Sgd::new(0.9, true, 0.0), 1.0, &[1.0, 1.0], 0.1), &[0.81, 0.539]);
    // L2: g' = 0 + 0.5·2 = 1 → θ = 2 − 0.1 = 1.9.
    close(&run(&mut Sgd::new(0.0, false, 0.5), 2.0, &[0.0], 0.1), &[1.9]);
}

#[test]
fn adam_and_adamw_by_hand() {
    let (b1, b2, eps, lr) = (0.9f64, 0.999f64, 1e-8, 0.01);
    // Hand computation for g = [1, −2] from θ = 1, with an L2 / decoupled decay λ = 0.1.
    let hand = |decoupled: bool| {
        let (mut theta, mut m, mut v) = (1.0f64, 0.0, 0.0);
        let mut out = vec![];
        for (t, g) in [1.0f64, -2.0].iter().enumerate() {
            let t = (t + 1) as i32;
            let mut g = *g;
            if decoupled {
                theta *= 1.0 - lr * 0.1;
            } else {
                g += 0.1 * theta;
            }
            m = b1 * m + (1.0 - b1) * g;
            v = b2 * v + (1.0 - b2) * g * g;
            theta -= lr / (1.0 - b1.powi(t)) * m / (v.sqrt() / (1.0 - b2.powi(t)).sqrt() + eps);
            out.push(theta);
        }
        out
    };
    close(&run(&mut Adam::new(b1, b2, eps, 0.1), 1.0, &[1.0, -2.0], lr), &hand(false));
    let cfg = AdamWConfig { lr, beta1: b1, beta2: b2, eps, weight_decay: 0.1 };
    // AdamW decays ≥2-D weights only: use a 1×1 matrix.
    let mut params = Params::new();
    let p = params.add("w", Tensor::full(&[1, 1], 1.0, DType::F64)).unwrap();
    let mut opt = AdamW::new(cfg);
    let mut got = vec![];
    for g in [1.0, -2.0] {
        p.set_grad(Some(Tensor::full(&[1, 1], g, DType::F64))).unwrap();
        opt.step(&params, lr).unwrap();
        got.push(p.value().to_scalar().unwrap());
    }
    close(&got, &hand(true));
}

#[test]
fn adagrad_by_hand() {
    // s = 4 → θ = 1 − 0.1·2/2 = 0.9; s = 8 → θ = 0.9 − 0.1·2/√8.
    close(&run(&mut AdaGrad::new(0.0, 0.0), 1.0, &[2.0, 2.0], 0.1), &[0.9, 0.9 - 0.2 / 8f64.sqrt()]);
}

#[test]
fn warmup_then_cosine() {
    let s = Schedule::WarmupCosine { warmup: 10, total: 110, min_ratio: 0.1 };
    assert!((s.lr(1.0, 0) - 0.1).abs() < 1e-12 && (s.lr(1.0, 9) - 1.0).abs() < 1e-12);
    assert!((s.lr(1.0, 10) - 1.0).abs() < 1e-12);
    assert!((s.lr(1.0, 60) - 0.55).abs() < 1e-12, "half way: min + (max − min)/2");
    assert!((s.lr(1.0, 110) - 0.1).abs() < 1e-12 && (s.lr(1.0, 500) - 0.1).abs() < 1e-12);
    assert_eq!(Schedule::Constant.lr(0.3, 1000), 0.3);
}

#[test]
fn clipping_scales_to_the_global_norm() {
    let mut params = Params::new();
    let a = params.add("a", Tensor::zeros(&[1], DType::F64)).unwrap();
    let b = params.add("b", Tensor::zeros(&[1], DType::F64)).unwrap();
    a.set_grad(Some(Tensor::full(&[1], 3.0, DType::F64))).unwrap();
    b.set_grad(Some(Tensor::full(&[1], 4.0, DType::F64))).unwrap();
    assert_eq!(clip_grad_norm(&params, 10.0).unwrap(), 5.0);
    assert_eq!(a.grad().unwrap().to_scalar().unwrap(), 3.0, "under the limit: unchanged");
    clip_grad_norm(&params, 1.0).unwrap();
    assert!((a.grad().unwrap().to_scalar().unwrap() - 0.6).abs() < 1e-6);
    assert!((b.grad().unwrap().to_scalar().unwrap() - 0.8).abs() < 1e-6);
}

#[test]
fn state_round_trip_continues_identically() {
    let grads = [0.3, -1.0, 2.0, 0.5];
    let makers: [fn() -> Box<dyn Optimizer>; 4] = [
        || Box::new(AdamW::new(AdamWConfig::default())),
        || Box::new(Sgd::new(0.9, true, 0.01)),
        || Box::new(AdaGrad::new(1e-10, 0.0)),
        || Box::new(Adam::new(0.9, 0.99, 1e-8, 0.0)),
    ];
    for make in makers {
        let mut whole = make();
        let straight = run(whole.as_mut(), 1.0, &grads, 0.1);
        let mut first = make();
        let half = run(first.as_mut(), 1.0, &grads[..2], 0.1);
        let mut second = make();
        second.load_state(first.state().into_iter().collect(), first.steps()).unwrap();
        let rest = run(second.as_mut(), half[1], &grads[2..], 0.1);
        assert_eq!([half, rest].concat(), straight);
    }
}
