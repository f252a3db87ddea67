//! Parity with PyTorch + HF transformers: logits, loss and every parameter gradient of a tiny random
//! GPT-2, in f32 and f64, against the outputs of `fixtures/make_gpt2_fixtures.py` (committed).

use model::checkpoint::read_safetensors;
use model::gpt2::Gpt2;
use std::collections::BTreeMap;
use std::path::Path;
use tensor::{DType, Tensor};

/// Fixtures live beside the tests, relative to the package folder (where cargo runs tests).
pub const FIXTURE: &str = "tests/fixtures/gpt2_tiny";

fn expected(dtype: DType) -> BTreeMap<String, Tensor> {
    let file = if dtype == DType::F64 { "expected_f64.safetensors" } else { "expected_f32.safetensors" };
    read_safetensors(&Path::new(FIXTURE).join(file)).expect("fixture file")
}

/// `max|ours − ref| / max|ref|`.
fn rel_err(ours: &Tensor, reference: &Tensor) -> f64 {
    assert_eq!(ours.shape(), reference.shape());
    let (a, b) = (ours.to_f64_vec(), reference.to_f64_vec());
    let diff = a.iter().zip(&b).map(|(x, y)| (x - y).abs()).max_by(f64::total_cmp).unwrap_or(0.0);
    let scale = b.iter().map(|y| y.abs()).max_by(f64::total_cmp).unwrap_or(0.0);
    diff / scale.max(f64::MIN_POSITIVE)
}

fn check_parity(dtype: DType, tol: f64) {
    let want = expected(dtype);
    let model = Gpt2::load(Path::new(FIXTURE), dtype).unwrap();
    let logits = model.forward(&want["ids"], None).unwrap();
    let loss = model.loss(&logits, &want["targets"]).unwrap();
    let (logits_err, loss_err) = (rel_err(&logits.value(), &want["logits"]), rel_err(&loss.value(), &want["loss"]));
    eprintln!("{dtype:?}: logits rel. err {logits_err:.2e}, loss rel. err {loss_err:.2e}");
    assert!(logits_err <= tol && loss_err <= tol);
    loss.backward().unwrap();
    let (mut checked, mut worst) = (0, 0f64);
    for (name, p) in model.params.iter() {
        let reference = &want[&format!("grad.{name}")];
        let err = rel_err(&p.grad().expect("every parameter gets a gradient"), reference);
        assert!(err <= tol, "grad of {name}: rel. err {err:e}");
        worst = worst.max(err);
        checked += 1;
    }
    eprintln!("{dtype:?}: worst gradient rel. err {worst:.2e} over {checked} parameters");
    assert_eq!(
        checked,
        want.keys().filter(|k| k.starts_with("grad.")).count(),
        "every reference gradient has a parameter"
    );
}

#[test]
fn f32_logits_loss_and_gradients_match_pytorch() {
    check_parity(DType::F32, 1e-4);
}

#[test]
fn f64_logits_loss_and_gradients_match_pytorch() {
    check_parity(DType::F64, 1e-10);
}

#[test]
fn dropout_is_off_in_eval_and_on_in_training() {
    let want = expected(DType::F32);
    let mut model = Gpt2::load(Path::new(FIXTURE), DType::F32).unwrap();
    let eval = model.forward(&want["ids"], None).unwrap().value();
    assert!(rel_err(&eval, &model.forward(&want["ids"], None).unwrap().value()) == 0.0);
    model.drop.p = 0.5;
    let train = model.forward(&want["ids"], Some(&mut tensor::rng(3))).unwrap().value();
    assert!(rel_err(&train, &eval) > 1e-3, "dropout changed nothing");
}
