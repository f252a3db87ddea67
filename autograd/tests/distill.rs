//! The distillation loss (F13) against a hand-written f64 reference and finite differences.

use autograd::{gradcheck, GradcheckConfig, Reduction, Var};
use tensor::{DType, Tensor};

fn log_softmax(row: &[f64]) -> Vec<f64> {
    let max = row.iter().cloned().fold(f64::MIN, f64::max);
    let log_sum = row.iter().map(|v| (v - max).exp()).sum::<f64>().ln() + max;
    row.iter().map(|v| v - log_sum).collect()
}

/// `α·T²·mean_rows Σ p_t (log p_t − log p_s) + (1 − α)·mean CE`, written out with loops.
fn reference(student: &[f64], teacher: &[f64], targets: &[i64], classes: usize, t: f64, alpha: f64) -> f64 {
    let rows = student.len() / classes;
    let (mut kl, mut ce, mut counted) = (0.0, 0.0, 0);
    for r in 0..rows {
        let scaled = |v: &[f64]| v[r * classes..(r + 1) * classes].iter().map(|x| x / t).collect::<Vec<_>>();
        let (log_ps, log_pt) = (log_softmax(&scaled(student)), log_softmax(&scaled(teacher)));
        kl += log_pt.iter().zip(&log_ps).map(|(lt, ls)| lt.exp() * (lt - ls)).sum::<f64>();
        if targets[r] >= 0 {
            ce -= log_softmax(&student[r * classes..(r + 1) * classes])[targets[r] as usize];
            counted += 1;
        }
    }
    alpha * t * t * kl / rows as f64 + (1.0 - alpha) * ce / counted as f64
}

fn randn(shape: &[usize], seed: u64) -> Tensor {
    Tensor::randn(shape, 0.0, 1.5, DType::F64, &mut tensor::rng(seed))
}

#[test]
fn matches_the_formula_written_out() {
    let (student, teacher) = (randn(&[2, 3, 5], 1), randn(&[2, 3, 5], 2));
    let targets = Tensor::from_vec(vec![4i64, 0, -100, 2, 2, 1], &[2, 3]).unwrap();
    for (t, alpha) in [(1.0, 0.5), (2.0, 0.9), (4.0, 1.0), (3.0, 0.0)] {
        let loss = Var::new(student.clone(), true).distillation_loss(&teacher, &targets, t, alpha, Some(-100)).unwrap();
        let want = reference(
            &student.to_vec::<f64>().unwrap(),
            &teacher.to_vec::<f64>().unwrap(),
            &targets.to_vec::<i64>().unwrap(),
            5,
            t,
            alpha,
        );
        assert!((loss.value().to_scalar().unwrap() - want).abs() < 1e-12, "T = {t}, alpha = {alpha}");
    }
}

#[test]
fn special_cases() {
    let z = randn(&[4, 6], 3);
    let targets = Tensor::from_vec(vec![0i64, 1, 2, 3], &[4]).unwrap();
    let student = Var::new(z.clone(), true);
    // A student equal to its teacher has nothing to learn from it.
    assert!(
        student.distillation_loss(&z, &targets, 2.0, 1.0, None).unwrap().value().to_scalar().unwrap().abs() < 1e-12
    );
    // With α = 0 it is plain cross-entropy.
    let ce = student.cross_entropy(&targets, None, Reduction::Mean).unwrap().value().to_scalar().unwrap();
    let hard_only = student.distillation_loss(&randn(&[4, 6], 4), &targets, 2.0, 0.0, None).unwrap();
    assert!((hard_only.value().to_scalar().unwrap() - ce).abs() < 1e-12);
    assert!(student.distillation_loss(&randn(&[4, 5], 5), &targets, 2.0, 0.5, None).is_err());
    assert!(student.distillation_loss(&z, &targets, 0.0, 0.5, None).is_err());
    assert!(student.distillation_loss(&z, &targets, 2.0, 1.5, None).is_err());
}

#[test]
fn gradient_matches_finite_differences() {
    let teacher = randn(&[3, 4], 6);
    let targets = Tensor::from_vec(vec![1i64, -100, 3], &[3]).unwrap();
    let report = gradcheck(
        |v| v[0].distillation_loss(&teacher, &targets, 2.5, 0.7, Some(-100)),
        &[randn(&[3, 4], 7)],
        GradcheckConfig::default(),
    )
    .unwrap();
    assert_eq!(report.checked, 12);
}
