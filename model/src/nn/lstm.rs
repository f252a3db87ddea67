//! The LSTM layer (Hochreiter & Schmidhuber 1997), with PyTorch's parameter layout so that
//! `torch.nn.LSTM` weights load unchanged: gates stacked in the order i, f, g, o.

use super::{param, Fresh, Init};
use autograd::{Params, Var};
use tensor::Tensor;

/// `W_ih (4H, in)`, `W_hh (4H, H)`, `b_ih (4H)`, `b_hh (4H)`.
pub struct Lstm {
    pub weight_ih: Var,
    pub weight_hh: Var,
    pub bias_ih: Var,
    pub bias_hh: Var,
    pub hidden: usize,
}

impl Lstm {
    /// Fresh weights are drawn normal with std `1/√H` (PyTorch draws uniform in `±1/√H`).
    pub fn new(
        params: &mut Params,
        init: &mut dyn Init,
        prefix: &str,
        input: usize,
        hidden: usize,
    ) -> crate::Result<Self> {
        let std = 1.0 / (hidden as f64).sqrt();
        let fresh = Fresh::Normal { std };
        Ok(Self {
            weight_ih: param(params, init, prefix, "weight_ih_l0", &[4 * hidden, input], fresh)?,
            weight_hh: param(params, init, prefix, "weight_hh_l0", &[4 * hidden, hidden], fresh)?,
            bias_ih: param(params, init, prefix, "bias_ih_l0", &[4 * hidden], fresh)?,
            bias_hh: param(params, init, prefix, "bias_hh_l0", &[4 * hidden], fresh)?,
            hidden,
        })
    }

    /// One step (F12) from `x (B, in)` and the state `h, c (B, H)`:
    /// `z = x·W_ihᵀ + b_ih + h·W_hhᵀ + b_hh`, split into four blocks of H;
    /// `i = σ(z_i)`, `f = σ(z_f)`, `g = tanh(z_g)`, `o = σ(z_o)`;
    /// `c' = f⊙c + i⊙g`, `h' = o⊙tanh(c')`. Returns `(h', c')`.
    pub fn step(&self, x: &Var, h: &Var, c: &Var) -> crate::Result<(Var, Var)> {
        let z = x
            .matmul(&self.weight_ih.t()?)?
            .add(&self.bias_ih)?
            .add(&h.matmul(&self.weight_hh.t()?)?.add(&self.bias_hh)?)?;
        let gates = z.split(&[self.hidden; 4], -1)?;
        let (i, f, g, o) = (gates[0].sigmoid()?, gates[1].sigmoid()?, gates[2].tanh()?, gates[3].sigmoid()?);
        let c_next = f.mul(c)?.add(&i.mul(&g)?)?;
        let h_next = o.mul(&c_next.tanh()?)?;
        Ok((h_next, c_next))
    }

    /// Runs over `x (B, T, in)` from a zero state; returns every `h` as `(B, T, H)`.
    pub fn forward(&self, x: &Var) -> crate::Result<Var> {
        let input = self.weight_ih.shape()[1];
        let (b, t) = match x.shape()[..] {
            [b, t, i] if i == input => (b, t),
            _ => {
                return Err(crate::ModelError::Config(format!(
                    "lstm: input must have shape (batch, time, {input}), got {:?}",
                    x.shape()
                )))
            }
        };
        let zero = Var::constant(Tensor::full_on(&[b, self.hidden], 0.0, x.value().dtype(), x.value().device())?);
        let (mut h, mut c) = (zero.clone(), zero);
        let mut outputs = Vec::with_capacity(t);
        for step in 0..t {
            let x_t = x.narrow(1, step, 1)?.reshape(&[b, input])?;
            (h, c) = self.step(&x_t, &h, &c)?;
            outputs.push(h.clone());
        }
        Ok(Var::stack(&outputs.iter().collect::<Vec<_>>(), 1)?)
    }
}
