//! Beam search (F14): keep the `width` most probable partial sequences at every step instead of
//! only the single most probable token (greedy), so a token that looks worse now can win later.
//! Works with any model through a closure that scores next tokens.

/// How the search runs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BeamConfig {
    /// Partial sequences kept per step (1 = greedy).
    pub width: usize,
    pub max_new_tokens: usize,
    /// The end-of-sequence token: a hypothesis that emits it is finished.
    pub eos: Option<u32>,
    /// `α` in the finished score `log P(y) / |y|^α` (`|y|` = generated tokens, EOS included);
    /// 0 compares raw log-probabilities (favouring short outputs), 1 per-token averages.
    pub length_penalty: f64,
}

/// A generated continuation with its log-probability and length-penalised score.
#[derive(Debug, Clone, PartialEq)]
pub struct Hypothesis {
    pub tokens: Vec<u32>,
    pub log_prob: f64,
    pub score: f64,
}

fn score(log_prob: f64, len: usize, alpha: f64) -> f64 {
    log_prob / (len.max(1) as f64).powf(alpha)
}

/// The best `width` continuations of `prompt`, best first. `next_log_probs(prefixes)` returns, for
/// each prefix (prompt + tokens so far), the log-probability of every next token.
///
/// Each step extends every live hypothesis by every token, keeps the `width` best by log-probability;
/// those ending in EOS move to the finished list. The search stops after `max_new_tokens`, when no
/// hypothesis is live, or when `width` hypotheses are finished and none live scores better than the
/// worst of them now (extending a sequence never raises its log-probability).
pub fn beam_search<E>(
    prompt: &[u32],
    cfg: &BeamConfig,
    mut next_log_probs: impl FnMut(&[Vec<u32>]) -> Result<Vec<Vec<f64>>, E>,
) -> Result<Vec<Hypothesis>, E> {
    let width = cfg.width.max(1);
    let mut live = vec![Hypothesis { tokens: prompt.to_vec(), log_prob: 0.0, score: 0.0 }];
    let mut finished: Vec<Hypothesis> = Vec::new();
    for step in 1..=cfg.max_new_tokens {
        let prefixes: Vec<Vec<u32>> = live.iter().map(|h| h.tokens.clone()).collect();
        let log_probs = next_log_probs(&prefixes)?;
        let mut candidates: Vec<(f64, usize, u32)> = log_probs
            .iter()
            .enumerate()
            .flat_map(|(b, row)| {
                let base = live[b].log_prob;
                row.iter().enumerate().map(move |(t, &lp)| (base + lp, b, t as u32))
            })
            .filter(|c| c.0.is_finite())
            .collect();
        candidates.sort_by(|x, y| y.0.total_cmp(&x.0));
        let mut next = Vec::with_capacity(width);
        for (log_prob, b, token) in candidates.into_iter().take(2 * width) {
            let mut tokens = live[b].tokens.clone();
            tokens.push(token);
            let hypothesis = Hypothesis { tokens, log_prob, score: score(log_prob, step, cfg.length_penalty) };
            if Some(token) == cfg.eos {
                finished.push(hypothesis);
            } else if next.len() < width {
                next.push(hypothesis);
            }
        }
        live = next;
        finished.sort_by(|x, y| y.score.total_cmp(&x.score));
        finished.truncate(width);
        let worst_kept = finished.last().map_or(f64::NEG_INFINITY, |h| h.score);
        let best_live = live.iter().map(|h| h.score).fold(f64::NEG_INFINITY, f64::max);
        if live.is_empty() || (finished.len() == width && best_live < worst_kept) {
            break;
        }
    }
    finished.extend(live);
    finished.sort_by(|x, y| y.score.total_cmp(&x.score));
    finished.truncate(width);
    Ok(finished)
}

#[cfg(test)]
mod tests {
    use super::*;

    const EOS: u32 = 2;

    /// Tokens 0 (A), 1 (B), 2 (EOS). First step: A 0.6, B 0.4. After A: A, B, EOS a third each.
    /// After B: EOS 0.9. Greedy takes A (joint ≤ 0.2 for any ending); the best sequence is B EOS (0.36).
    fn toy(prefixes: &[Vec<u32>]) -> Result<Vec<Vec<f64>>, ()> {
        Ok(prefixes
            .iter()
            .map(|p| {
                let probs = match p.last() {
                    None => [0.6, 0.4, 0.0],
                    Some(1) => [0.05, 0.05, 0.9],
                    Some(_) => [1.0 / 3.0; 3],
                };
                probs.iter().map(|q: &f64| q.ln()).collect()
            })
            .collect())
    }

    fn cfg(width: usize, alpha: f64) -> BeamConfig {
        BeamConfig { width, max_new_tokens: 4, eos: Some(EOS), length_penalty: alpha }
    }

    #[test]
    fn beam_finds_what_greedy_misses() {
        let best = &beam_search(&[], &cfg(2, 0.0), toy).unwrap()[0];
        assert_eq!(best.tokens, vec![1, EOS]);
        assert!((best.log_prob - 0.36f64.ln()).abs() < 1e-12);
        let greedy = &beam_search(&[], &cfg(1, 0.0), toy).unwrap()[0];
        assert_eq!(greedy.tokens[0], 0, "width 1 is greedy: it commits to A");
        assert!(greedy.log_prob < best.log_prob);
    }

    #[test]
    fn wide_beam_equals_exhaustive_search() {
        // Every sequence of up to 4 tokens (ending at EOS or at the limit), scored by brute force.
        let mut all: Vec<(Vec<u32>, f64)> = Vec::new();
        let mut frontier = vec![(Vec::<u32>::new(), 0.0f64)];
        for _ in 0..4 {
            let mut next = Vec::new();
            for (seq, lp) in frontier {
                let row = &toy(std::slice::from_ref(&seq)).unwrap()[0];
                for t in 0..3u32 {
                    let (mut s, l) = (seq.clone(), lp + row[t as usize]);
                    s.push(t);
                    if t == EOS {
                        all.push((s, l))
                    } else {
                        next.push((s, l))
                    }
                }
            }
            frontier = next;
        }
        all.extend(frontier);
        let best = all.iter().filter(|c| c.1.is_finite()).max_by(|a, b| a.1.total_cmp(&b.1)).unwrap();
        let found = &beam_search(&[], &cfg(81, 0.0), toy).unwrap()[0];
        assert_eq!(found.tokens, best.0);
        assert!((found.log_prob - best.1).abs() < 1e-12);
    }

    #[test]
    fn length_penalty_and_prompt() {
        let hyps = beam_search(&[7], &cfg(3, 1.0), |p: &[Vec<u32>]| {
            toy(&p.iter().map(|x| x[1..].to_vec()).collect::<Vec<_>>())
        })
        .unwrap();
        assert!(hyps.iter().all(|h| h.tokens[0] == 7), "the prompt is kept");
        for h in &hyps {
            assert!((h.score - h.log_prob / (h.tokens.len() - 1) as f64).abs() < 1e-12);
        }
        assert!(hyps.windows(2).all(|w| w[0].score >= w[1].score), "best first");
    }
}
