//! Decoding (F14): extend a prompt one token at a time with the KV cache — greedy, or sampling with
//! temperature, top-k and top-p (nucleus).

use crate::gpt2::{Gpt2, KvCache};
use crate::LanguageModel;
use crate::{ModelError, Result};
use autograd::no_grad;
use rand::Rng;
use tensor::{DType, Tensor};

/// How the next token is chosen from the logits `z` of the last position.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Sampling {
    /// `argmax z`.
    Greedy,
    /// Sample from `softmax(z / temperature)`, restricted to the `top_k` most likely tokens and/or
    /// to the smallest set whose probability reaches `top_p`, renormalised.
    Sample { temperature: f64, top_k: Option<usize>, top_p: Option<f64> },
}

/// The next token for one row of logits.
pub fn pick_next(logits: &[f64], sampling: Sampling, rng: &mut impl Rng) -> Result<u32> {
    let argmax = || {
        logits.iter().enumerate().fold((0, f64::NEG_INFINITY), |best, (i, &z)| if z > best.1 { (i, z) } else { best }).0
            as u32
    };
    let Sampling::Sample { temperature, top_k, top_p } = sampling else { return Ok(argmax()) };
    let valid = temperature > 0.0 && top_k != Some(0) && top_p.is_none_or(|p| p > 0.0 && p <= 1.0);
    if !valid {
        return Err(ModelError::Config(format!(
            "sampling needs temperature > 0, top_k ≥ 1, 0 < top_p ≤ 1; got {sampling:?}"
        )));
    }
    // softmax(z / T), most likely first.
    let max = logits.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let mut probs: Vec<(u32, f64)> =
        logits.iter().enumerate().map(|(i, &z)| (i as u32, ((z - max) / temperature).exp())).collect();
    probs.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    let total: f64 = probs.iter().map(|p| p.1).sum();
    probs.iter_mut().for_each(|p| p.1 /= total);
    let mut keep = top_k.unwrap_or(probs.len()).min(probs.len());
    if let Some(p) = top_p {
        // The smallest prefix whose mass reaches p (at least one token).
        let mut mass = 0.0;
        let nucleus = probs.iter().take_while(|q| {
            let inside = mass < p;
            mass += q.1;
            inside
        });
        keep = keep.min(nucleus.count().max(1));
    }
    let kept = &probs[..keep];
    let mut u = rng.random::<f64>() * kept.iter().map(|p| p.1).sum::<f64>();
    for &(id, p) in kept {
        if u < p {
            return Ok(id);
        }
        u -= p;
    }
    Ok(kept[keep - 1].0)
}

/// Appends `max_new` tokens to each row of `prompt` (B, T₀) and returns `(B, T₀ + max_new)` ids
/// (i64). The prompt is run once; every further token costs one position thanks to the KV cache.
/// Once the rows outgrow the context, each next token is predicted from the last `n_positions`
/// tokens, as nanoGPT does: every position's embedding has moved, so those tokens are run again
/// from an empty cache (a full forward per token from then on).
pub fn generate(
    model: &Gpt2,
    prompt: &Tensor,
    max_new: usize,
    sampling: Sampling,
    rng: &mut impl Rng,
) -> Result<Tensor> {
    let mut rows = prompt_rows(prompt)?;
    let batch = rows.len();
    let mut cache = KvCache::new(model.config.n_layer);
    let mut input = prompt.to_dtype(DType::I64);
    let context = model.config.n_positions;
    for _ in 0..max_new {
        if cache.len() + input.shape()[1] > context {
            cache = KvCache::new(model.config.n_layer);
            let window: Vec<i64> = rows.iter().flat_map(|r| r[r.len().saturating_sub(context)..].to_vec()).collect();
            let width = window.len() / batch;
            input = Tensor::from_vec(window, &[batch, width])?;
        }
        let logits = model.forward_cached(&input, &mut cache)?;
        let next = extend_rows(&mut rows, &logits, sampling, rng)?;
        input = Tensor::from_vec(next, &[batch, 1])?;
    }
    let width = rows[0].len();
    Ok(Tensor::from_vec(rows.concat(), &[batch, width])?)
}

/// The rows of a `(batch, time)` prompt of at least one token, as i64 ids.
fn prompt_rows(prompt: &Tensor) -> Result<Vec<Vec<i64>>> {
    match prompt.shape() {
        [0, _] | [_, 0] => Err(ModelError::Config("generate: the prompt is empty".into())),
        [_, t0] => Ok(prompt.to_dtype(DType::I64).to_vec::<i64>()?.chunks(*t0).map(<[i64]>::to_vec).collect()),
        s => Err(ModelError::Config(format!("generate: prompt must be (batch, time), got {s:?}"))),
    }
}

/// Picks the next token of every row from the last position of `logits (B, T, V)`, appends it
/// to the row and returns the picked tokens.
fn extend_rows(rows: &mut [Vec<i64>], logits: &Tensor, sampling: Sampling, rng: &mut impl Rng) -> Result<Vec<i64>> {
    let vocab = logits.shape()[2];
    let last = logits.narrow(1, logits.shape()[1] - 1, 1)?.to_f64_vec();
    let mut next = Vec::with_capacity(rows.len());
    for (row, z) in rows.iter_mut().zip(last.chunks(vocab)) {
        let id = pick_next(z, sampling, rng)? as i64;
        row.push(id);
        next.push(id);
    }
    Ok(next)
}

/// [`generate`] for any [`LanguageModel`], without a cache: each new token re-reads the whole
/// sequence (`O(T²)` work, which is what an LSTM's state-less interface costs), or its last
/// context's worth for a model with a context length.
pub fn generate_by_recompute(
    model: &(impl LanguageModel + ?Sized),
    prompt: &Tensor,
    max_new: usize,
    sampling: Sampling,
    rng: &mut impl Rng,
) -> Result<Tensor> {
    let mut rows = prompt_rows(prompt)?;
    let batch = rows.len();
    for _ in 0..max_new {
        let start = model.max_positions().map_or(0, |max| rows[0].len().saturating_sub(max));
        let window: Vec<i64> = rows.iter().flat_map(|r| r[start..].to_vec()).collect();
        let ids = Tensor::from_vec(window, &[batch, rows[0].len() - start])?;
        let logits = no_grad(|| Ok::<_, ModelError>(model.logits(&ids, None)?.value()))?;
        extend_rows(&mut rows, &logits, sampling, rng)?;
    }
    let width = rows[0].len();
    Ok(Tensor::from_vec(rows.concat(), &[batch, width])?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn greedy_and_degenerate_sampling_pick_the_argmax() {
        let z = [0.1, 2.0, -1.0, 1.9];
        let mut rng = tensor::rng(0);
        assert_eq!(pick_next(&z, Sampling::Greedy, &mut rng).unwrap(), 1);
        let top1 = Sampling::Sample { temperature: 1.0, top_k: Some(1), top_p: None };
        let tiny_p = Sampling::Sample { temperature: 1.0, top_k: None, top_p: Some(1e-6) };
        for _ in 0..50 {
            assert_eq!(pick_next(&z, top1, &mut rng).unwrap(), 1);
            assert_eq!(pick_next(&z, tiny_p, &mut rng).unwrap(), 1);
        }
        assert!(pick_next(&z, Sampling::Sample { temperature: 0.0, top_k: None, top_p: None }, &mut rng).is_err());
    }

    #[test]
    fn sampling_follows_the_softmax_within_top_k_and_top_p() {
        let z = [0.0f64, 1.0, 2.0, 3.0];
        let mut rng = tensor::rng(1);
        let count = |s: Sampling, rng: &mut rand::rngs::StdRng| {
            let mut c = [0usize; 4];
            (0..20000).for_each(|_| c[pick_next(&z, s, rng).unwrap() as usize] += 1);
            c.map(|n| n as f64 / 20000.0)
        };
        let e: Vec<f64> = z.iter().map(|v| v.exp()).collect();
        let total: f64 = e.iter().sum();
        let freq = count(Sampling::Sample { temperature: 1.0, top_k: None, top_p: None }, &mut rng);
        for i in 0..4 {
            assert!((freq[i] - e[i] / total).abs() < 0.015, "token {i}: {} vs {}", freq[i], e[i] / total);
        }
        // top-k = 2 keeps tokens 3 and 2, renormalised.
        let freq = count(Sampling::Sample { temperature: 1.0, top_k: Some(2), top_p: None }, &mut rng);
        assert_eq!(freq[0] + freq[1], 0.0);
        assert!((freq[3] - e[3] / (e[2] + e[3])).abs() < 0.015);
        // p(3) ≈ 0.64 < 0.7 ≤ p(3) + p(2): the nucleus is {3, 2}.
        let freq = count(Sampling::Sample { temperature: 1.0, top_k: None, top_p: Some(0.7) }, &mut rng);
        assert_eq!(freq[0] + freq[1], 0.0);
        // A high temperature flattens the distribution.
        let freq = count(Sampling::Sample { temperature: 100.0, top_k: None, top_p: None }, &mut rng);
        assert!(freq.iter().all(|&f| (f - 0.25).abs() < 0.02));
    }
}
