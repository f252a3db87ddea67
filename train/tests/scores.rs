//! BLEU and ROUGE against the reference packages (sacrebleu, rouge-score), on the fixture sentences
//! made by fixtures/make_score_fixtures.py.

use serde_json::Value;
use train::scores::{corpus_bleu, rouge_l, rouge_n, rouge_tokenize, Smoothing};

fn fixtures() -> Value {
    serde_json::from_str(&std::fs::read_to_string("tests/fixtures/scores.json").unwrap()).unwrap()
}

fn close(ours: f64, want: &Value, what: &str) {
    let want = want.as_f64().unwrap();
    assert!((ours - want).abs() <= 1e-9, "{what}: ours {ours}, reference {want}");
}

#[test]
fn corpus_bleu_matches_sacrebleu() {
    let f = fixtures();
    let cases = f["bleu"].as_array().unwrap();
    assert_eq!(cases.len(), 20);
    for (i, case) in cases.iter().enumerate() {
        let words = |v: &Value| v.as_str().unwrap().split(' ').map(String::from).collect::<Vec<_>>();
        let candidates: Vec<Vec<String>> = case["candidates"].as_array().unwrap().iter().map(words).collect();
        // sacrebleu takes reference streams: stream k holds the k-th reference of every candidate.
        let streams = case["references"].as_array().unwrap();
        let references: Vec<Vec<Vec<String>>> =
            (0..candidates.len()).map(|c| streams.iter().map(|s| words(&s.as_array().unwrap()[c])).collect()).collect();
        let smoothing = if case["smooth"] == "exp" { Smoothing::Exp } else { Smoothing::None };
        let b = corpus_bleu(&candidates, &references, smoothing).unwrap();
        close(b.score, &case["score"], &format!("case {i} BLEU"));
        close(b.brevity_penalty, &case["bp"], &format!("case {i} brevity penalty"));
        assert_eq!(b.candidate_len as u64, case["sys_len"].as_u64().unwrap());
        assert_eq!(b.reference_len as u64, case["ref_len"].as_u64().unwrap());
        for (n, p) in b.precisions.iter().enumerate() {
            close(*p, &case["precisions"][n], &format!("case {i} p{}", n + 1));
        }
    }
}

#[test]
fn rouge_matches_rouge_score() {
    let f = fixtures();
    for pair in f["rouge"].as_array().unwrap() {
        let (c, r) =
            (rouge_tokenize(pair["candidate"].as_str().unwrap()), rouge_tokenize(pair["reference"].as_str().unwrap()));
        for (key, prf) in [("rouge1", rouge_n(&c, &r, 1)), ("rouge2", rouge_n(&c, &r, 2)), ("rougeL", rouge_l(&c, &r))]
        {
            let what = format!("{key} of {:?}", pair["candidate"]);
            close(prf.precision, &pair[key][0], &what);
            close(prf.recall, &pair[key][1], &what);
            close(prf.f1, &pair[key][2], &what);
        }
    }
}
