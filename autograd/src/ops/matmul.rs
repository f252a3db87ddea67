//! Matrix multiplication and its derivative.

use crate::Var;
use tensor::{GeluApproximation, Result, Tensor};

impl Var {
    /// `C = A·B` (batched, broadcast batch dims; 1-D operands as vectors).
    /// Backward: `dA = dC·Bᵀ`, `dB = Aᵀ·dC`, each summed over the batch dims it was broadcast along.
    pub fn matmul(&self, rhs: &Var) -> Result<Var> {
        // Vectors become matrices first (through differentiable reshapes), so the rule below
        // only ever sees rank ≥ 2.
        if self.shape().len() == 1 {
            return self.unsqueeze(0)?.matmul(rhs)?.squeeze(-2);
        }
        if rhs.shape().len() == 1 {
            return self.matmul(&rhs.unsqueeze(1)?)?.squeeze(-1);
        }
        let (a, b) = (self.value(), rhs.value());
        let c = a.matmul(&b)?;
        Ok(Var::from_op("matmul", c, &[self, rhs], move |g| {
            let (da, db) = matmul_grads(&a, &b, g)?;
            Ok(vec![Some(da), Some(db)])
        }))
    }

    /// `y = x·W + b` (`x (…, k)`, `W (k, n)`, `b (n)`), the bias added inside the GEMM.
    /// Backward: `dx = dy·Wᵀ`, `dW = xᵀ·dy` (as [`Var::matmul`]), `db = Σ_rows dy`.
    pub fn linear(&self, weight: &Var, bias: &Var) -> Result<Var> {
        let (x, w, b) = (self.value(), weight.value(), bias.value());
        let y = x.linear(&w, &b)?;
        Ok(Var::from_op("linear", y, &[self, weight, bias], move |g| {
            // db first: on a GPU in bf16 its pass also rounds g for the two products.
            let db = g.bias_grad()?;
            let (dx, dw) = matmul_grads(&x, &w, g)?;
            Ok(vec![Some(dx), Some(dw), Some(db)])
        }))
    }

    /// `y = GELU(u)·W + b`, a feed-forward block's second half (F3), as one op: GELU's output
    /// `h` only feeds the two products (`y`, and `dW = hᵀ·dy`), so on a GPU under bf16 products it
    /// is kept in bf16 alone ([`Tensor::gelu_as_operand`]), never in f32, and so is `dh = dy·Wᵀ`,
    /// which only GELU's backward reads. Backward: `db = Σ_rows dy`, `dW = hᵀ·dy`,
    /// `du = (dy·Wᵀ) ⊙ gelu′(u)`.
    pub fn gelu_linear(&self, approx: GeluApproximation, weight: &Var, bias: &Var) -> Result<Var> {
        let (u, w, b) = (self.value(), weight.value(), bias.value());
        let h = u.gelu_as_operand(approx)?;
        let y = h.linear(&w, &b)?;
        Ok(Var::from_op("gelu_linear", y, &[self, weight, bias], move |g| {
            // db first: on a GPU in bf16 its pass also rounds g for the two products.
            let db = g.bias_grad()?;
            let dh = g.matmul_into(&w.t()?, h.dtype())?;
            let dw = rhs_grad(&h, &w, g)?;
            Ok(vec![Some(u.gelu_backward(&dh, approx)?), Some(dw), Some(db)])
        }))
    }
}

/// `(dA, dB)` of `C = A·B` from `dC = g`: `dA = dC·Bᵀ`, `dB = Aᵀ·dC`, each summed over the batch
/// dims it was broadcast along.
fn matmul_grads(a: &Tensor, b: &Tensor, g: &Tensor) -> Result<(Tensor, Tensor)> {
    let da = g.matmul(&b.t()?)?.sum_to_shape(a.shape())?;
    Ok((da, rhs_grad(a, b, g)?))
}

/// `dB = Aᵀ·dC` of `C = A·B`, summed over the batch dims B was broadcast along.
fn rhs_grad(a: &Tensor, b: &Tensor, g: &Tensor) -> Result<Tensor> {
    Ok(if b.rank() == 2 {
        // B was shared by every matrix of the batch: sum over the batch inside one GEMM,
        // dB = Σ_batch Aᵀ·dC = A'ᵀ·dC' with the batch folded into the rows.
        let (k, n) = (b.shape()[0], b.shape()[1]);
        let fold = |t: &Tensor, cols: usize| {
            if t.rank() > 2 {
                t.reshape(&[t.elem_count() / cols, cols])
            } else {
                Ok(t.clone())
            }
        };
        let (a, g) = (fold(a, k)?, fold(g, n)?);
        if b.t()?.is_contiguous() {
            // B is a transposed view (x·Wᵀ, a tied LM head): compute dBᵀ = dC'ᵀ·A' in W's
            // own layout, so the transpose's backward hands W a dense gradient.
            g.t()?.matmul(&a)?.t()?
        } else {
            a.t()?.matmul(&g)?
        }
    } else {
        a.t()?.matmul(g)?.sum_to_shape(b.shape())?
    })
}
