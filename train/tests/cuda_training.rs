//! Twenty GPT-2 training steps on the GPU against the same twenty steps on the CPU (f32, TF32 off):
//! the same initial weights and batches must give the same losses and weights, up to the order
//! of f32 additions. Needs a CUDA GPU (run with `--include-ignored` there).

mod common;

use common::kernels_launched;
use model::checkpoint::read_safetensors;
use model::gpt2::{Gpt2, Gpt2Config};
use rand::Rng;
use tensor::{DType, Device, Tensor};
use train::bert::classify::{run_classify, ClassifyConfig};
use train::bert::pretrain::{run_pretrain, PretrainConfig};
use train::data::Operation;
use train::optim::{AdamW, Optimizer};
use train::trainer::{latest, train_to_end, DataConfig, DistillConfig, TrainConfig};
use train::translate::{run_translate_train, TranslateConfig};

/// The per-step losses and the final weights (by name) of 20 AdamW steps on `device`.
fn train_on(device: Device) -> (Vec<f64>, Vec<(String, Vec<f64>)>) {
    let mut cfg = Gpt2Config::new(50, 32, 48, 2, 4);
    (cfg.resid_pdrop, cfg.embd_pdrop, cfg.attn_pdrop) = (0.0, 0.0, 0.0);
    let model = Gpt2::random(cfg, 3, DType::F32).unwrap();
    model.params.to_device(device).unwrap();
    let mut opt = AdamW::new(tensor::AdamWConfig { lr: 3e-3, weight_decay: 0.1, ..Default::default() });
    let mut rng = tensor::rng(11);
    let mut losses = Vec::new();
    for _ in 0..20 {
        // Runs of consecutive ids from random starts: the next token is learnable (the current + 1).
        let ids: Vec<i64> = (0..4)
            .flat_map(|_| {
                let start = rng.random_range(0..50);
                (0..17).map(move |t| (start + t) % 50)
            })
            .collect();
        let tokens = Tensor::from_vec(ids, &[4, 17]).unwrap();
        let (x, y) = (tokens.narrow(1, 0, 16).unwrap().contiguous(), tokens.narrow(1, 1, 16).unwrap().contiguous());
        model.params.zero_grad();
        let loss = model.loss(&model.forward(&x, None).unwrap(), &y).unwrap();
        loss.backward().unwrap();
        losses.push(loss.value().to_scalar().unwrap());
        opt.step(&model.params, 3e-3).unwrap();
    }
    let weights = model.params.iter().map(|(n, v)| (n.to_string(), v.value().to_f64_vec())).collect();
    (losses, weights)
}

#[test]
#[ignore = "needs a CUDA GPU"]
fn twenty_gpt2_steps_on_the_gpu_match_the_cpu() {
    let (cpu_losses, cpu_weights) = train_on(Device::Cpu);
    let (gpu_losses, gpu_weights) = train_on(Device::Cuda(0));
    println!("losses cpu {cpu_losses:?}\n       gpu {gpu_losses:?}");
    for (step, (g, c)) in gpu_losses.iter().zip(&cpu_losses).enumerate() {
        assert!((g - c).abs() <= 1e-4 * c.abs(), "step {}: loss {g} on the GPU, {c} on the CPU", step + 1);
    }
    assert!(cpu_losses[19] < cpu_losses[0], "the run learns: {cpu_losses:?}");
    for ((name, g), (_, c)) in gpu_weights.iter().zip(&cpu_weights) {
        let err = g.iter().zip(c).map(|(a, b)| (a - b).abs()).max_by(f64::total_cmp).unwrap_or(0.0);
        assert!(err <= 1e-3, "{name}: weights differ by up to {err:.2e} after 20 steps");
    }
}

#[test]
#[ignore = "needs a CUDA GPU"]
fn twenty_bf16_steps_on_the_gpu_follow_the_f32_run() {
    // bf16 operands in every matrix product, the attention's on tensor cores (head size 12): the
    // losses follow the exact run's to 5% (it falls from 3.9 to 2.0 over the 20 steps), and it learns.
    let (f32_losses, _) = train_on(Device::Cpu);
    let bf16 = tensor::ExecutionContext::default().with_precision(tensor::MatmulPrecision::Bf16);
    let (bf16_losses, _) = bf16.run(|| train_on(Device::Cuda(0)));
    println!("losses f32 {f32_losses:?}\n      bf16 {bf16_losses:?}");
    for (step, (b, f)) in bf16_losses.iter().zip(&f32_losses).enumerate() {
        assert!((b - f).abs() <= 0.05 * f.abs(), "step {}: loss {b} in bf16, {f} in f32", step + 1);
    }
    assert!(bf16_losses[19] < bf16_losses[0] * 0.9, "the bf16 run learns: {bf16_losses:?}");
}

// ---- Every training command's run on the GPU against the same run on the CPU (f32) ----

/// Two run folders of the same run, on the CPU and on the GPU: every number that `metrics`
/// (a JSON line per evaluation) logged but its timings agrees to `1e-4` (relative), and every
/// tensor of each of `tensors` (safetensors files) to `1e-3`.
fn assert_same_run(cpu: &std::path::Path, gpu: &std::path::Path, metrics: &str, tensors: &[&str]) {
    let records = |dir: &std::path::Path| -> Vec<serde_json::Value> {
        let text = std::fs::read_to_string(dir.join(metrics)).unwrap();
        text.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
    };
    let (cpu_log, gpu_log) = (records(cpu), records(gpu));
    assert!(!cpu_log.is_empty() && cpu_log.len() == gpu_log.len(), "{cpu_log:?}\n{gpu_log:?}");
    for (c, g) in cpu_log.iter().zip(&gpu_log) {
        for (key, value) in
            c.as_object().unwrap().iter().filter(|(k, _)| !["elapsed_s", "tokens_per_s"].contains(&k.as_str()))
        {
            let (want, got) = (value.as_f64().unwrap(), g[key].as_f64().unwrap());
            assert!(
                (got - want).abs() <= 1e-4 * want.abs().max(1.0),
                "{metrics} {key}: {got} on the GPU, {want} on the CPU"
            );
        }
    }
    for file in tensors {
        let (want, got) = (read_safetensors(&cpu.join(file)).unwrap(), read_safetensors(&gpu.join(file)).unwrap());
        assert_eq!(want.keys().collect::<Vec<_>>(), got.keys().collect::<Vec<_>>(), "{file}");
        for (name, w) in &want {
            let (w, g) = (w.to_f64_vec(), got[name].to_f64_vec());
            let err = w.iter().zip(&g).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
            assert!(err <= 1e-3, "{file} {name}: differs by up to {err:.2e}");
        }
    }
}

/// Runs `run`, a training run on GPU 0, with the GPU's kernel profile on, and checks that it trained
/// there: its matrix products and its optimizer steps ran on the device.
fn trains_on_the_gpu<R>(run: impl FnOnce() -> R) -> R {
    let (result, launched) = kernels_launched(run);
    for kernel in ["gemm", "adamw_step_multi_tensor"] {
        assert!(launched.iter().any(|name| name.contains(kernel)), "no {kernel} among {launched:?}");
    }
    result
}

/// Two fresh folders for one run on each device.
fn two_folders() -> (tempfile::TempDir, tempfile::TempDir) {
    (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap())
}

#[test]
#[ignore = "needs a CUDA GPU"]
fn bert_pretraining_on_the_gpu_matches_the_cpu() {
    let cfg = PretrainConfig {
        documents: 40,
        vocab_size: 80,
        n_layer: 1,
        n_head: 2,
        n_embd: 16,
        max_len: 24,
        batch_size: 8,
        steps: 6,
        eval_interval: 3,
        ..PretrainConfig::default()
    };
    let (cpu, gpu) = two_folders();
    run_pretrain(&cfg, cpu.path(), Device::Cpu, false).unwrap();
    trains_on_the_gpu(|| run_pretrain(&cfg, gpu.path(), Device::Cuda(0), false).unwrap());
    assert_same_run(cpu.path(), gpu.path(), "metrics.jsonl", &["model/model.safetensors"]);
}

#[test]
#[ignore = "needs a CUDA GPU"]
fn fine_tuning_a_bert_classifier_on_the_gpu_matches_the_cpu() {
    let cfg = ClassifyConfig {
        generated: 64,
        vocab_size: 80,
        n_layer: 1,
        n_head: 2,
        n_embd: 16,
        max_len: 16,
        batch_size: 16,
        epochs: 1,
        evals_per_epoch: 2,
        ..ClassifyConfig::default()
    };
    let (cpu, gpu) = two_folders();
    let cpu_summary = run_classify(&cfg, cpu.path(), Device::Cpu, false).unwrap();
    let gpu_summary = trains_on_the_gpu(|| run_classify(&cfg, gpu.path(), Device::Cuda(0), false).unwrap());
    assert_same_run(cpu.path(), gpu.path(), "metrics.jsonl", &["best/model.safetensors"]);
    // The best model, scored again on its device, predicts the same classes.
    assert_eq!(cpu_summary.examples, gpu_summary.examples);
    assert!((cpu_summary.dev_loss - gpu_summary.dev_loss).abs() <= 1e-4 * cpu_summary.dev_loss);
}

#[test]
#[ignore = "needs a CUDA GPU"]
fn training_the_translator_on_the_gpu_matches_the_cpu() {
    let cfg = TranslateConfig {
        d_model: 16,
        n_head: 2,
        layers: 1,
        steps: 6,
        batch_size: 8,
        eval_interval: 3,
        held_out: 8,
        beam_width: 2,
        ..TranslateConfig::default()
    };
    let (cpu, gpu) = two_folders();
    let cpu_summary = run_translate_train(&cfg, cpu.path(), Device::Cpu, false).unwrap();
    let gpu_summary = trains_on_the_gpu(|| run_translate_train(&cfg, gpu.path(), Device::Cuda(0), false).unwrap());
    assert_same_run(cpu.path(), gpu.path(), "metrics.jsonl", &["model/model.safetensors"]);
    // Greedy and beam decoding on the GPU write the same words.
    assert_eq!(cpu_summary.examples, gpu_summary.examples);
    assert_eq!(cpu_summary.beam, gpu_summary.beam);
}

#[test]
#[ignore = "needs a CUDA GPU"]
fn distilling_on_the_gpu_matches_the_cpu() {
    let small = TrainConfig {
        data: DataConfig::Arithmetic { op: Operation::Add, digits: 2, held_out: 16 },
        n_layer: 1,
        n_head: 2,
        n_embd: 16,
        steps: 6,
        batch_size: 8,
        eval_interval: 3,
        ..TrainConfig::default()
    };
    let teacher = tempfile::tempdir().unwrap();
    train_to_end(TrainConfig { n_embd: 24, ..small.clone() }, teacher.path(), Device::Cpu, false).unwrap();
    let distill = DistillConfig { teacher: teacher.path().to_path_buf(), temperature: 2.0, alpha: 0.5 };
    let student = TrainConfig { distill: Some(distill), ..small };
    let (cpu, gpu) = two_folders();
    train_to_end(student.clone(), cpu.path(), Device::Cpu, false).unwrap();
    trains_on_the_gpu(|| train_to_end(student, gpu.path(), Device::Cuda(0), false).unwrap());
    let (cpu_last, gpu_last) = (latest(cpu.path()).unwrap().unwrap(), latest(gpu.path()).unwrap().unwrap());
    assert_eq!(cpu_last.file_name(), gpu_last.file_name());
    let step = cpu_last.strip_prefix(cpu.path()).unwrap();
    let tensors = [step.join("model.safetensors"), step.join("optimizer.safetensors")];
    let tensors: Vec<&str> = tensors.iter().map(|p| p.to_str().unwrap()).collect();
    assert_same_run(cpu.path(), gpu.path(), "metrics.jsonl", &tensors);
}
