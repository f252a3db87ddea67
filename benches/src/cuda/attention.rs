//! The fused attention versions, forward and forward + backward, against the readable one.

use super::{download, driver, max_rel_err, random, time_ms, upload, zeros, BenchRow, Family};
use kernels::attention::cuda::{attention_backward, attention_forward, AttentionShape, AttentionVersion};
use kernels::attention::HeadLayout;
use kernels::cuda::{CudaError, Gpu};

/// Fused causal attention for `b` sequences of `t` tokens and `h` heads of `d`, laid out as in a
/// GPT-2 block (heads read in place from the packed `(b, t, 3·h·d)` qkv, the output `(b, t, h·d)`,
/// the gradient packed like qkv), each version: the forward alone, then forward and backward, in
/// model TFLOP/s (the causal half of `Q·Kᵀ` and `P·V`; ×3.5 with the backward); % is the speed-up
/// over the row-per-thread version, and the error is against it.
pub fn bench_attention(
    gpu: &Gpu,
    (b, h, t, d): (usize, usize, usize, usize),
    iters: usize,
) -> Result<Vec<BenchRow>, CudaError> {
    let (bh, width) = (b * h, h * d);
    let (qkv, dout) = (upload(gpu, &random(b * t * 3 * width, 11))?, upload(gpu, &random(b * t * width, 14))?);
    let shape = AttentionShape { bh, t, s: t, d, causal: true, scale: 1.0 / (d as f32).sqrt() };
    let forward_flops = 2.0 * (bh * t * t * d) as f64;
    let packed = |part: usize| HeadLayout::packed(h, t, d, 3 * width, part * width);
    let out_layout = HeadLayout::packed(h, t, d, width, 0);
    let (mut o, mut lse, mut dot) =
        (zeros::<f32>(gpu, b * t * width)?, zeros::<f32>(gpu, bh * t)?, zeros::<f32>(gpu, bh * t)?);
    let mut grads = zeros::<f32>(gpu, b * t * 3 * width)?;
    let mut rows: Vec<BenchRow> = Vec::new();
    let mut reference: [Option<(f64, Vec<f32>)>; 2] = [None, None];
    for version in AttentionVersion::ALL {
        for (pass, with_backward) in [("fwd", false), ("fwd+bwd", true)] {
            let mut step = || -> Result<(), CudaError> {
                let qkv = qkv.slice(..);
                let inputs = [(&qkv, packed(0)), (&qkv, packed(1)), (&qkv, packed(2))];
                attention_forward(gpu, version, shape, inputs, (&mut o, out_layout, None), &mut lse)?;
                if !with_backward {
                    return Ok(());
                }
                gpu.stream.memset_zeros(&mut grads).map_err(|e| driver("zeroing", e))?;
                let saved = [(&o.slice(..), out_layout), (&dout.slice(..), out_layout)];
                let grads = (&mut grads, [packed(0), packed(1), packed(2)]);
                attention_backward(gpu, version, shape, inputs, saved, &lse.slice(..), &mut dot, grads)
            };
            step()?;
            let ms = time_ms(gpu, 1, iters.min(5), &mut step)?;
            let got =
                if with_backward { [download(gpu, &o)?, download(gpu, &grads)?].concat() } else { download(gpu, &o)? };
            let reference = &mut reference[usize::from(with_backward)];
            let is_reference = reference.is_none();
            let (err, percent) = match reference {
                Some((ref_ms, want)) => (max_rel_err(&got, want), 100.0 * *ref_ms / ms),
                None => (0.0, 100.0),
            };
            reference.get_or_insert((ms, got));
            let flops = if with_backward { 3.5 * forward_flops } else { forward_flops };
            rows.push(BenchRow {
                kernel: format!("attention {pass} {version:?}"),
                family: Family::Attention,
                is_reference,
                shape: format!("{b}×{h}×{t}×{d} causal"),
                median_ms: ms,
                throughput: flops / (ms * 1e-3) / 1e12,
                unit: "TFLOP/s",
                percent_of_reference: percent,
                max_rel_err: err,
            });
        }
    }
    Ok(rows)
}
