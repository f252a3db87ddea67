//! Evaluation during training: validation loss and each task's metrics, and the held-out
//! problems or text sample shown at the end of a run.

use super::{Data, Trainer};
use crate::data::{ArithmeticTask, Batch, NO_TARGET};
use crate::error::Result;
use crate::metrics::{edit_distance, exact_match, token_accuracy};
use autograd::no_grad;
use model::generate::Sampling;
use model::LanguageModel;
use tensor::Tensor;

/// What one evaluation measured: validation loss always; the task's metrics where it has them.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Evaluation {
    pub val_loss: f64,
    /// Whole answers generated greedily that equal the truth (arithmetic), or `val_acc` (grokking).
    pub exact_match: Option<f64>,
    pub token_accuracy: Option<f64>,
    pub edit_distance: Option<f64>,
    pub train_acc: Option<f64>,
    pub val_acc: Option<f64>,
    pub weight_norm: f64,
}

impl Trainer {
    /// Validation loss and the task's metrics: for arithmetic, teacher-forced per-token accuracy and,
    /// from greedy generation, exact match and token edit distance on the held-out problems; for the
    /// grokking task, accuracy on all training and all validation pairs. Text's validation batches
    /// are split across the ranks of a data-parallel run (the small tasks are scored by every rank).
    pub fn evaluate(&self) -> Result<Evaluation> {
        self.evaluate_model(self.model.as_ref())
    }

    /// The distillation teacher's [`Evaluation`] on the same held-out data, if there is a teacher.
    pub fn evaluate_teacher(&self) -> Result<Option<Evaluation>> {
        self.teacher.as_ref().map(|t| self.evaluate_model(t.as_ref())).transpose()
    }

    fn evaluate_model(&self, model: &dyn LanguageModel) -> Result<Evaluation> {
        let weight_norm = weight_norm(model)?;
        no_grad(|| match &self.data {
            Data::Arithmetic(task) => {
                let held = task.held_out_batch()?;
                let logits = model.logits(&held.ids, None)?;
                let val_loss = model.loss(&logits, &held.targets)?.value().to_scalar()?;
                let token_accuracy = token_accuracy(&logits.value(), &held.targets, NO_TARGET)?;
                let (answers, _) = self.solve(model, task, &held.ids)?;
                let truth: Vec<String> = task.held_out.iter().map(|&(a, b)| task.answer(a, b)).collect();
                let chars = |s: &String| s.chars().collect::<Vec<_>>();
                let distance = answers.iter().zip(&truth).map(|(a, t)| edit_distance(&chars(a), &chars(t)) as f64);
                Ok(Evaluation {
                    val_loss,
                    exact_match: Some(exact_match(&answers, &truth)),
                    token_accuracy: Some(token_accuracy),
                    edit_distance: Some(distance.sum::<f64>() / truth.len().max(1) as f64),
                    weight_norm,
                    ..Evaluation::default()
                })
            }
            Data::Modular(task) => {
                let scored = |b: Batch| -> Result<(f64, f64)> {
                    let logits = model.logits(&b.ids, None)?;
                    let loss = model.loss(&logits, &b.targets)?.value().to_scalar()?;
                    Ok((loss, token_accuracy(&logits.value(), &b.targets, NO_TARGET)?))
                };
                let (_, train_acc) = scored(task.train_batch()?)?;
                let (val_loss, val_acc) = scored(task.val_batch()?)?;
                Ok(Evaluation {
                    val_loss,
                    exact_match: Some(val_acc),
                    train_acc: Some(train_acc),
                    val_acc: Some(val_acc),
                    weight_norm,
                    ..Evaluation::default()
                })
            }
            Data::Text(text) => {
                // Rank r of W scores batches r, r + W, …; the losses are shared (each entry is one
                // rank's, the others add zeros: exact) and added in batch order, as one process does.
                let (rank, ranks) = (self.world().rank(), self.world().world_size());
                let mut losses = vec![0.0; self.cfg.eval_batches];
                for k in (rank..self.cfg.eval_batches).step_by(ranks) {
                    let b = text.batch(self.cfg.seed, 0, k as u64, self.cfg.batch_size, self.cfg.block_size, true)?;
                    losses[k] = model.forward_loss(&b.ids, &b.targets, None)?.value().to_scalar()?;
                }
                self.world().all_reduce_sum_f64(&mut losses)?;
                let total: f64 = losses.iter().sum();
                Ok(Evaluation { val_loss: total / self.cfg.eval_batches as f64, weight_norm, ..Evaluation::default() })
            }
        })
    }

    /// The model's greedy answers to addition problems (`ids` hold whole problems; the prompt is
    /// everything up to `=`). Returns the answers and the prompts as text.
    fn solve(
        &self,
        model: &dyn LanguageModel,
        task: &ArithmeticTask,
        ids: &Tensor,
    ) -> Result<(Vec<String>, Vec<String>)> {
        let prompt = ids.narrow(1, 0, task.answer_start())?;
        let out = model.generate(&prompt, task.answer_width(), Sampling::Greedy, &mut tensor::rng(0))?;
        let width = out.shape()[1];
        let rows: Vec<Vec<u32>> =
            out.to_vec::<i64>()?.chunks(width).map(|r| r.iter().map(|&i| i as u32).collect()).collect();
        let mut answers = Vec::new();
        let mut prompts = Vec::new();
        for row in rows {
            prompts.push(self.tokenizer.decode(&row[..task.answer_start()])?);
            answers.push(self.tokenizer.decode(&row[task.answer_start()..])?);
        }
        Ok((answers, prompts))
    }

    /// A few held-out problems with the model's answers, or a text sample.
    pub fn showcase(&self) -> Result<Vec<String>> {
        no_grad(|| match &self.data {
            Data::Arithmetic(task) => {
                let held = task.held_out_batch()?.ids.narrow(0, 0, 6.min(task.held_out.len()))?;
                let (answers, prompts) = self.solve(self.model.as_ref(), task, &held)?;
                Ok(prompts
                    .iter()
                    .zip(&answers)
                    .zip(&task.held_out)
                    .map(|((p, a), &(x, y))| {
                        format!("{p}{a}  {}", if *a == task.answer(x, y) { "✓" } else { "✗ (wrong)" })
                    })
                    .collect())
            }
            Data::Modular(task) => {
                let val = task.val_batch()?;
                let n = 6.min(task.val.len());
                let predicted = self.model.logits(&val.ids.narrow(0, 0, n)?, None)?.value().argmax(-1, false)?;
                let predicted = predicted.to_vec::<i64>()?;
                Ok(task.val[..n]
                    .iter()
                    .enumerate()
                    .map(|(i, &(a, b))| {
                        let (guess, truth) = (predicted[3 * i + 2], ((a + b) % task.modulus) as i64);
                        let verdict = if guess == truth { "✓" } else { "✗ (wrong)" };
                        format!("{a} + {b} mod {} = {guess}  {verdict}", task.modulus)
                    })
                    .collect())
            }
            Data::Text(_) => {
                let start = Tensor::from_vec(vec![0i64], &[1, 1])?;
                let sampling = Sampling::Sample { temperature: 0.8, top_k: Some(40), top_p: None };
                let out = self.model.generate(
                    &start,
                    self.cfg.block_size.min(200) - 1,
                    sampling,
                    &mut tensor::rng(self.state.step),
                )?;
                let ids: Vec<u32> = out.to_vec::<i64>()?.iter().map(|&i| i as u32).collect();
                Ok(vec![self.tokenizer.decode(&ids)?])
            }
        })
    }
}

/// `‖θ‖₂ = sqrt(Σ θᵢ²)` over every parameter.
pub fn weight_norm(model: &dyn LanguageModel) -> Result<f64> {
    let mut sum = 0.0;
    for (_, p) in model.params().iter() {
        let v = p.value();
        sum += v.mul(&v)?.sum_all()?.to_scalar()?;
    }
    Ok(sum.sqrt())
}
