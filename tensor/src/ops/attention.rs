//! Fused scaled dot-product attention (F1): the forward and backward of
//! `softmax(scale·Q·Kᵀ + M)·V` in one op each (formulas and blocking on
//! `kernels::cpu::attention`). Autograd uses it when the only mask is causal.

use crate::{Error, Result, Storage, Tensor};
use kernels::cpu::attention::AttentionDims;

impl Tensor {
    /// `(O, P)` with `P = softmax(scale·Q·Kᵀ + M)` and `O = P·V`, where `M = −∞` above the causal
    /// diagonal when `causal` (query `i` sees key `j ≤ i + S − T`). Shapes: `q (…, T, D)`,
    /// `k (…, S, D)`, `v (…, S, Dv)` with the same leading dims → `O (…, T, Dv)`, `P (…, T, S)`
    /// (0 at masked keys; backward needs it).
    pub fn attention(q: &Tensor, k: &Tensor, v: &Tensor, causal: bool, scale: f64) -> Result<(Tensor, Tensor)> {
        let dims = attention_dims(q, k, v, causal)?;
        let (q, k, v) = (q.contiguous(), k.contiguous(), v.contiguous());
        let (out, p) = Storage::attention(&dims, scale, [&q, &k, &v].map(|t| (t.storage(), t.layout())))?;
        let lead = &q.shape()[..q.rank() - 2];
        let shape = |a: usize, b: usize| [lead, &[a, b]].concat();
        Ok((
            Tensor::from_storage(out, &shape(dims.queries, dims.value_dim)),
            Tensor::from_storage(p, &shape(dims.queries, dims.keys)),
        ))
    }

    /// Backward of [`Tensor::attention`]: `(dQ, dK, dV)` from its inputs, its probabilities `p` and
    /// the output gradient `d_out`.
    #[allow(clippy::too_many_arguments)]
    pub fn attention_backward(
        q: &Tensor,
        k: &Tensor,
        v: &Tensor,
        p: &Tensor,
        d_out: &Tensor,
        causal: bool,
        scale: f64,
    ) -> Result<(Tensor, Tensor, Tensor)> {
        let dims = attention_dims(q, k, v, causal)?;
        let lead = &q.shape()[..q.rank() - 2];
        for (t, rows, cols, name) in
            [(p, dims.queries, dims.keys, "probabilities"), (d_out, dims.queries, dims.value_dim, "output gradient")]
        {
            q.same_dtype_device(t, "attention_backward")?;
            if t.shape() != [lead, &[rows, cols]].concat() {
                return Err(Error::invalid(
                    "attention_backward",
                    format!("{name} of shape {:?}, expected {:?}", t.shape(), [lead, &[rows, cols]].concat()),
                ));
            }
        }
        let [q, k, v, p, d_out] = [q, k, v, p, d_out].map(Tensor::contiguous);
        let inputs = [&q, &k, &v, &p, &d_out].map(|t| (t.storage(), t.layout()));
        let (dq, dk, dv) = Storage::attention_backward(&dims, scale, inputs)?;
        Ok((
            Tensor::from_storage(dq, q.shape()),
            Tensor::from_storage(dk, k.shape()),
            Tensor::from_storage(dv, v.shape()),
        ))
    }
}

/// The kernel's sizes from `q (…, T, D)`, `k (…, S, D)`, `v (…, S, Dv)`, or a clear error.
fn attention_dims(q: &Tensor, k: &Tensor, v: &Tensor, causal: bool) -> Result<AttentionDims> {
    let shapes = || format!("q {:?}, k {:?}, v {:?}", q.shape(), k.shape(), v.shape());
    q.same_dtype_device(k, "attention")?;
    q.same_dtype_device(v, "attention")?;
    let r = q.rank();
    if r < 2 || k.rank() != r || v.rank() != r {
        return Err(Error::invalid("attention", format!("{} must share rank ≥ 2", shapes())));
    }
    let (lead, [t, d]) = (&q.shape()[..r - 2], [q.shape()[r - 2], q.shape()[r - 1]]);
    let (s, dk, dv) = (k.shape()[r - 2], k.shape()[r - 1], v.shape()[r - 1]);
    if &k.shape()[..r - 2] != lead || &v.shape()[..r - 2] != lead || v.shape()[r - 2] != s || dk != d {
        return Err(Error::invalid("attention", format!("{}: need (…, T, D), (…, S, D), (…, S, Dv)", shapes())));
    }
    let batch = lead.iter().product();
    if [batch, t, s, d, dv].contains(&0) {
        return Err(Error::invalid("attention", format!("{}: the fused op needs non-empty dims", shapes())));
    }
    if causal && s < t {
        return Err(Error::invalid("attention", format!("causal mask with {t} queries but only {s} keys")));
    }
    Ok(AttentionDims { batch, queries: t, keys: s, head_dim: d, value_dim: dv, causal })
}
