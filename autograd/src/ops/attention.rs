//! Scaled dot-product attention (F1) as one op with a hand-derived backward.

use crate::Var;
use tensor::{AttentionPath, CmpOp, Device, Error, ExecutionContext, Result, Tensor};

/// Whether attention takes the fused kernels here, as this thread's [`ExecutionContext`] says (the
/// default), or the composed reference (matmul, mask, softmax, matmul as separate recorded ops).
/// Both compute the same formulas; switching lets one compare their speed and memory.
pub fn fused_attention() -> bool {
    ExecutionContext::current().attention != AttentionPath::Composed
}

/// Which query–key pairs may attend.
#[derive(Clone, Copy, Debug, Default)]
pub struct AttentionMask<'a> {
    /// Query `i` sees key `j` only if `j ≤ i + (S − T)` (T queries, S keys, aligned at the end, so
    /// incremental decoding with a cache works too).
    pub causal: bool,
    /// u32, broadcastable to the score shape `(…, T, S)`: nonzero = attend, 0 = padding (HF's
    /// `attention_mask` convention, e.g. shape `(B, 1, 1, S)`).
    pub keep: Option<&'a Tensor>,
    /// Dropout on the attention probabilities (F9): the keep-scale `mᵢ/(1 − p)` they are
    /// multiplied by after the softmax, shape `(…, T, S)`, or `None` (evaluation, no dropout).
    pub dropout: Option<&'a Tensor>,
}

impl AttentionMask<'_> {
    /// The causal mask alone: no padding, no dropout.
    pub const CAUSAL: AttentionMask<'static> = AttentionMask { causal: true, keep: None, dropout: None };
}

/// The additive mask `M` (0 where attending, −∞ where blocked), broadcastable to the scores
/// `(…, T, S)`, or `None` when nothing is blocked. Adding it is one dense broadcast add.
fn additive_mask(mask: AttentionMask, scores: &Tensor) -> Result<Option<Tensor>> {
    let r = scores.rank();
    let (t, s) = (scores.shape()[r - 2], scores.shape()[r - 1]);
    let mut keep: Option<Tensor> = None;
    if mask.causal {
        if t > s {
            return Err(Error::invalid("attention", format!("causal mask with {t} queries but only {s} keys")));
        }
        keep = Some(Tensor::tril_mask(t, s, (s - t) as i64).to_dtype(scores.dtype()).to_device(scores.device())?);
    }
    if let Some(k) = mask.keep {
        // A padding mask comes with the batch, from the host, as token ids do: it follows the scores.
        let k = k.to_dtype(scores.dtype()).to_device(scores.device())?;
        keep = Some(match keep {
            Some(c) => c.mul(&k)?,
            None => k,
        });
    }
    // keep ∈ {0, 1} → M = 0 where kept, −∞ where blocked.
    keep.map(|k| {
        k.cmp_scalar(0.0, CmpOp::Eq)?
            .where_cond(&Tensor::full_on(&[], f64::NEG_INFINITY, k.dtype(), k.device())?, &k.zeros_like())
    })
    .transpose()
}

fn check_ranks(q: &Tensor, k: &Tensor, v: &Tensor) -> Result<()> {
    if q.rank() < 2 || k.rank() != q.rank() || v.rank() != q.rank() {
        return Err(Error::invalid(
            "attention",
            format!("q {:?}, k {:?}, v {:?} must share rank ≥ 2", q.shape(), k.shape(), v.shape()),
        ));
    }
    Ok(())
}

/// Whether the fused kernel can run: no padding mask and no dropout, the same (non-broadcast) leading dims and
/// no empty dim; on a GPU also equal query and value widths of at most 128 (the CUDA kernel's
/// registers).
fn fusable(q: &Tensor, k: &Tensor, v: &Tensor, mask: &AttentionMask) -> bool {
    let r = q.rank();
    let lead = |t: &Tensor| t.shape()[..r - 2].to_vec();
    let (d, dv) = (q.shape()[r - 1], v.shape()[r - 1]);
    let kernel_fits = q.device() == Device::Cpu || (d == dv && d <= 128);
    kernel_fits
        && mask.keep.is_none()
        && mask.dropout.is_none()
        && lead(k) == lead(q)
        && lead(v) == lead(q)
        && [q, k, v].iter().all(|t| t.elem_count() > 0)
}

impl Var {
    /// `Attention(Q, K, V) = softmax(Q·Kᵀ/√d_k + M)·V` with `M = −∞` at masked positions.
    /// Shapes: `Q (…, T, d)`, `K (…, S, d)`, `V (…, S, d_v)` → `(…, T, d_v)`. A query with every key
    /// masked gets zero output (not NaN).
    ///
    /// With no padding mask (`keep`), no dropout and equal leading dims this runs the fused kernel
    /// (`Tensor::attention`: only the keys a causal block can see, no separate mask and softmax
    /// passes); otherwise [`Var::scaled_dot_product_attention_composed`]. Both compute the same
    /// formulas.
    pub fn scaled_dot_product_attention(q: &Var, k: &Var, v: &Var, mask: AttentionMask) -> Result<Var> {
        let (qt, kt, vt) = (q.value(), k.value(), v.value());
        check_ranks(&qt, &kt, &vt)?;
        if !fused_attention() || !fusable(&qt, &kt, &vt, &mask) {
            return Self::scaled_dot_product_attention_composed(q, k, v, mask);
        }
        let scale = 1.0 / (*qt.shape().last().unwrap_or(&1) as f64).sqrt();
        let causal = mask.causal;
        let (out, saved) = Tensor::attention(&qt, &kt, &vt, causal, scale)?;
        let o = out.clone();
        Ok(Var::from_op("attention", out, &[q, k, v], move |d_out| {
            let (dq, dk, dv) = Tensor::attention_backward(&qt, &kt, &vt, &o, &saved, d_out, causal, scale)?;
            Ok(vec![Some(dq), Some(dk), Some(dv)])
        }))
    }

    /// Multi-head self-attention on a packed projection: `qkv (B, T, 3·H·D)` holds `[Q | K | V]`,
    /// each `heads` heads of width `D` side by side (GPT-2's `c_attn` output). Returns the heads'
    /// outputs merged, `(B, T, H·D)`: `Concat(head₁, …, head_H)` with
    /// `headᵢ = softmax(QᵢKᵢᵀ/√D + M)·Vᵢ`, the same numbers as splitting and calling
    /// [`Var::scaled_dot_product_attention`] with `mask`. Without a padding mask or dropout the
    /// fused kernel reads the heads where they lie and its backward writes `[dQ | dK | dV]` into
    /// one gradient, so no split, transpose or merge is recorded; otherwise (or when the
    /// [`ExecutionContext`] asks for the composed path) the heads are split and attended by
    /// [`Var::scaled_dot_product_attention_composed`].
    pub fn packed_self_attention(qkv: &Var, heads: usize, mask: AttentionMask) -> Result<Var> {
        if !fused_attention() || mask.keep.is_some() || mask.dropout.is_some() {
            return Self::packed_self_attention_composed(qkv, heads, mask);
        }
        let x = qkv.value();
        let width = x.shape().last().copied().unwrap_or(0);
        let scale = 1.0 / ((width / (3 * heads.max(1))).max(1) as f64).sqrt();
        let causal = mask.causal;
        let (out, saved) = Tensor::attention_packed(&x, heads, causal, scale)?;
        let o = out.clone();
        Ok(Var::from_op("attention", out, &[qkv], move |d_out| {
            Ok(vec![Some(Tensor::attention_packed_backward(&x, &o, &saved, d_out, heads, causal, scale)?)])
        }))
    }

    /// [`Var::packed_self_attention`] through the composed path: split `[Q | K | V]` into heads
    /// `(B, H, T, D)`, attend, merge the heads back into `(B, T, H·D)`.
    fn packed_self_attention_composed(qkv: &Var, heads: usize, mask: AttentionMask) -> Result<Var> {
        let shape = qkv.shape();
        if shape.len() != 3 || heads == 0 || !shape[2].is_multiple_of(3 * heads) {
            return Err(Error::invalid(
                "attention",
                format!("packed [Q | K | V] must be (B, T, 3·H·D) with H = {heads} heads, got {shape:?}"),
            ));
        }
        let (b, t, c) = (shape[0], shape[1], shape[2] / 3);
        let head = |part: usize| qkv.narrow(2, part * c, c)?.reshape(&[b, t, heads, c / heads])?.transpose(1, 2);
        let (q, k, v) = (head(0)?, head(1)?, head(2)?);
        let y = Self::scaled_dot_product_attention_composed(&q, &k, &v, mask)?;
        y.transpose(1, 2)?.reshape(&[b, t, c])
    }

    /// Attention composed of tensor ops (matmul, scale, add the mask, softmax, matmul), the
    /// reference the fused kernel is tested against, and the path for padding masks.
    ///
    /// Backward, with `P` the attention probabilities (cached) and `dO` the output gradient:
    /// `dV = Pᵀ·dO`; `dP = dO·Vᵀ`; `dS = P ⊙ (dP − Σⱼ dP ⊙ P)` (softmax backward; masked entries
    /// have `P = 0` so get no gradient); `dQ = dS·K/√d_k`; `dK = dSᵀ·Q/√d_k`. With dropout's
    /// keep-scale `D` the output is `(P ⊙ D)·V`: `dV = (P ⊙ D)ᵀ·dO` and `dP = (dO·Vᵀ) ⊙ D`.
    pub fn scaled_dot_product_attention_composed(q: &Var, k: &Var, v: &Var, mask: AttentionMask) -> Result<Var> {
        let (qt, kt, vt) = (q.value(), k.value(), v.value());
        check_ranks(&qt, &kt, &vt)?;
        let d = *qt.shape().last().unwrap_or(&1);
        let scale = 1.0 / (d as f64).sqrt();
        let scores = qt.matmul(&kt.t()?)?.mul_scalar(scale)?;
        let scores = match additive_mask(mask, &scores)? {
            Some(m) => scores.add(&m)?,
            None => scores,
        };
        let p = scores.softmax(-1)?;
        let dropout = mask.dropout.cloned();
        let p_kept = match &dropout {
            Some(keep_scale) => p.mul(keep_scale)?,
            None => p.clone(),
        };
        let out = p_kept.matmul(&vt)?;
        Ok(Var::from_op("attention", out, &[q, k, v], move |d_out| {
            let dv = p_kept.t()?.matmul(d_out)?.sum_to_shape(vt.shape())?;
            let dp_kept = d_out.matmul(&vt.t()?)?;
            let dp = match &dropout {
                Some(keep_scale) => dp_kept.mul(keep_scale)?,
                None => dp_kept,
            };
            let ds = p.softmax_backward(&dp, -1, false)?;
            let dq = ds.matmul(&kt)?.mul_scalar(scale)?.sum_to_shape(qt.shape())?;
            let dk = ds.t()?.matmul(&qt)?.mul_scalar(scale)?.sum_to_shape(kt.shape())?;
            Ok(vec![Some(dq), Some(dk), Some(dv)])
        }))
    }
}
