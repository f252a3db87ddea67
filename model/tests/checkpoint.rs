//! HF-format checkpoints: round trip, the accepted variants, and clear errors for every way a file
//! can be wrong; plus the KV cache and initialisation.

use model::checkpoint::{read_safetensors, write_safetensors};
use model::gpt2::{Gpt2, Gpt2Config, KvCache};
use model::ModelError;
use std::path::Path;
use tensor::{DType, Tensor};

const FIXTURE: &str = "tests/fixtures/gpt2_tiny";

fn tiny() -> Gpt2 {
    Gpt2::load(Path::new(FIXTURE), DType::F32).unwrap()
}

fn copy_fixture(dir: &Path) {
    for f in ["config.json", "model.safetensors"] {
        std::fs::copy(Path::new(FIXTURE).join(f), dir.join(f)).unwrap();
    }
}

#[test]
fn save_then_load_gives_the_same_parameters_and_hf_names() {
    let model = tiny();
    let dir = tempfile::tempdir().unwrap();
    model.save(dir.path()).unwrap();
    let back = Gpt2::load(dir.path(), DType::F32).unwrap();
    for ((n1, a), (n2, b)) in model.params.iter().zip(back.params.iter()) {
        assert_eq!(n1, n2);
        assert_eq!(a.value().to_vec::<f32>().unwrap(), b.value().to_vec::<f32>().unwrap());
    }
    let names: Vec<String> = read_safetensors(&dir.path().join("model.safetensors")).unwrap().into_keys().collect();
    assert!(names.contains(&"transformer.h.1.attn.c_attn.weight".to_string()));
    assert!(!names.iter().any(|n| n.starts_with("lm_head")), "the tied head is not saved");
    let written = read_safetensors(&dir.path().join("model.safetensors")).unwrap();
    assert_eq!(written["transformer.h.0.mlp.c_fc.weight"].shape(), &[16, 64], "Conv1D weights are [in, out]");
    let config = std::fs::read_to_string(dir.path().join("config.json")).unwrap();
    assert!(config.contains("\"model_type\": \"gpt2\"") && config.contains("\"n_embd\": 16"));
    assert!(!dir.path().join("model.safetensors.tmp").exists(), "no temp file left behind");
}

#[test]
fn loading_in_the_files_dtype_maps_without_copying() {
    let mapped = Gpt2::load(Path::new(FIXTURE), DType::F32).unwrap();
    assert!(mapped.params.iter().all(|(_, p)| p.value().is_mapped()), "f32 parameters read straight from the file");
    let converted = Gpt2::load(Path::new(FIXTURE), DType::F64).unwrap();
    assert!(converted.params.iter().all(|(_, p)| !p.value().is_mapped()), "f64 parameters are converted copies");
    // Writing to a mapped parameter copies it first; the file is untouched.
    let p = mapped.params.get("transformer.ln_f.bias").unwrap();
    let before = p.value().to_vec::<f32>().unwrap();
    p.update_value(|v| {
        let (mut m, mut s) = (v.zeros_like(), v.zeros_like());
        v.adamw_step(&v.ones_like(), &mut m, &mut s, &tensor::AdamWConfig::default(), 1)
    })
    .unwrap();
    assert!(!p.value().is_mapped());
    assert_ne!(p.value().to_vec::<f32>().unwrap(), before);
    let reread = read_safetensors(&Path::new(FIXTURE).join("model.safetensors")).unwrap();
    assert_eq!(reread["transformer.ln_f.bias"].to_vec::<f32>().unwrap(), before);
}

#[test]
fn accepts_gpt2model_names_torch_dtype_and_a_tied_head() {
    let dir = tempfile::tempdir().unwrap();
    let model = tiny();
    // GPT2Model: no `transformer.` prefix; plus an explicit (tied) lm_head.weight.
    let mut tensors: Vec<(String, Tensor)> =
        model.params.iter().map(|(n, v)| (n.trim_start_matches("transformer.").to_string(), v.value())).collect();
    tensors.push(("lm_head.weight".into(), model.wte.weight.value()));
    write_safetensors(&dir.path().join("model.safetensors"), &tensors, None).unwrap();
    let config = std::fs::read_to_string(Path::new(FIXTURE).join("config.json"))
        .unwrap()
        .replace("\"dtype\"", "\"torch_dtype\"");
    std::fs::write(dir.path().join("config.json"), config).unwrap();
    let back = Gpt2::load(dir.path(), DType::F64).unwrap();
    assert_eq!(back.wte.weight.value().dtype(), DType::F64);
    assert_eq!(back.config.dtype.as_deref(), Some("float32"));
}

fn load_err(dir: &Path) -> String {
    match Gpt2::load(dir, DType::F32) {
        Ok(_) => panic!("loading {dir:?} should fail"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn truncated_and_corrupt_files_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    copy_fixture(dir.path());
    let weights = dir.path().join("model.safetensors");
    let bytes = std::fs::read(&weights).unwrap();
    std::fs::write(&weights, &bytes[..bytes.len() - 100]).unwrap();
    let e = load_err(dir.path());
    assert!(e.contains("model.safetensors") && e.contains("not a valid safetensors file"), "{e}");
    std::fs::write(&weights, b"\xff\xff\xff\xff\xff\xff\xff\x7fgarbage").unwrap();
    assert!(load_err(dir.path()).contains("not a valid safetensors file"));
    std::fs::write(&weights, b"").unwrap();
    assert!(load_err(dir.path()).contains("model.safetensors"));
    std::fs::remove_file(&weights).unwrap();
    let e = load_err(dir.path());
    assert!(e.contains("model.safetensors") && e.contains("No such file"), "{e}");
    std::fs::write(dir.path().join("config.json"), "{ not json").unwrap();
    let e = load_err(dir.path());
    assert!(e.contains("config.json") && e.contains("not a GPT-2 config.json"), "{e}");
}

#[test]
fn mismatched_tensors_name_the_file_and_the_tensor() {
    let model = tiny();
    let all: Vec<(String, Tensor)> = model.params.iter().map(|(n, v)| (n.to_string(), v.value())).collect();
    let write_and_load = |tensors: Vec<(String, Tensor)>| -> ModelError {
        let dir = tempfile::tempdir().unwrap();
        copy_fixture(dir.path());
        write_safetensors(&dir.path().join("model.safetensors"), &tensors, None).unwrap();
        Gpt2::load(dir.path(), DType::F32).err().expect("mismatch must fail")
    };
    // Missing tensor.
    let e = write_and_load(all.iter().filter(|(n, _)| n != "transformer.ln_f.bias").cloned().collect());
    assert!(e.to_string().contains("\"transformer.ln_f.bias\": missing from the checkpoint"), "{e}");
    // Wrong shape.
    let mut wrong = all.clone();
    wrong[0].1 = Tensor::zeros(&[50, 15], DType::F32);
    let e = write_and_load(wrong).to_string();
    assert!(
        e.contains("transformer.wte.weight") && e.contains("has shape [50, 15], the model expects [50, 16]"),
        "{e}"
    );
    // Wrong dtype.
    let mut wrong = all.clone();
    wrong[1].1 = Tensor::zeros(&[16, 16], DType::I64);
    assert!(write_and_load(wrong).to_string().contains("expected a float dtype"));
    // Unexpected tensor.
    let mut extra = all;
    extra.push(("transformer.h.7.mlp.c_fc.weight".into(), Tensor::zeros(&[2], DType::F32)));
    let e = write_and_load(extra).to_string();
    assert!(e.contains("transformer.h.7.mlp.c_fc.weight") && e.contains("unexpected tensor"), "{e}");
}

#[test]
fn kv_cache_gives_the_same_logits_one_token_at_a_time() {
    let model = tiny();
    let ids = Tensor::from_vec(vec![3i64, 17, 42, 8, 0, 23, 5], &[1, 7]).unwrap();
    let full = model.forward(&ids, None).unwrap().value().to_f64_vec();
    let mut cache = KvCache::new(model.config.n_layer);
    // A prompt of 3 tokens, then one token at a time.
    let mut incremental = model.forward_cached(&ids.narrow(1, 0, 3).unwrap(), &mut cache).unwrap().to_f64_vec();
    for t in 3..7 {
        let step = model.forward_cached(&ids.narrow(1, t, 1).unwrap(), &mut cache).unwrap();
        assert_eq!(step.shape(), &[1, 1, 50], "each step computes one position");
        incremental.extend(step.to_f64_vec());
    }
    assert_eq!(cache.len(), 7);
    let worst = full.iter().zip(&incremental).map(|(a, b)| (a - b).abs()).max_by(f64::total_cmp).unwrap_or(0.0);
    assert!(worst < 1e-5, "cached and uncached logits differ by {worst}");
    let too_long = Tensor::zeros(&[1, 10], DType::I64);
    assert!(model.forward_cached(&too_long, &mut cache).is_err(), "7 + 10 positions exceed n_positions = 16");
}

#[test]
fn initialisation_follows_gpt2() {
    let cfg = Gpt2Config::new(256, 64, 64, 4, 4);
    let model = Gpt2::random(cfg, 0, DType::F64).unwrap();
    let std_of = |name: &str| {
        let v = model.params.get(name).unwrap().value().to_f64_vec();
        let mean = v.iter().sum::<f64>() / v.len() as f64;
        (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / v.len() as f64).sqrt()
    };
    assert!((std_of("transformer.wte.weight") - 0.02).abs() < 0.001);
    assert!((std_of("transformer.h.0.mlp.c_fc.weight") - 0.02).abs() < 0.001);
    // Residual projections: 0.02 / √(2·4) = 0.00707.
    assert!((std_of("transformer.h.3.attn.c_proj.weight") - 0.02 / 8f64.sqrt()).abs() < 0.0005);
    assert_eq!(model.params.get("transformer.h.0.ln_1.weight").unwrap().value().to_f64_vec(), vec![1.0; 64]);
    assert_eq!(model.params.get("transformer.h.0.attn.c_attn.bias").unwrap().value().to_f64_vec(), vec![0.0; 192]);
    let bad = Gpt2Config::new(256, 64, 64, 4, 5);
    assert!(Gpt2::random(bad, 0, DType::F32).err().unwrap().to_string().contains("not divisible"));
}

#[test]
fn greedy_generation_equals_repeated_full_forward() {
    use model::generate::{generate, Sampling};
    let model = tiny();
    let prompt = Tensor::from_vec(vec![3i64, 17, 42, 5, 9, 1], &[2, 3]).unwrap();
    let out = generate(&model, &prompt, 5, Sampling::Greedy, &mut tensor::rng(0)).unwrap();
    assert_eq!(out.shape(), &[2, 8]);
    // Reference: recompute the whole sequence for every new token, take the argmax.
    let mut rows: Vec<Vec<i64>> = vec![vec![3, 17, 42], vec![5, 9, 1]];
    for _ in 0..5 {
        for row in rows.iter_mut() {
            let ids = Tensor::from_vec(row.clone(), &[1, row.len()]).unwrap();
            let logits = model.forward(&ids, None).unwrap().value();
            let last = logits.narrow(1, row.len() - 1, 1).unwrap().reshape(&[50]).unwrap();
            row.push(last.argmax(0, false).unwrap().to_vec::<i64>().unwrap()[0]);
        }
    }
    assert_eq!(out.to_vec::<i64>().unwrap(), rows.concat());
    // Past the context (16 positions), each token is predicted from the last 16, as nanoGPT does.
    let long = generate(&model, &prompt, 40, Sampling::Greedy, &mut tensor::rng(0)).unwrap();
    assert_eq!(long.shape(), &[2, 43]);
    let mut rows: Vec<Vec<i64>> = vec![vec![3, 17, 42], vec![5, 9, 1]];
    for _ in 0..40 {
        for row in rows.iter_mut() {
            let window = row[row.len().saturating_sub(16)..].to_vec();
            let ids = Tensor::from_vec(window.clone(), &[1, window.len()]).unwrap();
            let logits = model.forward(&ids, None).unwrap().value();
            let last = logits.narrow(1, window.len() - 1, 1).unwrap().reshape(&[50]).unwrap();
            row.push(last.argmax(0, false).unwrap().to_vec::<i64>().unwrap()[0]);
        }
    }
    assert_eq!(long.to_vec::<i64>().unwrap(), rows.concat());
}

#[test]
fn attention_maps_are_causal_distributions() {
    let model = tiny();
    let ids = Tensor::from_vec(vec![3i64, 17, 42, 5, 9], &[1, 5]).unwrap();
    let maps = model.attention_maps(&ids).unwrap();
    assert_eq!(maps.len(), 2);
    assert_eq!(maps[0].shape(), &[1, 2, 5, 5]);
    let p = maps[1].to_f64_vec();
    for row in p.chunks(5).enumerate() {
        let (i, r) = (row.0 % 5, row.1);
        assert!((r.iter().sum::<f64>() - 1.0).abs() < 1e-5, "rows are distributions");
        assert!(r[i + 1..].iter().all(|&v| v == 0.0), "no attention to the future");
    }
}

#[test]
fn parameter_count_formula_matches_the_built_model() {
    for (v, t, d, l, h) in [(12, 14, 16, 1, 2), (65, 256, 48, 3, 4), (50257, 1024, 768, 12, 12)] {
        let cfg = model::gpt2::Gpt2Config::new(v, t, d, l, h);
        if v > 1000 {
            assert_eq!(cfg.parameter_count(), 124_439_808); // GPT-2 small, as HF counts it
            continue;
        }
        let model = model::gpt2::Gpt2::random(cfg.clone(), 0, tensor::DType::F32).unwrap();
        assert_eq!(cfg.parameter_count(), model.params.numel());
    }
}
