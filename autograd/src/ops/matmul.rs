//! Matrix multiplication and its derivative.

use crate::Var;
use tensor::{ExecutionContext, GeluApproximation, Result, Tensor};

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

    /// `y = r + x·W + b` (`r` of y's shape): a linear layer whose output is added onto the
    /// residual stream `r`, as one op ([`Tensor::linear_onto`]: on a GPU under bf16 products the
    /// product adds `r` in its epilogue). Backward: `dr = dy`, and [`Var::linear`]'s.
    pub fn linear_onto(&self, weight: &Var, bias: &Var, residual: &Var) -> Result<Var> {
        let (x, w, b) = (self.value(), weight.value(), bias.value());
        let y = x.linear_onto(&w, &b, &residual.value())?;
        Ok(Var::from_op("linear_onto", y, &[self, weight, bias, residual], move |g| {
            let db = g.bias_grad()?;
            let (dx, dw) = matmul_grads(&x, &w, g)?;
            Ok(vec![Some(dx), Some(dw), Some(db), Some(g.clone())])
        }))
    }

    /// `y = GELU(x·W₁ + b₁)·W₂ + b₂`, a whole feed-forward block (F3), as one op (`fc` = `(W₁,
    /// b₁)`, `proj` = `(W₂, b₂)`). Its inner tensors only feed products and GELU's two passes, so on
    /// a GPU under bf16 products each is kept in bf16 alone, never in f32: the pre-activation
    /// `u = x·W₁ + b₁` as the product `x·W₁` with the bias beside it ([`Tensor::preactivation`]),
    /// GELU's output `h`, `dh = dy·W₂ᵀ` and `du`. Under the execution context's `recompute_gelu`,
    /// `h` is made again in the backward rather than kept from the forward.
    /// Backward: `db₂ = Σ_rows dy`, `dW₂ = hᵀ·dy`, `du = (dy·W₂ᵀ) ⊙ gelu′(u)`, `db₁ = Σ_rows du`,
    /// `dW₁ = xᵀ·du`, `dx = du·W₁ᵀ`.
    pub fn feed_forward(&self, fc: (&Var, &Var), approx: GeluApproximation, proj: (&Var, &Var)) -> Result<Var> {
        self.feed_forward_with(fc, approx, proj, None)
    }

    /// `y = r + FFN(x)` ([`Var::feed_forward`] added onto the residual stream `r`, of y's shape) as
    /// one op, the second product adding `r` as [`Var::linear_onto`]'s does. Backward: `dr = dy`,
    /// and [`Var::feed_forward`]'s.
    pub fn feed_forward_onto(
        &self,
        fc: (&Var, &Var),
        approx: GeluApproximation,
        proj: (&Var, &Var),
        residual: &Var,
    ) -> Result<Var> {
        self.feed_forward_with(fc, approx, proj, Some(residual))
    }

    /// The feed-forward op, onto `residual` where given.
    fn feed_forward_with(
        &self,
        fc: (&Var, &Var),
        approx: GeluApproximation,
        proj: (&Var, &Var),
        residual: Option<&Var>,
    ) -> Result<Var> {
        let (x, w1, b1, w2, b2) = (self.value(), fc.0.value(), fc.1.value(), proj.0.value(), proj.1.value());
        let u = x.preactivation(&w1, &b1)?;
        let h = u.gelu_as_operand(approx)?;
        let y = match residual {
            Some(r) => h.linear_onto(&w2, &b2, &r.value())?,
            None => h.linear(&w2, &b2)?,
        };
        // Under `recompute_gelu` the backward makes h again from u (the same kernel: the same
        // values), so h is not kept from the forward.
        let kept_h = (!ExecutionContext::current().recompute_gelu).then_some(h);
        let inputs: Vec<&Var> = [self, fc.0, fc.1, proj.0, proj.1].into_iter().chain(residual).collect();
        let (name, residual_grad) =
            if residual.is_some() { ("feed_forward_onto", true) } else { ("feed_forward", false) };
        Ok(Var::from_op(name, y, &inputs, move |g| {
            // Each bias gradient first: on a GPU in bf16 its pass also rounds an f32 gradient for
            // the two products that read it.
            let h = match &kept_h {
                Some(h) => h.clone(),
                None => u.gelu_as_operand(approx)?,
            };
            let db2 = g.bias_grad()?;
            let dh = g.matmul_into(&w2.t()?, h.dtype())?;
            let dw2 = rhs_grad(&h, &w2, g)?;
            let du = u.gelu_backward(&dh, approx)?;
            let db1 = du.bias_grad()?;
            let (dx, dw1) = matmul_grads(&x, &w1, &du)?;
            let mut grads = vec![Some(dx), Some(dw1), Some(db1), Some(dw2), Some(db2)];
            grads.extend(residual_grad.then(|| Some(g.clone())));
            Ok(grads)
        }))
    }
}

/// `(dA, dB)` of `C = A·B` from `dC = g`: `dA = dC·Bᵀ`, `dB = Aᵀ·dC`, each summed over the batch
/// dims it was broadcast along. dA comes in A's dtype: on a GPU, for an A kept in bf16 alone (a
/// layer norm's output), the product writes it in bf16 from its f32 sums, and the norm's backward
/// reads it so.
fn matmul_grads(a: &Tensor, b: &Tensor, g: &Tensor) -> Result<(Tensor, Tensor)> {
    let da = g.matmul_into(&b.t()?, a.dtype())?.sum_to_shape(a.shape())?;
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
