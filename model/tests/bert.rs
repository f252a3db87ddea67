//! BERT against PyTorch + HF transformers (fixtures/make_bert_fixtures.py): masked-LM and
//! classification logits, losses and every parameter gradient on a padded batch with token types.

use model::bert::{BertForMaskedLM, BertForPreTraining, BertForSequenceClassification};
use model::checkpoint::read_safetensors;
use std::collections::BTreeMap;
use std::path::Path;
use tensor::{DType, Tensor};

const FIXTURES: &str = "tests/fixtures/bert_tiny";

fn rel_err(ours: &Tensor, reference: &Tensor) -> f64 {
    let (a, b) = (ours.to_vec::<f32>().unwrap(), reference.to_vec::<f32>().unwrap());
    assert_eq!(a.len(), b.len());
    let scale = b.iter().fold(1e-12f32, |m, v| m.max(v.abs())) as f64;
    a.iter().zip(&b).map(|(x, y)| (x - y).abs() as f64).max_by(f64::total_cmp).unwrap_or(0.0) / scale
}

fn expected(name: &str) -> BTreeMap<String, Tensor> {
    read_safetensors(&Path::new(FIXTURES).join(name).join("expected.safetensors")).unwrap()
}

/// Every parameter's gradient against PyTorch's; returns how many were compared.
fn check_gradients(params: &autograd::Params, want: &BTreeMap<String, Tensor>) -> usize {
    let mut compared = 0;
    for (name, p) in params.iter() {
        let reference = want.get(&format!("grad.{name}")).unwrap_or_else(|| panic!("no reference gradient for {name}"));
        let ours = p.grad().unwrap();
        // The key bias's true gradient is zero (softmax ignores a shift shared by all scores of a
        // query); both sides hold float noise there, so compare it absolutely.
        let (a, b) = (ours.to_vec::<f32>().unwrap(), reference.to_vec::<f32>().unwrap());
        let diff = a.iter().zip(&b).map(|(x, y)| (x - y).abs()).fold(0f32, f32::max);
        let err = rel_err(&ours, reference);
        assert!(
            err <= 1e-4 || (name.ends_with("key.bias") && diff <= 1e-6),
            "gradient of {name}: relative error {err}, max difference {diff}"
        );
        compared += 1;
    }
    compared
}

/// Logits (of the given shape) and loss against PyTorch's, then every parameter gradient; returns
/// how many gradients were compared.
fn check_model(
    want: &BTreeMap<String, Tensor>,
    logits: autograd::Var,
    logits_shape: &[usize],
    loss: impl Fn(&autograd::Var) -> autograd::Var,
    params: &autograd::Params,
) -> usize {
    assert_eq!(logits.shape(), logits_shape);
    let err = rel_err(&logits.value(), &want["logits"]);
    assert!(err <= 1e-4, "logits: relative error {err}");
    let loss = loss(&logits);
    let (ours, theirs) = (loss.value().to_scalar().unwrap(), want["loss"].to_vec::<f32>().unwrap()[0] as f64);
    assert!((ours - theirs).abs() <= 1e-4 * theirs.abs(), "loss {ours} vs {theirs}");
    loss.backward().unwrap();
    check_gradients(params, want)
}

#[test]
fn masked_lm_matches_pytorch() {
    let want = expected("mlm");
    let model = BertForMaskedLM::load(&Path::new(FIXTURES).join("mlm"), DType::F32).unwrap();
    let logits = model.forward(&want["ids"], &want["attention_mask"], &want["token_type_ids"]).unwrap();
    let compared = check_model(&want, logits, &[2, 7, 50], |l| model.loss(l, &want["labels"]).unwrap(), &model.params);
    // Embeddings 5, two layers of 16, the LM transform 4 and the output bias.
    assert_eq!(compared, 42);
}

#[test]
fn sequence_classifier_matches_pytorch() {
    let want = expected("cls");
    let model = BertForSequenceClassification::load(&Path::new(FIXTURES).join("cls"), DType::F32).unwrap();
    assert_eq!(model.bert.config.num_labels(), 3);
    let logits = model.forward(&want["ids"], &want["attention_mask"], &want["token_type_ids"]).unwrap();
    let compared = check_model(&want, logits, &[2, 3], |l| model.loss(l, &want["labels"]).unwrap(), &model.params);
    // Embeddings 5, two layers of 16, pooler 2, classifier 2.
    assert_eq!(compared, 41);
}

#[test]
fn one_logit_binary_classifier_matches_pytorchs_bce() {
    let want = expected("binary");
    let model = BertForSequenceClassification::load(&Path::new(FIXTURES).join("binary"), DType::F32).unwrap();
    assert!(model.is_binary());
    let labels = want["labels"].reshape(&[2]).unwrap();
    let logits = model.forward(&want["ids"], &want["attention_mask"], &want["token_type_ids"]).unwrap();
    let predicted = model.predict(&logits.value()).unwrap();
    let expected: Vec<usize> = want["logits"].to_vec::<f32>().unwrap().iter().map(|&z| usize::from(z > 0.0)).collect();
    assert_eq!(predicted, expected);
    let compared = check_model(&want, logits, &[2, 1], |l| model.loss(l, &labels).unwrap(), &model.params);
    assert_eq!(compared, 41);
}

#[test]
fn pretraining_heads_match_pytorch() {
    let want = expected("pretrain");
    let model = BertForPreTraining::load(&Path::new(FIXTURES).join("pretrain"), DType::F32).unwrap();
    let (mlm, nsp) = model.forward(&want["ids"], &want["attention_mask"], &want["token_type_ids"]).unwrap();
    assert!(rel_err(&nsp.value(), &want["nsp_logits"]) <= 1e-4);
    let loss = |l: &autograd::Var| model.loss(l, &nsp, &want["labels"], &want["next_sentence"]).unwrap()[0].clone();
    let compared = check_model(&want, mlm, &[2, 7, 50], loss, &model.params);
    // Embeddings 5, two layers of 16, pooler 2, the LM transform 4, its bias, next-sentence head 2.
    assert_eq!(compared, 46);
}

#[test]
fn saved_models_reload_and_a_classifier_starts_from_a_pretrained_encoder() {
    let dir = tempfile::tempdir().unwrap();
    let pretrained = BertForPreTraining::load(&Path::new(FIXTURES).join("pretrain"), DType::F32).unwrap();
    pretrained.save(dir.path()).unwrap();
    let reloaded = BertForPreTraining::load(dir.path(), DType::F32).unwrap();
    for ((n, a), (_, b)) in pretrained.params.iter().zip(reloaded.params.iter()) {
        assert_eq!(a.value().to_vec::<f32>().unwrap(), b.value().to_vec::<f32>().unwrap(), "{n}");
    }
    let config = pretrained.bert.config.clone().with_labels(&["no".into(), "yes".into(), "maybe".into()], false);
    let (classifier, fresh) = BertForSequenceClassification::from_pretrained(dir.path(), &config, 0).unwrap();
    assert_eq!(fresh, ["classifier.weight", "classifier.bias"]);
    let encoder = |p: &autograd::Params, name: &str| {
        p.iter().find(|(n, _)| *n == name).unwrap().1.value().to_vec::<f32>().unwrap()
    };
    for name in ["bert.encoder.layer.1.output.dense.weight", "bert.pooler.dense.bias"] {
        assert_eq!(encoder(&classifier.params, name), encoder(&pretrained.params, name));
    }
    assert_eq!(classifier.classifier.weight.shape(), [3, 32]);
}

#[test]
fn a_gpt2_folder_or_a_mismatched_file_is_a_clear_error() {
    let err = BertForMaskedLM::load(Path::new("tests/fixtures/gpt2_tiny"), DType::F32).err().unwrap().to_string();
    assert!(err.contains("bert") || err.contains("BERT"), "{err}");
    // The classifier's file has a pooler and classifier that the masked-LM model does not use.
    let err = BertForMaskedLM::load(&Path::new(FIXTURES).join("cls"), DType::F32).err().unwrap().to_string();
    assert!(err.contains("not a parameter of this model") || err.contains("missing"), "{err}");
}
