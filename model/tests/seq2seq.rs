//! The encoder-decoder Transformer: the masks do what F4 says (no peeking at later target tokens,
//! padding of the source changes nothing), beam hypotheses carry their true probabilities, and a saved
//! model reloads to the same outputs.

use model::seq2seq::{Seq2SeqConfig, Transformer};
use tensor::Tensor;

fn tiny() -> Transformer {
    Transformer::random(Seq2SeqConfig::new(12, 16, 2, 2, 10, [0, 1, 2]), 7).unwrap()
}

fn ids(rows: &[&[i64]]) -> Tensor {
    Tensor::from_vec(rows.concat(), &[rows.len(), rows[0].len()]).unwrap()
}

fn close(a: &[f32], b: &[f32]) -> bool {
    a.iter().zip(b).all(|(x, y)| (x - y).abs() <= 1e-5 * (1.0 + y.abs()))
}

#[test]
fn a_target_position_never_sees_later_target_tokens() {
    let m = tiny();
    let src = ids(&[&[3, 4, 5, 2]]);
    let a = m.forward(&src, &ids(&[&[1, 6, 7, 8]])).unwrap().value();
    let b = m.forward(&src, &ids(&[&[1, 6, 9, 10]])).unwrap().value();
    let v = 12;
    let (a, b) = (a.to_vec::<f32>().unwrap(), b.to_vec::<f32>().unwrap());
    // Positions 0 and 1 are the same; position 2 sees the changed token and differs.
    assert!(close(&a[..2 * v], &b[..2 * v]));
    assert!(!close(&a[2 * v..3 * v], &b[2 * v..3 * v]));
}

#[test]
fn source_padding_changes_nothing_and_the_source_matters() {
    let m = tiny();
    let tgt = ids(&[&[1, 6, 7]]);
    let plain = m.forward(&ids(&[&[3, 4, 2]]), &tgt).unwrap().value().to_vec::<f32>().unwrap();
    let padded = m.forward(&ids(&[&[3, 4, 2, 0, 0]]), &tgt).unwrap().value().to_vec::<f32>().unwrap();
    assert!(close(&plain, &padded));
    let other = m.forward(&ids(&[&[5, 4, 2]]), &tgt).unwrap().value().to_vec::<f32>().unwrap();
    assert!(!close(&plain, &other), "cross-attention must carry the source");
}

/// `log P(tokens [EOS] | src)` by one teacher-forced pass (EOS only when the output stopped early).
fn sequence_log_prob(m: &Transformer, src: &Tensor, tokens: &[u32], max_new: usize) -> f64 {
    let mut targets: Vec<i64> = tokens.iter().map(|&t| i64::from(t)).collect();
    if tokens.len() < max_new {
        targets.push(2);
    }
    let inputs: Vec<i64> = [1].into_iter().chain(targets.iter().copied()).take(targets.len()).collect();
    let logits = m.forward(src, &ids(&[&inputs])).unwrap().value().log_softmax(-1).unwrap().to_f64_vec();
    targets.iter().enumerate().map(|(t, &y)| logits[t * 12 + y as usize]).sum()
}

#[test]
fn beam_hypotheses_carry_their_true_log_probabilities() {
    let m = tiny();
    for src in [[3i64, 4, 2], [7, 8, 2], [9, 3, 2]] {
        let src = ids(&[&src]);
        let hyps = m.beam(&src, 4, 6, 0.0).unwrap();
        assert!(!hyps.is_empty() && hyps.windows(2).all(|w| w[0].score >= w[1].score));
        for h in &hyps {
            let want = sequence_log_prob(&m, &src, &h.tokens, 6);
            assert!((h.log_prob - want).abs() < 1e-4, "{} vs {want}", h.log_prob);
        }
    }
    // A batch decodes each row as it would alone.
    let batch = m.greedy(&ids(&[&[3, 4, 2], &[7, 8, 2]]), 6).unwrap();
    assert_eq!(batch[1], m.greedy(&ids(&[&[7, 8, 2]]), 6).unwrap()[0]);
}

#[test]
fn saved_models_reload_and_bad_configs_are_refused() {
    let m = tiny();
    let dir = tempfile::tempdir().unwrap();
    m.save(dir.path()).unwrap();
    let back = Transformer::load(dir.path()).unwrap();
    let (src, tgt) = (ids(&[&[3, 4, 2]]), ids(&[&[1, 6]]));
    assert_eq!(
        m.forward(&src, &tgt).unwrap().value().to_vec::<f32>().unwrap(),
        back.forward(&src, &tgt).unwrap().value().to_vec::<f32>().unwrap()
    );
    assert!(Transformer::random(Seq2SeqConfig::new(12, 15, 2, 1, 10, [0, 1, 2]), 0).is_err());
    assert!(Transformer::random(Seq2SeqConfig::new(2, 16, 2, 1, 10, [0, 1, 2]), 0).is_err());
    let too_long = ids(&[&[3; 11]]);
    assert!(m.forward(&too_long, &tgt).unwrap_err().to_string().contains("max_len"));
}
