//! WordPiece against HF's BertTokenizer (fixtures/make_wordpiece_fixtures.py): the same pieces and
//! ids on accents, punctuation, CJK, control and zero-width characters, unknown and over-long words.

use serde_json::Value;
use std::path::Path;
use train::tokenizer::{Tokenizer, WordPieceTokenizer};

fn load() -> (WordPieceTokenizer, Value) {
    let dir = Path::new("tests/fixtures/wordpiece");
    let tok = WordPieceTokenizer::load(&dir.join("vocab.txt"), true).unwrap();
    let expected = serde_json::from_str(&std::fs::read_to_string(dir.join("expected.json")).unwrap()).unwrap();
    (tok, expected)
}

fn u32s(v: &Value) -> Vec<u32> {
    v.as_array().unwrap().iter().map(|x| x.as_u64().unwrap() as u32).collect()
}

#[test]
fn ids_match_hf_bert_tokenizer() {
    let (tok, expected) = load();
    let cases = expected["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 15);
    for case in cases {
        let text = case["text"].as_str().unwrap();
        let (ids, types) = tok.encode_for_bert(text, None).unwrap();
        assert_eq!(ids, u32s(&case["ids"]), "ids of {text:?}");
        assert!(types.iter().all(|&t| t == 0));
        let pieces: Vec<&str> = ids[1..ids.len() - 1].iter().map(|&i| tok.token(i).unwrap()).collect();
        let want: Vec<&str> = case["tokens"].as_array().unwrap().iter().map(|t| t.as_str().unwrap()).collect();
        assert_eq!(pieces, want, "pieces of {text:?}");
    }
    let pair = &expected["pair"];
    let (ids, types) = tok.encode_for_bert(pair["a"].as_str().unwrap(), pair["b"].as_str()).unwrap();
    assert_eq!(ids, u32s(&pair["ids"]));
    assert_eq!(types, u32s(&pair["token_type_ids"]));
}

#[test]
fn decoding_glues_pieces_and_bad_vocabularies_are_refused() {
    let (tok, _) = load();
    let ids = tok.encode("playing players").unwrap();
    assert_eq!(tok.decode(&ids).unwrap(), "playing players");
    assert!(tok.decode(&[10_000]).is_err());
    let err = WordPieceTokenizer::from_tokens(vec!["[PAD]".into(), "a".into()], true).unwrap_err();
    assert!(err.to_string().contains("[UNK]"), "{err}");
}
