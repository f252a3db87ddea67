//! The LSTM layer (F12) against torch.nn.LSTM (fixtures/make_lstm_fixtures.py), and the sinusoidal
//! positional encoding (F5) against hand-computed values.

use autograd::Var;
use model::checkpoint::read_safetensors;
use model::nn::{sinusoidal_positions, Lstm};
use std::path::Path;
use tensor::{DType, Tensor};

fn max_rel_err(ours: &Tensor, want: &Tensor) -> f64 {
    let (a, b) = (ours.to_vec::<f64>().unwrap(), want.to_vec::<f64>().unwrap());
    assert_eq!(a.len(), b.len());
    let scale = b.iter().fold(1e-12f64, |m, v| m.max(v.abs()));
    a.iter().zip(&b).map(|(x, y)| (x - y).abs()).max_by(f64::total_cmp).unwrap_or(0.0) / scale
}

#[test]
fn lstm_outputs_and_gradients_match_pytorch() {
    let want = read_safetensors(Path::new("tests/fixtures/lstm/expected.safetensors")).unwrap();
    let p = |name: &str| Var::parameter(want[name].clone(), name);
    let lstm = Lstm {
        weight_ih: p("weight_ih_l0"),
        weight_hh: p("weight_hh_l0"),
        bias_ih: p("bias_ih_l0"),
        bias_hh: p("bias_hh_l0"),
        hidden: 3,
    };
    let err = lstm.forward(&Var::constant(Tensor::zeros(&[2, 3, 5], DType::F64))).err().unwrap().to_string();
    assert!(err.contains("input must have shape (batch, time, 4), got [2, 3, 5]"), "{err}");
    let x = Var::new(want["x"].clone(), true);
    let out = lstm.forward(&x).unwrap();
    assert_eq!(out.shape(), vec![2, 3, 3]);
    assert!(max_rel_err(&out.value(), &want["output"]) < 1e-12);
    let loss = out.mul(&Var::constant(want["r"].clone())).unwrap().sum_all().unwrap();
    assert!((loss.value().to_scalar().unwrap() - want["loss"].to_vec::<f64>().unwrap()[0]).abs() < 1e-12);
    loss.backward().unwrap();
    assert!(max_rel_err(&x.grad().unwrap(), &want["grad.x"]) < 1e-12);
    for (name, var) in [
        ("weight_ih_l0", &lstm.weight_ih),
        ("weight_hh_l0", &lstm.weight_hh),
        ("bias_ih_l0", &lstm.bias_ih),
        ("bias_hh_l0", &lstm.bias_hh),
    ] {
        let err = max_rel_err(&var.grad().unwrap(), &want[&format!("grad.{name}")]);
        assert!(err < 1e-12, "gradient of {name}: relative error {err}");
    }
}

#[test]
fn one_lstm_step_by_hand() {
    // H = 1, input 1, every weight 0.5 and bias 0: z = 0.5·x + 0.5·h for all four gates.
    let half = |shape: &[usize]| Var::parameter(Tensor::full(shape, 0.5, DType::F64), "w");
    let zero = |shape: &[usize]| Var::parameter(Tensor::zeros(shape, DType::F64), "b");
    let lstm = Lstm {
        weight_ih: half(&[4, 1]),
        weight_hh: half(&[4, 1]),
        bias_ih: zero(&[4]),
        bias_hh: zero(&[4]),
        hidden: 1,
    };
    let (x, h, c) = (2.0f64, 0.4f64, -1.0f64);
    let v = |value: f64| Var::constant(Tensor::from_vec(vec![value], &[1, 1]).unwrap());
    let (h1, c1) = lstm.step(&v(x), &v(h), &v(c)).unwrap();
    let z = 0.5 * x + 0.5 * h;
    let sigmoid = 1.0 / (1.0 + (-z).exp());
    let c_want = sigmoid * c + sigmoid * z.tanh();
    let h_want = sigmoid * c_want.tanh();
    assert!((c1.value().to_scalar().unwrap() - c_want).abs() < 1e-15);
    assert!((h1.value().to_scalar().unwrap() - h_want).abs() < 1e-15);
}

#[test]
fn sinusoidal_positions_by_hand() {
    let pe = sinusoidal_positions(3, 4, DType::F64).unwrap();
    assert_eq!(pe.shape(), &[3, 4]);
    let v = pe.to_vec::<f64>().unwrap();
    // Position 0: sin 0, cos 0 in every pair.
    assert_eq!(&v[..4], &[0.0, 1.0, 0.0, 1.0]);
    // Position 2: angles 2/10000^0 = 2 and 2/10000^(2/4) = 0.02.
    let want = [2f64.sin(), 2f64.cos(), 0.02f64.sin(), 0.02f64.cos()];
    for (a, b) in v[8..].iter().zip(want) {
        assert!((a - b).abs() < 1e-15);
    }
}

#[test]
fn lstm_language_model_starts_near_uniform_and_learns_a_sequence() {
    use model::lstm::{LstmConfig, LstmLm};
    let lm = LstmLm::random(LstmConfig::new(5, 8, 16), 0, DType::F32).unwrap();
    assert_eq!(lm.params.numel(), 5 * 8 + 4 * 16 * (8 + 16 + 2) + 16 * 5 + 5);
    assert_eq!(lm.params.numel(), lm.config.parameter_count());
    // The cycle 0 1 2 3 4 0 1 …: the next token is always determined by the current one.
    let ids: Vec<i64> = (0..12).map(|i| i % 5).collect();
    let (x, y) = (
        Tensor::from_vec(ids[..11].to_vec(), &[1, 11]).unwrap(),
        Tensor::from_vec(ids[1..].to_vec(), &[1, 11]).unwrap(),
    );
    let first = lm.loss(&lm.forward(&x, None).unwrap(), &y).unwrap().value().to_scalar().unwrap();
    assert!((first - 5f64.ln()).abs() < 0.5, "initial loss {first} should be near ln 5");
    for _ in 0..200 {
        lm.params.zero_grad();
        lm.loss(&lm.forward(&x, None).unwrap(), &y).unwrap().backward().unwrap();
        for (_, p) in lm.params.iter() {
            let g = p.grad().expect("every parameter gets a gradient");
            p.update_value(|v| *v = v.sub(&g.mul_scalar(0.5).unwrap()).unwrap());
        }
    }
    let last = lm.loss(&lm.forward(&x, None).unwrap(), &y).unwrap().value().to_scalar().unwrap();
    assert!(last < 0.1, "after 200 SGD steps the loss is {last}");
}
