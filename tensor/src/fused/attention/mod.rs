//! Fused scaled dot-product attention (F1): the forward and backward of
//! `softmax(scale·Q·Kᵀ + M)·V` in one op each (formulas and blocking on
//! `kernels::attention`). Autograd uses it when the only mask is causal.
//!
//! Heads are read where they lie: a `(B, H, T, D)` view of a `(B, T, H·D)` projection (GPT-2's
//! head split) is not copied. The output of a rank-4 call is a `(B, H, T, Dv)` view of a
//! `(B, T, H, Dv)` buffer, so merging the heads back into `(B, T, H·Dv)` is free, and the input
//! gradients come back the same way.
//!
//! The tensor methods reach the kernels of the operands' device through `on_device!` and
//! [`AttentionKernels`], which the device adapters (`cpu.rs`, `cuda.rs`) implement.

mod cpu;
mod cuda;

use crate::storage::on_device;
use crate::{Device, Error, Layout, Result, Storage, Tensor};
use kernels::attention::{AttentionDims, HeadLayout};

impl Tensor {
    /// `(O, saved)` with `O = P·V`, `P = softmax(scale·Q·Kᵀ + M)`, where `M = −∞` above the causal
    /// diagonal when `causal` (query `i` sees key `j ≤ i + S − T`). Shapes: `q (…, T, D)`,
    /// `k (…, S, D)`, `v (…, S, Dv)` with the same leading dims → `O (…, T, Dv)`. `saved` is what
    /// the backward needs (see `saved_cols`): on the CPU `P (…, T, S)` (0 at masked keys), on a
    /// GPU each query row's log-sum-exp `(…, T)`.
    pub fn attention(q: &Tensor, k: &Tensor, v: &Tensor, causal: bool, scale: f64) -> Result<(Tensor, Tensor)> {
        let dims = attention_dims(q, k, v, causal)?;
        let ([q, k, v], [lq, lk, lv]) = head_views([q, k, v]);
        let out = OutputLayout::new(q.shape(), dims.queries, dims.value_dim);
        let inputs = [(q.storage(), lq), (k.storage(), lk), (v.storage(), lv)];
        let (out_storage, p) = forward_on_device(&dims, scale, inputs, out.heads)?;
        let lead = &q.shape()[..q.rank() - 2];
        let saved_shape = saved_shape(lead, &dims, q.device());
        Ok((out.view(&Tensor::from_storage(out_storage, &[out.end()])), Tensor::from_storage(p, &saved_shape)))
    }

    /// Backward of [`Tensor::attention`]: `(dQ, dK, dV)` from its inputs, its output `out`, what it
    /// saved and the output gradient `d_out`.
    #[allow(clippy::too_many_arguments)]
    pub fn attention_backward(
        q: &Tensor,
        k: &Tensor,
        v: &Tensor,
        out: &Tensor,
        saved: &Tensor,
        d_out: &Tensor,
        causal: bool,
        scale: f64,
    ) -> Result<(Tensor, Tensor, Tensor)> {
        let dims = attention_dims(q, k, v, causal)?;
        let lead = &q.shape()[..q.rank() - 2];
        check_operand(q, saved, "saved forward state", &saved_shape(lead, &dims, q.device()))?;
        let out_shape = [lead, &[dims.queries, dims.value_dim]].concat();
        check_operand(q, out, "output", &out_shape)?;
        check_operand(q, d_out, "output gradient", &out_shape)?;
        let ([q, k, v, out, d_out], [lq, lk, lv, lo, ld]) = head_views([q, k, v, out, d_out]);
        let p = saved.contiguous();
        let lp = HeadLayout::dense(dims.queries, saved_cols(&dims, p.device())).shifted(p.layout().offset());
        // dQ, dK, dV one after another in one buffer, each laid out as the forward output is.
        let dq = OutputLayout::new(q.shape(), dims.queries, dims.head_dim);
        let dk = OutputLayout::new(k.shape(), dims.keys, dims.head_dim).after(&dq);
        let dv = OutputLayout::new(v.shape(), dims.keys, dims.value_dim).after(&dk);
        let inputs = [
            (q.storage(), lq),
            (k.storage(), lk),
            (v.storage(), lv),
            (out.storage(), lo),
            (p.storage(), lp),
            (d_out.storage(), ld),
        ];
        let grads = backward_on_device(&dims, scale, inputs, [dq.heads, dk.heads, dv.heads], dv.end())?;
        let grads = Tensor::from_storage(grads, &[dv.end()]);
        Ok((dq.view(&grads), dk.view(&grads), dv.view(&grads)))
    }

    /// Self-attention on a packed projection, as GPT-2's `c_attn` makes it: `qkv (B, T, 3·H·D)`
    /// holds `[Q | K | V]`, each `H` heads of width `D` side by side. Returns
    /// `(O (B, T, H·D), saved)`: the heads' outputs already merged, and what the backward needs
    /// (`P (B, H, T, T)` on the CPU, the log-sum-exp `(B, H, T)` on a GPU). The same numbers as
    /// splitting `qkv` into heads and calling [`Tensor::attention`], without the split or the merge.
    pub fn attention_packed(qkv: &Tensor, heads: usize, causal: bool, scale: f64) -> Result<(Tensor, Tensor)> {
        let (qkv, dims) = packed_dims(qkv, heads, causal)?;
        let (b, t, c) = (qkv.shape()[0], dims.queries, heads * dims.head_dim);
        let out = HeadLayout::packed(heads, t, dims.head_dim, c, 0);
        let parts = packed_parts(&dims, heads).map(|l| (qkv.storage(), l.shifted(qkv.layout().offset())));
        let (out_storage, p) = forward_on_device(&dims, scale, parts, out)?;
        let saved = Tensor::from_storage(p, &saved_shape(&[b, heads], &dims, qkv.device()));
        Ok((Tensor::from_storage(out_storage, &[b, t, c]), saved))
    }

    /// Backward of [`Tensor::attention_packed`]: `dqkv (B, T, 3·H·D)` from its input, its output
    /// `out`, what it saved and the output gradient `d_out (B, T, H·D)`.
    #[allow(clippy::too_many_arguments)]
    pub fn attention_packed_backward(
        qkv: &Tensor,
        out: &Tensor,
        saved: &Tensor,
        d_out: &Tensor,
        heads: usize,
        causal: bool,
        scale: f64,
    ) -> Result<Tensor> {
        let (qkv, dims) = packed_dims(qkv, heads, causal)?;
        let (b, t, c) = (qkv.shape()[0], dims.queries, heads * dims.head_dim);
        check_operand(&qkv, saved, "saved forward state", &saved_shape(&[b, heads], &dims, qkv.device()))?;
        check_operand(&qkv, out, "output", &[b, t, c])?;
        check_operand(&qkv, d_out, "output gradient", &[b, t, c])?;
        let (p, out, d_out) = (saved.contiguous(), out.contiguous(), d_out.contiguous());
        let lp = HeadLayout::dense(t, saved_cols(&dims, p.device())).shifted(p.layout().offset());
        let merged = HeadLayout::packed(heads, t, dims.head_dim, c, 0);
        let (lo, ld) = (merged.shifted(out.layout().offset()), merged.shifted(d_out.layout().offset()));
        let parts = packed_parts(&dims, heads);
        let [lq, lk, lv] = parts.map(|l| l.shifted(qkv.layout().offset()));
        let inputs = [
            (qkv.storage(), lq),
            (qkv.storage(), lk),
            (qkv.storage(), lv),
            (out.storage(), lo),
            (p.storage(), lp),
            (d_out.storage(), ld),
        ];
        // The gradient is a new (B, T, 3·H·D) buffer laid out as qkv: [dQ | dK | dV].
        let grads = backward_on_device(&dims, scale, inputs, parts, qkv.elem_count())?;
        Ok(Tensor::from_storage(grads, qkv.shape()))
    }
}

/// Columns per query row of what the forward saves for the backward: the probabilities over the
/// `S` keys on the CPU; one log-sum-exp on a GPU (whose kernels recompute the probabilities).
fn saved_cols(dims: &AttentionDims, device: Device) -> usize {
    match device {
        Device::Cpu => dims.keys,
        Device::Cuda(_) => 1,
    }
}

/// The shape of the saved state for leading dims `lead`.
fn saved_shape(lead: &[usize], dims: &AttentionDims, device: Device) -> Vec<usize> {
    match device {
        Device::Cpu => [lead, &[dims.queries, dims.keys]].concat(),
        Device::Cuda(_) => [lead, &[dims.queries]].concat(),
    }
}

/// An error naming `what` unless `x` has shape `want` and `reference`'s dtype and device.
fn check_operand(reference: &Tensor, x: &Tensor, what: &str, want: &[usize]) -> Result<()> {
    reference.same_dtype_device(x, "attention_backward")?;
    if x.shape() != want {
        return Err(Error::invalid(
            "attention_backward",
            format!("{what} of shape {:?}, expected {want:?}", x.shape()),
        ));
    }
    Ok(())
}

/// `qkv` made contiguous and the kernel's sizes, or a clear error.
fn packed_dims(qkv: &Tensor, heads: usize, causal: bool) -> Result<(Tensor, AttentionDims)> {
    let shape = qkv.shape();
    if shape.len() != 3 || heads == 0 || !shape[2].is_multiple_of(3 * heads) || shape.contains(&0) {
        return Err(Error::invalid(
            "attention",
            format!("packed [Q | K | V] must be (B, T, 3·H·D) with H = {heads} heads, got {shape:?}"),
        ));
    }
    let (b, t, d) = (shape[0], shape[1], shape[2] / (3 * heads));
    let dims = AttentionDims { batch: b * heads, queries: t, keys: t, head_dim: d, value_dim: d, causal };
    Ok((qkv.contiguous(), dims))
}

/// Where Q, K and V lie in a `(B, T, 3·H·D)` buffer that starts at element 0.
fn packed_parts(dims: &AttentionDims, heads: usize) -> [HeadLayout; 3] {
    let (t, d) = (dims.queries, dims.head_dim);
    [0, 1, 2].map(|part| HeadLayout::packed(heads, t, d, 3 * heads * d, part * heads * d))
}

/// Each tensor's [`HeadLayout`] as it lies (rank 3 or 4 with unit last stride and rows at least a
/// row apart), else a dense copy reshaped to `(N, rows, cols)`.
fn head_views<const K: usize>(tensors: [&Tensor; K]) -> ([Tensor; K], [HeadLayout; K]) {
    let views = tensors.map(|t| match head_layout(t) {
        Some(layout) => (t.clone(), layout),
        None => {
            let dense = t.contiguous();
            let (rows, cols) = (t.shape()[t.rank() - 2], t.shape()[t.rank() - 1]);
            let layout = HeadLayout::dense(rows, cols).shifted(dense.layout().offset());
            (dense, layout)
        }
    });
    (views.clone().map(|v| v.0), views.map(|v| v.1))
}

fn head_layout(t: &Tensor) -> Option<HeadLayout> {
    let (shape, strides, offset) = (t.shape(), t.layout().strides(), t.layout().offset());
    let r = t.rank();
    if strides[r - 1] != 1 || strides[r - 2] < shape[r - 1] {
        return None;
    }
    match r {
        3 => Some(HeadLayout { offset, heads: 1, batch_stride: strides[0], head_stride: 0, row_stride: strides[1] }),
        4 => Some(HeadLayout {
            offset,
            heads: shape[1],
            batch_stride: strides[0],
            head_stride: strides[1],
            row_stride: strides[2],
        }),
        _ => None,
    }
}

/// Where a fused-attention output of shape `(…, rows, cols)` lies in its buffer: rank 4
/// `(B, H, rows, cols)` as a `(B, rows, H, cols)` block (heads side by side), otherwise dense.
struct OutputLayout {
    shape: Vec<usize>,
    heads: HeadLayout,
    /// The tensor's layout in the buffer.
    layout: Layout,
}

impl OutputLayout {
    fn new(input_shape: &[usize], rows: usize, cols: usize) -> Self {
        let r = input_shape.len();
        let shape = [&input_shape[..r - 2], &[rows, cols]].concat();
        if r == 4 {
            let h = shape[1];
            let heads = HeadLayout::packed(h, rows, cols, h * cols, 0);
            let layout = Layout::from_parts(&shape, &[rows * h * cols, cols, h * cols, 1], 0);
            Self { shape, heads, layout }
        } else {
            Self { heads: HeadLayout::dense(rows, cols), layout: Layout::contiguous(&shape), shape }
        }
    }

    /// The same layout starting where `prev` ends in a shared buffer.
    fn after(mut self, prev: &OutputLayout) -> Self {
        let start = prev.end();
        self.heads.offset += start;
        self.layout = Layout::from_parts(&self.shape, self.layout.strides(), start);
        self
    }

    /// One past the last element.
    fn end(&self) -> usize {
        self.layout.offset() + self.layout.elem_count()
    }

    /// The output as a view of `buffer` (a rank-1 tensor holding it).
    fn view(&self, buffer: &Tensor) -> Tensor {
        buffer.with_layout(self.layout.clone())
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

/// The fused attention kernels each device provides (`cpu.rs`, `cuda.rs`).
trait AttentionKernels: Sized {
    /// Fused attention forward from `[q, k, v]` read through their head layouts:
    /// `(out laid out by out_layout, saved)`, where `saved` is what the backward needs besides the
    /// inputs and the output: on the CPU the dense probabilities `(batch, T, S)`, on a GPU each
    /// query row's log-sum-exp `(batch, T)`.
    fn attention(
        dims: &AttentionDims,
        scale: f64,
        inputs: [(&Self, HeadLayout); 3],
        out_layout: HeadLayout,
    ) -> Result<(Self, Self)>;

    /// Fused attention backward from `[q, k, v, out, saved, d_out]`: one buffer of `len` elements
    /// holding dq, dk, dv as laid out by `grad_layouts`.
    fn attention_backward(
        dims: &AttentionDims,
        scale: f64,
        inputs: [(&Self, HeadLayout); 6],
        grad_layouts: [HeadLayout; 3],
        len: usize,
    ) -> Result<Self>;
}

/// [`AttentionKernels::attention`] on the inputs' device.
fn forward_on_device(
    dims: &AttentionDims,
    scale: f64,
    inputs: [(&Storage, HeadLayout); 3],
    out_layout: HeadLayout,
) -> Result<(Storage, Storage)> {
    let layouts = inputs.map(|(_, l)| l);
    Ok(on_device!("attention", inputs.map(|(s, _)| s), |wrap, [q, k, v]| {
        let on_device = [(q, layouts[0]), (k, layouts[1]), (v, layouts[2])];
        let (out, saved) = AttentionKernels::attention(dims, scale, on_device, out_layout)?;
        (wrap(out), wrap(saved))
    }))
}

/// [`AttentionKernels::attention_backward`] on the inputs' device.
fn backward_on_device(
    dims: &AttentionDims,
    scale: f64,
    inputs: [(&Storage, HeadLayout); 6],
    grad_layouts: [HeadLayout; 3],
    len: usize,
) -> Result<Storage> {
    let layouts = inputs.map(|(_, l)| l);
    Ok(on_device!("attention_backward", inputs.map(|(s, _)| s), |wrap, [q, k, v, out, saved, d_out]| {
        let on_device = [q, k, v, out, saved, d_out];
        let on_device = [0, 1, 2, 3, 4, 5].map(|i| (on_device[i], layouts[i]));
        wrap(AttentionKernels::attention_backward(dims, scale, on_device, grad_layouts, len)?)
    }))
}
