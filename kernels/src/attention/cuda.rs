//! Fused attention launches: every version's forward and backward, the layouts of its operands
//! checked against their buffers.

use crate::attention::HeadLayout;
use crate::cuda::cost::{Cost, Math};
use crate::cuda::launch::{grid, run, shared_function, Bf16Copy, Bf16Out, Plan};
use crate::cuda::{CudaError, Gpu};
use cudarc::driver::{CudaSlice, CudaView, DevicePtr, DeviceRepr, LaunchConfig, PushKernelArg};

/// Shapes of a fused attention call: `bh` (batch × heads) sequences of `t` queries and `s` keys
/// with head size `d` (≤ 128); q, o `(bh, t, d)` and k, v `(bh, s, d)`, each where its
/// [`HeadLayout`] says. With `causal`, query `i` sees key `j ≤ i + s − t`.
#[derive(Debug, Clone, Copy)]
pub struct AttentionShape {
    pub bh: usize,
    pub t: usize,
    pub s: usize,
    pub d: usize,
    pub causal: bool,
    pub scale: f32,
}

impl AttentionShape {
    pub fn check(&self) -> Result<(), CudaError> {
        if self.d == 0 || self.d > 128 || self.t == 0 || self.s == 0 || self.bh == 0 || (self.causal && self.s < self.t)
        {
            return Err(CudaError::Driver(format!(
                "fused attention needs 0 < d ≤ 128, t, s, bh > 0 and s ≥ t when causal, got {self:?}"
            )));
        }
        Ok(())
    }

    /// Also the tiled and tensor-core kernels' limit, d ≤ 64, and the scale the version takes
    /// ([`AttentionVersion::takes_scale`]).
    fn check_for(&self, version: AttentionVersion) -> Result<(), CudaError> {
        self.check()?;
        if version != AttentionVersion::RowPerThread && self.d > 64 {
            return Err(CudaError::Driver(format!("the {version:?} attention kernels need d ≤ 64, got {self:?}")));
        }
        if !version.takes_scale(self.scale) {
            return Err(CudaError::Driver(format!(
                "the {version:?} attention kernels need a positive finite scale, got {self:?}"
            )));
        }
        Ok(())
    }

    /// Tiles of `per_block` rows (queries or keys) per block of 4 warps, one block row per sequence.
    fn tiles(&self, n: usize, per_block: usize) -> LaunchConfig {
        LaunchConfig {
            grid_dim: (n.div_ceil(per_block) as u32, self.bh as u32, 1),
            block_dim: (128, 1, 1),
            shared_mem_bytes: 0,
        }
    }

    /// 64 rows (queries or keys) per block, one block row per sequence.
    fn rows(&self, n: usize) -> LaunchConfig {
        LaunchConfig {
            grid_dim: (n.div_ceil(64) as u32, self.bh as u32, 1),
            block_dim: (64, 1, 1),
            shared_mem_bytes: 0,
        }
    }
}

/// The fused attention kernels: the readable version (a thread per query or key, rows in
/// registers) for any d ≤ 128; the tiled one (warps sharing key/value and query tiles in shared
/// memory, FlashAttention-2's loop order) for d ≤ 64; the tiled one with its matrix products on
/// tensor cores (WMMA, bf16 operands, f32 accumulation, every score tile passing through shared
/// memory) for d ≤ 64; FlashAttention-2 proper (mma.sync, whose register layout is known, so
/// scores, probabilities and outputs stay in registers) for d ≤ 64; and the same with the tiles it
/// streams — K and V forward, Q and dO backward — loaded through cp.async into a stage while the
/// warps multiply the previous tile, then rounded once into the bf16 rows the warps read, for
/// d ≤ 64 a multiple of 4 and those rows 16-byte aligned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttentionVersion {
    RowPerThread,
    Tiled,
    TensorCores,
    TensorCoresInRegisters,
    Pipelined,
}

impl AttentionVersion {
    /// Every version, the readable one first.
    pub const ALL: [AttentionVersion; 5] = [
        AttentionVersion::RowPerThread,
        AttentionVersion::Tiled,
        AttentionVersion::TensorCores,
        AttentionVersion::TensorCoresInRegisters,
        AttentionVersion::Pipelined,
    ];

    /// Whether the matrix products round their operands to bf16 (tensor cores).
    pub fn is_bf16(self) -> bool {
        matches!(
            self,
            AttentionVersion::TensorCores | AttentionVersion::TensorCoresInRegisters | AttentionVersion::Pipelined
        )
    }

    /// Whether its kernels compute with `scale`: the FlashAttention-2 ones (in registers,
    /// pipelined) take a tile's largest scaled score, the reference that keeps every exponent ≤ 0,
    /// as its largest score scaled, which needs a positive scale; the others scale every score.
    pub fn takes_scale(self, scale: f32) -> bool {
        let scales_the_maximum = matches!(self, AttentionVersion::TensorCoresInRegisters | AttentionVersion::Pipelined);
        !scales_the_maximum || (scale > 0.0 && scale.is_finite())
    }

    /// For head size `d`: the tiled kernels where they apply — on tensor cores, in registers, when
    /// bf16 operands are allowed (`bf16`), pipelined where K and V allow it (`pipelinable`: no
    /// [`pipelining_misfit`]), else exact f32 — and the row-per-thread ones otherwise.
    pub fn best_for(d: usize, bf16: bool, pipelinable: bool) -> Self {
        match (d <= 64, bf16) {
            (true, true) if pipelinable => AttentionVersion::Pipelined,
            (true, true) => AttentionVersion::TensorCoresInRegisters,
            (true, false) => AttentionVersion::Tiled,
            (false, _) => AttentionVersion::RowPerThread,
        }
    }
}

/// A [`HeadLayout`] as the attention kernels read it (`struct Heads` of attention.cu).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
struct KernelHeads {
    offset: i64,
    batch: i64,
    head: i64,
    row: i64,
    heads: i64,
}

// Safety: a plain `#[repr(C)]` struct of integers, the same fields in the same order as the
// kernels' `struct Heads`.
unsafe impl DeviceRepr for KernelHeads {}

/// One operand of the attention kernels: a buffer, and where the rows of its sequences lie in it.
pub type HeadsIn<'a, 'b> = (&'a CudaView<'b, f32>, HeadLayout);

/// Why the pipelined kernels cannot copy the tiles they stream 16 bytes at a time (`None` when they
/// can): every row of those operands — K and V for the forward, Q and dO for the backward — must
/// start 16-byte aligned, and d be a multiple of 4.
pub fn pipelining_misfit(gpu: &Gpu, d: usize, streamed: [(&str, &HeadsIn); 2]) -> Option<String> {
    if !d.is_multiple_of(4) {
        return Some(format!("d = {d} is not a multiple of 4"));
    }
    streamed.iter().find_map(|(name, (buffer, l))| {
        let floats = [l.offset, l.batch_stride, l.head_stride, l.row_stride];
        let (address, _read) = buffer.device_ptr(&gpu.stream);
        (floats.iter().any(|x| !x.is_multiple_of(4)) || !address.is_multiple_of(16))
            .then(|| format!("{name}'s rows are not all 16-byte aligned ({l:?} from address {address:#x})"))
    })
}

impl AttentionShape {
    /// `layout` as the kernels read it, once it is checked to hold `rows × d` matrices for all `bh`
    /// sequences inside a buffer of `len` elements (and, for outputs, `disjoint` ones).
    fn heads(
        &self,
        name: &str,
        layout: HeadLayout,
        rows: usize,
        len: usize,
        disjoint: bool,
    ) -> Result<KernelHeads, CudaError> {
        if let Some(why) = layout.misfit(self.bh, rows, self.d, len, disjoint) {
            return Err(CudaError::Driver(format!("attention {name}: {why}")));
        }
        let i = |x: usize| x as i64;
        Ok(KernelHeads {
            offset: i(layout.offset),
            batch: i(layout.batch_stride),
            head: i(layout.head_stride),
            row: i(layout.row_stride),
            heads: i(layout.heads),
        })
    }
}

/// The pipelined forward's f32 stage of a 64-key K and V tile (rows of 64 floats), then their bf16
/// rows (36 pairs apart).
const PIPELINED_FORWARD_SHARED_BYTES: u32 = 2 * 64 * 64 * 4 + 2 * 64 * 36 * 4;

/// The pipelined backward's bf16 rows (36 pairs apart) of dS (32 query rows), K (64 key rows), Q
/// and dO (32 query rows each); the query rows' L and D; then the f32 stage of a Q and dO tile.
const PIPELINED_BACKWARD_SHARED_BYTES: u32 = (32 + 64 + 2 * 32) * 36 * 4 + 2 * 32 * 4 + 2 * 32 * 64 * 4;

impl AttentionShape {
    /// Scores a product visits: `bh·t·s`, about half of them under a causal mask.
    fn scores(&self) -> usize {
        let all = self.bh * self.t * self.s;
        if self.causal {
            all / 2
        } else {
            all
        }
    }

    /// Floats of Q (or O, dO, dQ) and of K (or V, dK, dV).
    fn floats(&self) -> (usize, usize) {
        (self.bh * self.t * self.d, self.bh * self.s * self.d)
    }
}

/// Where a version's products run: tensor cores for the bf16 versions, else the CUDA cores.
fn attention_math(version: AttentionVersion) -> Math {
    match version {
        AttentionVersion::RowPerThread | AttentionVersion::Tiled => Math::CudaCores,
        _ => Math::Bf16TensorCores,
    }
}

/// What the forward moves and computes (without O's bf16 copy): Q, K, V read once; O and the
/// log-sum-exp written; two products (`Q·Kᵀ`, `P·V`) of 2·d operations a score.
pub fn attention_forward_cost(version: AttentionVersion, shape: AttentionShape) -> Cost {
    let (q, kv) = shape.floats();
    Cost::f32s(q + 2 * kv, q + shape.bh * shape.t).with_flops(4 * shape.d * shape.scores(), attention_math(version))
}

/// What one backward launch of `kernel` moves and computes. `D = rowsum(dO ⊙ O)`: O and dO read,
/// D and dQ's zeros written. The others read Q, K, V, dO, L and D: the one-pass kernels write dK and dV and add
/// into dQ (read and written) with five products (`Q·Kᵀ` again, `dV`, `dP`, `dQ`, `dK`); the
/// row-per-thread pair splits them, dK/dV with four, dQ with three.
pub fn attention_backward_cost(kernel: &str, version: AttentionVersion, shape: AttentionShape) -> Cost {
    let (q, kv) = shape.floats();
    let rows = shape.bh * shape.t;
    let inputs = 2 * q + 2 * kv + 2 * rows;
    let product = |products: usize| 2 * shape.d * shape.scores() * products;
    let math = attention_math(version);
    match kernel {
        "attention_backward_dot" => Cost::f32s(2 * q, rows + q).with_flops(2 * q, Math::CudaCores),
        "attention_backward_dkdv" => Cost::f32s(inputs, 2 * kv).with_flops(product(4), math),
        "attention_backward_dq" => Cost::f32s(inputs, q).with_flops(product(3), math),
        _ => Cost::f32s(inputs + q, q + 2 * kv).with_flops(product(5), math),
    }
}

/// The fused attention forward launch.
pub fn attention_forward_plan(version: AttentionVersion, shape: AttentionShape) -> Result<Plan, CudaError> {
    shape.check_for(version)?;
    Ok(match version {
        AttentionVersion::RowPerThread => Plan::new("attention_forward", shape.rows(shape.t)),
        AttentionVersion::Tiled => Plan::new("attention_forward_tiled", shape.tiles(shape.t, 32)),
        AttentionVersion::TensorCores => Plan::new("attention_forward_tensor_cores", shape.tiles(shape.t, 64)),
        AttentionVersion::TensorCoresInRegisters => Plan::new("attention_forward_registers", shape.tiles(shape.t, 64)),
        AttentionVersion::Pipelined => {
            let mut cfg = shape.tiles(shape.t, 64);
            cfg.shared_mem_bytes = PIPELINED_FORWARD_SHARED_BYTES;
            Plan::new("attention_forward_pipelined", cfg)
        }
    })
}

/// The fused attention backward launches, in order: `D = rowsum(dO ⊙ O)`, then the tiled kernel,
/// or dK/dV (a thread per key) and dQ (a thread per query).
pub fn attention_backward_plans(version: AttentionVersion, shape: AttentionShape) -> Result<Vec<Plan>, CudaError> {
    shape.check_for(version)?;
    // D: a warp per query row, 8 to a block.
    let dot = Plan::new("attention_backward_dot", grid((shape.bh * shape.t).div_ceil(8), 256));
    Ok(match version {
        AttentionVersion::Tiled => vec![dot, Plan::new("attention_backward_tiled", shape.tiles(shape.s, 32))],
        AttentionVersion::TensorCores => {
            vec![dot, Plan::new("attention_backward_tensor_cores", shape.tiles(shape.s, 64))]
        }
        AttentionVersion::TensorCoresInRegisters => {
            vec![dot, Plan::new("attention_backward_registers", shape.tiles(shape.s, 64))]
        }
        AttentionVersion::Pipelined => {
            let mut cfg = shape.tiles(shape.s, 64);
            cfg.shared_mem_bytes = PIPELINED_BACKWARD_SHARED_BYTES;
            vec![dot, Plan::new("attention_backward_pipelined", cfg)]
        }
        AttentionVersion::RowPerThread => vec![
            dot,
            Plan::new("attention_backward_dkdv", shape.rows(shape.s)),
            Plan::new("attention_backward_dq", shape.rows(shape.t)),
        ],
    })
}

/// `O = softmax(scale·Q·Kᵀ + M)·V`, written into `o` where its layout says (and rounded to bf16
/// into `o_bf16` when given, the buffer seen as rows of O's row stride), and each row's
/// log-sum-exp `lse (bh, t)`, fused (no t×s matrix). Every layout is checked against its buffer.
pub fn attention_forward(
    gpu: &Gpu,
    version: AttentionVersion,
    shape: AttentionShape,
    [q, k, v]: [HeadsIn; 3],
    (o, o_layout, o_bf16): (&mut CudaSlice<f32>, HeadLayout, Bf16Out),
    lse: &mut CudaSlice<f32>,
) -> Result<(), CudaError> {
    let Plan { kernel, cfg, .. } = attention_forward_plan(version, shape)?;
    let (qh, kh, vh) = (
        shape.heads("q", q.1, shape.t, q.0.len(), false)?,
        shape.heads("k", k.1, shape.s, k.0.len(), false)?,
        shape.heads("v", v.1, shape.s, v.0.len(), false)?,
    );
    let oh = shape.heads("o", o_layout, shape.t, o.len(), true)?;
    if lse.len() < shape.bh * shape.t {
        return Err(CudaError::Driver(format!("attention lse: {} floats for {shape:?}", lse.len())));
    }
    if version == AttentionVersion::Pipelined {
        if let Some(why) = pipelining_misfit(gpu, shape.d, [("k", &k), ("v", &v)]) {
            return Err(CudaError::Driver(format!("the pipelined attention forward: {why}")));
        }
    }
    let f = shared_function(gpu, "attention.cu", kernel, cfg.shared_mem_bytes)?;
    let (t, s, d, causal) = (shape.t as i32, shape.s as i32, shape.d as i32, i32::from(shape.causal));
    let mut args = gpu.stream.launch_builder(&f);
    args.arg(&t).arg(&s).arg(&d).arg(&causal).arg(&shape.scale);
    // O's bf16 copy: the buffer as rows of O's row stride (the (B·T, H·d) input of the output
    // projection, for merged heads).
    let row = o_layout.row_stride.max(1);
    let copy = Bf16Copy::new(gpu, o_bf16, (o.len().div_ceil(row), row))?;
    args.arg(q.0).arg(&qh).arg(k.0).arg(&kh).arg(v.0).arg(&vh).arg(o).arg(&oh).arg(lse).arg(&copy);
    let cost = attention_forward_cost(version, shape).writing(copy.bytes(shape.floats().0));
    // Safety: every layout lies inside its buffer (checked above), the output's rows are disjoint.
    unsafe { run(gpu, kernel, &mut args, cfg, cost) }
}

/// Gradients of the fused attention: from `dout` and the forward's `o` and `lse`, into one buffer
/// `grads` where its three layouts say (dq `(bh, t, d)`, dk and dv `(bh, s, d)`, e.g. the packed
/// gradient of a qkv projection); `dot` is scratch of `bh·t` floats. The first launch (D) zeroes
/// dq, which the tiled and tensor-core versions then add into; dk and dv are written: `grads` may
/// hold anything before. Every layout is checked against its buffer.
#[allow(clippy::too_many_arguments)]
pub fn attention_backward(
    gpu: &Gpu,
    version: AttentionVersion,
    shape: AttentionShape,
    [q, k, v]: [HeadsIn; 3],
    [o, dout]: [HeadsIn; 2],
    lse: &CudaView<f32>,
    dot: &mut CudaSlice<f32>,
    (grads, [dq, dk, dv]): (&mut CudaSlice<f32>, [HeadLayout; 3]),
) -> Result<(), CudaError> {
    let plans = attention_backward_plans(version, shape)?;
    let (qh, kh, vh) = (
        shape.heads("q", q.1, shape.t, q.0.len(), false)?,
        shape.heads("k", k.1, shape.s, k.0.len(), false)?,
        shape.heads("v", v.1, shape.s, v.0.len(), false)?,
    );
    let (oh, doh) =
        (shape.heads("o", o.1, shape.t, o.0.len(), false)?, shape.heads("dout", dout.1, shape.t, dout.0.len(), false)?);
    let (dqh, dkh, dvh) = (
        shape.heads("dq", dq, shape.t, grads.len(), true)?,
        shape.heads("dk", dk, shape.s, grads.len(), true)?,
        shape.heads("dv", dv, shape.s, grads.len(), true)?,
    );
    let rows = shape.bh * shape.t;
    if lse.len() < rows || dot.len() < rows {
        return Err(CudaError::Driver(format!(
            "attention lse, D: {} and {} floats for {shape:?}",
            lse.len(),
            dot.len()
        )));
    }
    if version == AttentionVersion::Pipelined {
        if let Some(why) = pipelining_misfit(gpu, shape.d, [("q", &q), ("dout", &dout)]) {
            return Err(CudaError::Driver(format!("the pipelined attention backward: {why}")));
        }
    }
    let (t, s, d, causal) = (shape.t as i32, shape.s as i32, shape.d as i32, i32::from(shape.causal));
    let rows = rows as i64;
    for plan in plans {
        let f = shared_function(gpu, "attention.cu", plan.kernel, plan.cfg.shared_mem_bytes)?;
        let mut args = gpu.stream.launch_builder(&f);
        if plan.kernel == "attention_backward_dot" {
            args.arg(&rows).arg(&t).arg(&d).arg(o.0).arg(&oh).arg(dout.0).arg(&doh).arg(&mut *dot);
            args.arg(&mut *grads).arg(&dqh);
        } else {
            args.arg(&t).arg(&s).arg(&d).arg(&causal).arg(&shape.scale);
            args.arg(q.0).arg(&qh).arg(k.0).arg(&kh).arg(v.0).arg(&vh).arg(dout.0).arg(&doh);
            args.arg(lse).arg(&*dot).arg(&mut *grads);
            match plan.kernel {
                "attention_backward_tiled"
                | "attention_backward_tensor_cores"
                | "attention_backward_registers"
                | "attention_backward_pipelined" => args.arg(&dqh).arg(&dkh).arg(&dvh),
                "attention_backward_dkdv" => args.arg(&dkh).arg(&dvh),
                _ => args.arg(&dqh),
            };
        }
        // Safety: every layout lies inside its buffer and the gradients' rows are disjoint (checked
        // above); lse and dot hold bh·t floats; each kernel's arguments in the order of its
        // signature.
        let cost = attention_backward_cost(plan.kernel, version, shape);
        unsafe { run(gpu, plan.kernel, &mut args, plan.cfg, cost) }?;
    }
    Ok(())
}
