//! The `emergent` commands, run in-process through the same entry point the binary uses.

mod common;

use common::emergent;
use model::checkpoint::read_safetensors;
use npyz::WriterBuilder;
use std::path::Path;
use train::data::Operation;

const FIXTURE: &str = "../model/tests/fixtures/gpt2_tiny";

fn write_i64_npy(path: &Path, values: &[i64], shape: &[u64]) {
    let mut bytes = Vec::new();
    let mut w = npyz::WriteOptions::new().default_dtype().shape(shape).writer(&mut bytes).begin_nd().unwrap();
    w.extend(values.iter().copied()).unwrap();
    w.finish().unwrap();
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn forward_writes_pytorchs_logits_and_loss() {
    let want = read_safetensors(&Path::new(FIXTURE).join("expected_f32.safetensors")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (ids, targets, out) =
        (dir.path().join("ids.npy"), dir.path().join("targets.npy"), dir.path().join("logits.npy"));
    write_i64_npy(&ids, &want["ids"].to_vec::<i64>().unwrap(), &[2, 9]);
    write_i64_npy(&targets, &want["targets"].to_vec::<i64>().unwrap(), &[2, 9]);
    let p = |p: &Path| p.to_str().unwrap().to_string();
    let printed = emergent(&[
        "forward",
        "--checkpoint",
        FIXTURE,
        "--ids",
        &p(&ids),
        "--targets",
        &p(&targets),
        "--out",
        &p(&out),
    ])
    .unwrap();
    let loss: f64 =
        printed.lines().last().unwrap().strip_prefix("loss=").expect("last line is loss=…").parse().unwrap();
    let want_loss = want["loss"].to_scalar().unwrap();
    assert!((loss - want_loss).abs() <= 1e-4 * want_loss.abs(), "{loss} vs {want_loss}");
    let bytes = std::fs::read(&out).unwrap();
    let npy = npyz::NpyFile::new(&bytes[..]).unwrap();
    assert_eq!(npy.shape(), &[2, 9, 50]);
    let logits = npy.into_vec::<f32>().unwrap();
    let reference = want["logits"].to_vec::<f32>().unwrap();
    let scale = reference.iter().fold(0f32, |m, v| m.max(v.abs()));
    assert!(logits.iter().zip(&reference).all(|(a, b)| (a - b).abs() <= 1e-4 * scale));
}

#[test]
fn forward_refuses_shapes_that_overflow_and_bert_only_inputs() {
    let dir = tempfile::tempdir().unwrap();
    let (ids, out) = (dir.path().join("ids.npy"), dir.path().join("out.npy"));
    let p = |p: &Path| p.to_str().unwrap().to_string();
    // The reported file: shape (2⁶¹ + 1, 8) holding 8 elements, whose element count wraps to 8.
    let mut header = "{'descr': '<i8', 'fortran_order': False, 'shape': (2305843009213693953, 8), }".to_string();
    header.push_str(&" ".repeat(63 - (10 + header.len()) % 64));
    header.push('\n');
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend((header.len() as u16).to_le_bytes());
    bytes.extend(header.bytes().chain((0..8i64).flat_map(i64::to_le_bytes)));
    std::fs::write(&ids, &bytes).unwrap();
    let e = emergent(&["forward", "--checkpoint", FIXTURE, "--ids", &p(&ids), "--out", &p(&out)]).unwrap_err();
    assert!(e.contains("more elements than can be indexed"), "{e}");
    write_i64_npy(&ids, &[1, 2, 3, 4], &[2, 2]);
    for flag in ["--attention-mask", "--token-type-ids"] {
        let args = ["forward", "--checkpoint", FIXTURE, "--ids", &p(&ids), flag, &p(&ids), "--out", &p(&out)];
        let e = emergent(&args).unwrap_err();
        assert!(e.contains(&format!("{flag} is for BERT checkpoints")), "{e}");
    }
}

#[test]
fn forward_reports_bad_inputs_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let ids = dir.path().join("ids.npy");
    let out = dir.path().join("out.npy");
    let p = |p: &Path| p.to_str().unwrap().to_string();
    write_i64_npy(&ids, &[1, 2, 3], &[3]);
    let e = emergent(&["forward", "--checkpoint", FIXTURE, "--ids", &p(&ids), "--out", &p(&out)]).unwrap_err();
    assert!(e.contains("ids must have shape (B, T), got [3]"), "{e}");
    let e = emergent(&["forward", "--checkpoint", "no/such/dir", "--ids", &p(&ids), "--out", &p(&out)]).unwrap_err();
    assert!(e.contains("no/such/dir/config.json"), "{e}");
    write_i64_npy(&ids, &[1, 2, 3, 4], &[2, 2]);
    let targets = dir.path().join("t.npy");
    write_i64_npy(&targets, &[1, 2, 3], &[1, 3]);
    let e = emergent(&[
        "forward",
        "--checkpoint",
        FIXTURE,
        "--ids",
        &p(&ids),
        "--targets",
        &p(&targets),
        "--out",
        &p(&out),
    ])
    .unwrap_err();
    assert!(e.contains("targets have shape [1, 3], this model needs [2, 2]"), "{e}");
    write_i64_npy(&ids, &[1, 99], &[1, 2]);
    let e = emergent(&["forward", "--checkpoint", FIXTURE, "--ids", &p(&ids), "--out", &p(&out)]).unwrap_err();
    assert!(e.contains("index 99 is out of range"), "{e}");
}

#[test]
fn tokenize_encodes_and_decodes() {
    let dir = tempfile::tempdir().unwrap();
    train::tokenizer::train_bpe(&"the cat sat on the mat; the cat ate\n".repeat(5), 20, dir.path()).unwrap();
    let vocab = dir.path().to_str().unwrap();
    let printed = emergent(&["tokenize", "--vocab", vocab, "the cat, naïvely"]).unwrap();
    let ids: Vec<u32> = serde_json::from_str(printed.trim()).unwrap();
    let ids_json = serde_json::to_string(&ids).unwrap();
    assert_eq!(emergent(&["tokenize", "--vocab", vocab, "--decode", &ids_json]).unwrap(), "the cat, naïvely\n");
    let e = emergent(&["tokenize", "--vocab", vocab, "--decode", "[1, oops]"]).unwrap_err();
    assert!(e.contains("expects a JSON list of ids"), "{e}");
    let e = emergent(&["tokenize", "--vocab", "missing", "hi"]).unwrap_err();
    assert!(e.contains("missing/vocab.json"), "{e}");
}

#[test]
fn help_and_unknown_flags() {
    let help = emergent(&["forward", "--help"]).unwrap_err();
    for flag in ["--checkpoint", "--ids", "--targets", "--out", "--dtype"] {
        assert!(help.contains(flag), "{flag} missing from\n{help}");
    }
    assert!(emergent(&["tokenize", "--help"]).unwrap_err().contains("--decode"));
    let e = emergent(&["forward", "--checkpont", "x"]).unwrap_err();
    assert!(e.contains("unexpected argument '--checkpont'"), "{e}");
}

#[test]
fn train_sample_eval_and_resume_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let r = run.to_str().unwrap();
    let small = [
        "--digits",
        "2",
        "--n-layer",
        "1",
        "--n-head",
        "2",
        "--n-embd",
        "16",
        "--batch-size",
        "8",
        "--eval-interval",
        "5",
    ];
    let printed =
        emergent(&[&["train", "--out", r, "--steps", "10", "--until", "5"][..], &small[..]].concat()).unwrap();
    assert!(printed.contains("stopped at step 5") && printed.contains("exact match"), "{printed}");
    let printed = emergent(&["train", "--resume", r]).unwrap();
    assert!(printed.contains("resuming") && printed.contains("stopped at step 10"), "{printed}");
    let sampled = emergent(&["sample", "--checkpoint", r, "--prompt", "12+34=", "--tokens", "3", "--greedy"]).unwrap();
    assert_eq!(sampled.trim().len(), 9, "prompt and three generated characters: {sampled:?}");
    // Past the model's context (the task's rows), generation goes on from the last context's worth.
    let sampled = emergent(&["sample", "--checkpoint", r, "--prompt", "12+34=", "--tokens", "60", "--greedy"]).unwrap();
    assert_eq!(sampled.trim_end_matches('\n').chars().count(), 66, "{sampled:?}");
    let e = emergent(&["sample", "--checkpoint", r, "--prompt", "12", "--stop-at-eot"]).unwrap_err();
    assert!(e.contains("--stop-at-eot: this model's tokenizer has no <|endoftext|>"), "{e}");
    let png = dir.path().join("attention.png");
    let printed =
        emergent(&["attention", "--checkpoint", r, "--prompt", "12+34=", "--out", png.to_str().unwrap()]).unwrap();
    assert!(printed.contains("1 layers × 2 heads"), "{printed}");
    assert_eq!(&std::fs::read(&png).unwrap()[1..4], b"PNG");
    // eval on a text file made of the task's own characters
    let text = dir.path().join("sums.txt");
    std::fs::write(&text, "12+34=046".repeat(20)).unwrap();
    let evaluated = emergent(&["eval", "--checkpoint", r, "--data", text.to_str().unwrap()]).unwrap();
    assert!(evaluated.contains("loss=") && evaluated.contains("perplexity="), "{evaluated}");
    // Bad input is a clear error.
    let e = emergent(&["train", "--resume", r, "--config", "x.json"]).unwrap_err();
    assert!(e.contains("cannot be used with"), "{e}");
    let e = emergent(&["train", "--resume", r, "--data", "x.txt"]).unwrap_err();
    assert!(e.contains("trains on a built-in task"), "{e}");
    let e = emergent(&["sample", "--checkpoint", dir.path().to_str().unwrap()]).unwrap_err();
    assert!(e.contains("neither a run folder"), "{e}");
    let e =
        emergent(&[&["train", "--out", dir.path().join("r2").to_str().unwrap(), "--lr=-1"][..], &small[..]].concat())
            .unwrap_err();
    assert!(e.contains("learning rate must be positive"), "{e}");
    // ZeRO stage 1 is built, not 2: refused on the command line and in a config file.
    let e = emergent(&[&["train", "--zero", "2"][..], &small[..]].concat()).unwrap_err();
    assert!(e.contains("--zero") && e.contains("0..=1"), "{e}");
    let config = dir.path().join("zero2.json");
    let mut cfg: serde_json::Value = serde_json::to_value(train::trainer::TrainConfig::default()).unwrap();
    cfg["zero_stage"] = 2.into();
    std::fs::write(&config, cfg.to_string()).unwrap();
    let e = emergent(&[&["train", "--config", config.to_str().unwrap()][..], &small[..]].concat()).unwrap_err();
    assert!(e.contains("stage 2 is not built"), "{e}");
}

#[test]
fn bench_kernels_checks_and_times_cpu_kernels_for_scripts() {
    let printed = emergent(&[
        "bench", "kernels", "--kernel", "softmax", "--shape", "300x37", "--shape", "5x9", "--iters", "2", "--json",
    ])
    .unwrap();
    let lines: Vec<serde_json::Value> = printed.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert!(lines[0]["ceiling"]["fma_gflops"].as_f64().unwrap() > 0.0, "{printed}");
    assert_eq!(lines.len(), 3, "the ceiling and one row per shape: {printed}");
    assert_eq!(lines[1]["shape"], serde_json::json!([300, 37]));
    assert!(lines[2]["passed"].as_bool().unwrap() && lines[2]["gbps"].as_f64().unwrap() > 0.0);
    let csv = emergent(&["bench", "kernels", "--kernel", "axpy", "--shape", "1000", "--iters", "1", "--csv"]).unwrap();
    assert!(csv.starts_with("kernel,variant,shape,") && csv.lines().count() == 3, "{csv}");
    let e = emergent(&["bench", "kernels", "--kernel", "matmul", "--shape", "4x4"]).unwrap_err();
    assert!(e.contains("3 positive numbers") && e.contains("MxNxK"), "{e}");
    let e = emergent(&["bench", "kernels", "--kernel", "softmx"]).unwrap_err();
    assert!(e.contains("no kernel \"softmx\""), "{e}");
    let e = emergent(&["bench", "kernels", "--shape", "4x4"]).unwrap_err();
    assert!(e.contains("name exactly one --kernel"), "{e}");
    let e = emergent(&["bench", "kernels", "--device", "cuda", "--json"]).unwrap_err();
    assert!(e.contains("for the CPU bench"), "{e}");
}

#[test]
fn bench_prints_json_last() {
    let printed = emergent(&["bench", "train", "--preset", "baby", "--steps", "1"]).unwrap();
    let last: serde_json::Value = serde_json::from_str(printed.lines().last().unwrap()).unwrap();
    assert!(last["ms_per_step_median"].as_f64().unwrap() > 0.0 && last["tokens_per_s"].as_f64().unwrap() > 0.0);
}

#[test]
fn the_cpu_instruction_set_can_be_capped_to_time_other_machines_paths() {
    // A process of its own: the cap is read once per process.
    let run = |isa: &str, args: &[&str]| {
        let out =
            std::process::Command::new(env!("CARGO_BIN_EXE_emergent")).args(args).env("EMERGENT_CPU_ISA", isa).output();
        let out = out.unwrap();
        assert!(out.status.success(), "{isa}: {}", String::from_utf8_lossy(&out.stderr));
        (String::from_utf8(out.stdout).unwrap(), String::from_utf8(out.stderr).unwrap())
    };
    let kernels = ["bench", "kernels", "--kernel", "matmul", "--shape", "40x40x40", "--iters", "1", "--json"];
    let (avx2, _) = run("avx2", &kernels);
    assert!(!avx2.contains("AVX-512") && !avx2.contains("avx512"), "{avx2}");
    let (portable, _) = run("portable", &kernels);
    assert!(portable.contains(r#""fma":"scalar""#), "{portable}");
    let (train, _) = run("avx2", &["bench", "train", "--preset", "baby", "--steps", "1", "--batch-size", "1"]);
    assert!(train.lines().last().unwrap().contains(r#""cpu_isa":"avx2""#), "{train}");
    let (_, warning) = run("avx9000", &kernels);
    assert!(warning.contains("EMERGENT_CPU_ISA=avx9000") && warning.contains("ignored"), "{warning}");
}

#[test]
fn bench_clips_as_train_does_when_asked() {
    let printed = emergent(&["bench", "train", "--preset", "baby", "--steps", "1", "--clip", "1"]).unwrap();
    assert!(printed.lines().last().unwrap().contains("ms_per_step_median"), "{printed}");
    for bad in ["0", "-1", "nan"] {
        let e =
            emergent(&["bench", "train", "--preset", "baby", "--steps", "1", &format!("--clip={bad}")]).unwrap_err();
        assert!(e.contains("--clip") && e.contains("above 0"), "{bad}: {e}");
    }
}

#[test]
fn a_gpu_attention_kernel_on_the_cpu_is_a_clear_error() {
    for command in [&["bench", "train", "--preset", "baby", "--steps", "1"][..], &["train", "--steps", "1"]] {
        let err = emergent(&[command, &["--attention", "pipelined"]].concat()).unwrap_err();
        assert!(err.contains("--attention pipelined names a GPU kernel") && err.contains("cpu"), "{err}");
    }
}

#[test]
fn bench_profile_lists_every_op_of_a_gpt_step_once_per_layer() {
    let printed = emergent(&["bench", "train", "--preset", "baby", "--steps", "1", "--profile"]).unwrap();
    // (op, pass) may have a row per set of input shapes: their calls add up.
    let rows = |op: &str, pass: &str| -> Vec<Vec<String>> {
        let prefix = format!("| {op} | {pass} |");
        let rows: Vec<Vec<String>> = printed
            .lines()
            .filter(|l| l.starts_with(&prefix))
            .map(|l| l.split('|').map(|c| c.trim().to_string()).collect())
            .collect();
        assert!(!rows.is_empty(), "no {op} {pass} row in\n{printed}");
        rows
    };
    let calls = |op: &str, pass: &str| -> f64 { rows(op, pass).iter().map(|r| r[4].parse::<f64>().unwrap()).sum() };
    // 6 layers: the attention's c_attn, and its c_proj adding onto the residual stream; the MLP
    // (onto the residual stream as well) as one op, one attention, two layer norms; plus the final
    // layer norm, and the LM head with its loss as one op.
    for pass in ["forward", "backward"] {
        assert_eq!(calls("linear", pass), 6.0);
        assert_eq!(calls("linear_onto", pass), 6.0);
        assert_eq!(calls("feed_forward_onto", pass), 6.0);
        assert_eq!(calls("attention", pass), 6.0);
        assert_eq!(calls("layer_norm", pass), 13.0);
        assert_eq!(calls("classifier_cross_entropy", pass), 1.0);
    }
    assert!(printed.contains("| (no op: optimizer, freeing the graph) |"), "{printed}");
    // The linear layers by shape (2048 tokens: 8 × 256), with their rate.
    let qkv = rows("linear", "forward").into_iter().find(|r| r[3] == "8×256×384 · 384×1152 · 1152").unwrap();
    assert_eq!(qkv[4], "6");
    assert!(qkv[6].parse::<f64>().unwrap() > 0.0, "{qkv:?}");
}

#[test]
fn a_config_file_with_flags_on_top() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("c.json");
    let mut cfg = train::trainer::TrainConfig {
        n_layer: 1,
        n_head: 2,
        n_embd: 16,
        batch_size: 4,
        eval_interval: 3,
        ..Default::default()
    };
    cfg.data = train::trainer::DataConfig::Arithmetic { op: Operation::Add, digits: 2, held_out: 10 };
    std::fs::write(&config, serde_json::to_string(&cfg).unwrap()).unwrap();
    let run = dir.path().join("run");
    let printed =
        emergent(&["train", "--config", config.to_str().unwrap(), "--steps", "3", "--out", run.to_str().unwrap()])
            .unwrap();
    assert!(printed.contains("3 steps") && printed.contains("stopped at step 3"), "{printed}");
    let resolved: train::trainer::TrainConfig =
        serde_json::from_str(&std::fs::read_to_string(run.join("config.json")).unwrap()).unwrap();
    assert_eq!((resolved.n_embd, resolved.steps, resolved.batch_size), (16, 3, 4));
    std::fs::write(&config, "{\"steps\": oops}").unwrap();
    let e = emergent(&["train", "--config", config.to_str().unwrap()]).unwrap_err();
    assert!(e.contains("c.json") && e.contains("not a training config"), "{e}");
}

#[test]
fn eval_and_sample_report_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let r = run.to_str().unwrap();
    let small = ["--digits", "1", "--n-layer", "1", "--n-head", "1", "--n-embd", "8", "--batch-size", "4"];
    emergent(&[&["train", "--out", r, "--steps", "2", "--eval-interval", "2"][..], &small[..]].concat()).unwrap();
    let short = dir.path().join("short.txt");
    std::fs::write(&short, "1+2").unwrap(); // 3 tokens: less than one window of 5 + 1
    let e = emergent(&["eval", "--checkpoint", r, "--data", short.to_str().unwrap()]).unwrap_err();
    assert!(e.contains("short.txt") && e.contains("fewer than one window"), "{e}");
    let e = emergent(&["sample", "--checkpoint", r, "--prompt", "x"]).unwrap_err();
    assert!(e.contains("'x' is not in the"), "{e}");
    let checkpoint = run.join("checkpoints").join(std::fs::read_to_string(run.join("checkpoints/latest")).unwrap());
    std::fs::write(checkpoint.join("emergent_tokenizer.json"), "{\"kind\": \"bpe\"}").unwrap();
    let e = emergent(&["sample", "--checkpoint", r]).unwrap_err();
    assert!(e.contains("emergent_tokenizer.json") && e.contains("expected"), "{e}");
    std::fs::remove_file(checkpoint.join("emergent_tokenizer.json")).unwrap();
    let e = emergent(&["sample", "--checkpoint", r]).unwrap_err();
    assert!(e.contains("no tokenizer") && e.contains("give --vocab DIR"), "{e}");
}

#[test]
fn lab_commands_report_bad_settings() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().to_str().unwrap();
    let err = emergent(&["lab", "scaling", "--out", out, "--sizes", "2x64h5"]).unwrap_err();
    assert!(err.contains("heads must divide"), "{err}");
    let err = emergent(&["lab", "scaling", "--out", out, "--tasks", "add3,sub3"]).unwrap_err();
    assert!(err.contains("unknown task \"sub3\""), "{err}");
    let err = emergent(&["lab", "scaling", "--out", out, "--steps", "4", "--evals", "8"]).unwrap_err();
    assert!(err.contains("no more evaluations than steps"), "{err}");
    let err = emergent(&["lab", "grokking", "--out", out, "--fraction", "1.5"]).unwrap_err();
    assert!(err.contains("training fraction"), "{err}");
    assert!(emergent(&["lab", "grokking", "--bogus"]).unwrap_err().contains("--bogus"));
}

#[test]
fn lab_scaling_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().to_str().unwrap();
    let printed = emergent(&[
        "lab",
        "scaling",
        "--out",
        out,
        "--tasks",
        "add1",
        "--sizes",
        "1x8,1x16",
        "--seeds",
        "2",
        "--steps",
        "6",
        "--evals",
        "2",
        "--held-out",
        "10",
    ])
    .unwrap();
    assert!(printed.contains("4 runs of 6 steps"), "{printed}");
    assert!(dir.path().join("report.md").exists() && dir.path().join("sweep.csv").exists());
}

#[test]
fn forward_runs_bert_checkpoints_with_masks_and_token_types() {
    let dir = tempfile::tempdir().unwrap();
    let p = |p: &Path| p.to_str().unwrap().to_string();
    for (name, logits_shape) in [("mlm", vec![2u64, 7, 50]), ("cls", vec![2, 3])] {
        let fixture = Path::new("../model/tests/fixtures/bert_tiny").join(name);
        let want = read_safetensors(&fixture.join("expected.safetensors")).unwrap();
        let file = |key: &str| {
            let path = dir.path().join(format!("{name}-{key}.npy"));
            let t = &want[key];
            write_i64_npy(&path, &t.to_vec::<i64>().unwrap(), &t.shape().iter().map(|&d| d as u64).collect::<Vec<_>>());
            p(&path)
        };
        let out = dir.path().join(format!("{name}-logits.npy"));
        let (ids, mask, types, labels) = (file("ids"), file("attention_mask"), file("token_type_ids"), file("labels"));
        let printed = emergent(&[
            "forward",
            "--checkpoint",
            &p(&fixture),
            "--ids",
            &ids,
            "--attention-mask",
            &mask,
            "--token-type-ids",
            &types,
            "--targets",
            &labels,
            "--out",
            &p(&out),
        ])
        .unwrap();
        let loss: f64 = printed.lines().last().unwrap().strip_prefix("loss=").unwrap().parse().unwrap();
        let want_loss = want["loss"].to_scalar().unwrap();
        assert!((loss - want_loss).abs() <= 1e-4 * want_loss.abs(), "{name}: {loss} vs {want_loss}");
        let bytes = std::fs::read(&out).unwrap();
        let npy = npyz::NpyFile::new(&bytes[..]).unwrap();
        assert_eq!(npy.shape(), logits_shape.as_slice());
        let (logits, reference) = (npy.into_vec::<f32>().unwrap(), want["logits"].to_vec::<f32>().unwrap());
        let scale = reference.iter().fold(0f32, |m, v| m.max(v.abs()));
        assert!(logits.iter().zip(&reference).all(|(a, b)| (a - b).abs() <= 1e-4 * scale), "{name} logits");
        // Classifier labels are (B,): (B, T) targets are refused with the shape it needs; a mask
        // of another shape than the ids is refused too.
        if name == "cls" {
            let refused = [("--attention-mask", "shape [2] does not match the ids [2, 7]"), ("--targets", "needs [2]")];
            for (flag, message) in refused {
                let file = if flag == "--targets" { &ids } else { &labels };
                let args = ["forward", "--checkpoint", &p(&fixture), "--ids", &ids, flag, file, "--out", &p(&out)];
                let err = emergent(&args).unwrap_err();
                assert!(err.contains(message), "{flag}: {err}");
            }
        }
    }
}

#[test]
fn bench_kernels_without_a_gpu_is_a_clear_error() {
    if tensor::open_device(tensor::Device::Cuda(0)).is_ok() {
        return; // a GPU machine: the command runs there
    }
    let err = emergent(&["bench", "kernels", "--device", "cuda"]).unwrap_err();
    assert!(err.contains("no CUDA device"), "{err}");
}

#[test]
fn the_binary_carries_no_cuda_emulator() {
    // Built with its default features (as `cargo build --release` builds it), the binary neither
    // embeds the CUDA emulator's C++ nor reads its variable: the emulator is for tests, behind
    // the kernels crate's `emulator` feature.
    let binary = std::fs::read(env!("CARGO_BIN_EXE_emergent")).unwrap();
    for needle in ["EMERGENT_EMULATE_CUDA", "emu_set_callbacks", "emu::dynamic_shared"] {
        assert!(!binary.windows(needle.len()).any(|w| w == needle.as_bytes()), "the binary holds {needle:?}");
    }
}

#[test]
fn training_on_a_gpu_without_one_is_a_clear_error_and_devices_are_checked() {
    let err = emergent(&["bench", "train", "--device", "gpu"]).unwrap_err();
    assert!(err.contains("unknown device \"gpu\": expected cpu, cuda or cuda:N"), "{err}");
    let err = emergent(&["bench", "train", "--preset", "baby", "--block-size", "257"]).unwrap_err();
    assert!(
        err.contains("--batch-size 8 --block-size 257: need both > 0 and the block size ≤ the context 256"),
        "{err}"
    );
    // The old spelling still works.
    let err = emergent(&["bench", "train", "--preset", "baby", "--seq", "257"]).unwrap_err();
    assert!(err.contains("--block-size 257"), "{err}");
    if tensor::open_device(tensor::Device::Cuda(0)).is_ok() {
        return; // a GPU machine: the GPU tests cover training there
    }
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let out = out.to_str().unwrap();
    // Every command that trains takes --device, and refuses a missing GPU before writing anything.
    for command in [
        &["train", "--steps", "1"][..],
        &["distill", "--teacher", "runs/no-such-teacher"],
        &["bert-pretrain", "--steps", "1"],
        &["classify", "--epochs", "1"],
        &["translate-train", "--steps", "1"],
    ] {
        let err =
            emergent(&[command, &["--device", "cuda", "--precision", "bf16", "--out", out]].concat()).unwrap_err();
        assert!(err.contains("no CUDA device"), "{command:?}: {err}");
        assert!(!Path::new(out).exists(), "{command:?}: nothing is written before the device is known to work");
    }
    // So does every command that runs a trained model, before it reads one.
    for command in [
        &["eval", "--checkpoint", "runs/none", "--data", "none.txt"][..],
        &["sample", "--checkpoint", "runs/none"],
        &["translate", "--checkpoint", "runs/none", "7"],
    ] {
        let err = emergent(&[command, &["--device", "cuda"]].concat()).unwrap_err();
        assert!(err.contains("no CUDA device"), "{command:?}: {err}");
    }
    let err = emergent(&["bench", "train", "--device", "cuda:1", "--steps", "1"]).unwrap_err();
    assert!(err.contains("no CUDA device"), "{err}");
}

#[test]
fn every_flag_of_every_command_says_what_it_does() {
    use clap::CommandFactory;
    fn undocumented(cmd: &clap::Command, path: &str, out: &mut Vec<String>) {
        for arg in cmd.get_arguments() {
            let builtin = ["help", "version"].contains(&arg.get_id().as_str());
            if !builtin && !arg.is_hide_set() && arg.get_help().is_none() && arg.get_long_help().is_none() {
                out.push(format!("{path} --{}", arg.get_long().unwrap_or(arg.get_id().as_str())));
            }
        }
        for sub in cmd.get_subcommands() {
            undocumented(sub, &format!("{path} {}", sub.get_name()), out);
        }
    }
    let mut missing = Vec::new();
    undocumented(&train::cli::Cli::command(), "emergent", &mut missing);
    assert!(missing.is_empty(), "flags without a description:\n{}", missing.join("\n"));
}

#[test]
fn train_help_states_the_defaults_a_run_uses() {
    use clap::CommandFactory;
    let cli = train::cli::Cli::command();
    let train = cli.find_subcommand("train").unwrap();
    let help = |flag: &str| {
        let arg = train.get_arguments().find(|a| a.get_long() == Some(flag)).unwrap();
        arg.get_help().unwrap().to_string()
    };
    let d = train::trainer::TrainConfig::default();
    let (o, warmup) = (
        &d.optimizer,
        match d.schedule {
            train::optim::Schedule::WarmupCosine { warmup, .. } => warmup,
            train::optim::Schedule::Constant => 0,
        },
    );
    let want = [
        ("n-layer", d.n_layer.to_string()),
        ("n-head", d.n_head.to_string()),
        ("n-embd", d.n_embd.to_string()),
        ("block-size", d.block_size.to_string()),
        ("dropout", d.dropout.to_string()),
        ("steps", d.steps.to_string()),
        ("batch-size", d.batch_size.to_string()),
        ("grad-accum", d.grad_accum.to_string()),
        ("lr", format!("{:e}", o.lr)),
        ("weight-decay", o.weight_decay.to_string()),
        ("beta1", o.beta1.to_string()),
        ("beta2", o.beta2.to_string()),
        ("eps", format!("{:e}", o.eps)),
        ("warmup", warmup.to_string()),
        ("clip", d.clip.unwrap().to_string()),
        ("eval-interval", d.eval_interval.to_string()),
        ("seed", d.seed.to_string()),
        ("keep-checkpoints", d.keep_checkpoints.to_string()),
    ];
    for (flag, value) in want {
        assert!(help(flag).ends_with(&format!("[default: {value}]")), "--{flag}: {:?} vs {value}", help(flag));
    }
}

#[test]
fn without_a_terminal_training_prints_a_line_per_log_interval() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_emergent"))
        .args(["train", "--task", "add2", "--n-layer", "1", "--n-embd", "16", "--steps", "20", "--eval-interval", "10"])
        .args(["--out", out.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(output.status.success());
    let printed = String::from_utf8(output.stdout).unwrap();
    let lines: Vec<&str> = printed.lines().filter(|l| l.starts_with("step ")).collect();
    // 20 steps logged one by one (10 per evaluation interval), and two evaluations.
    assert_eq!(lines.iter().filter(|l| l.contains("/20 loss ") && l.contains(" eta ")).count(), 20, "{printed}");
    assert_eq!(lines.iter().filter(|l| l.contains(" val ")).count(), 2, "{printed}");
}

#[test]
fn a_preset_sets_the_run_and_flags_override_it() {
    let dir = tempfile::tempdir().unwrap();
    let text = dir.path().join("t.txt");
    std::fs::write(&text, "first citizen: before we proceed any further, hear me speak.\n".repeat(30)).unwrap();
    let run = dir.path().join("run");
    let args =
        ["train", "--preset", "shakespeare-char", "--data", text.to_str().unwrap(), "--out", run.to_str().unwrap()];
    let overrides =
        ["--n-layer", "1", "--block-size", "16", "--batch-size", "2", "--steps", "2", "--eval-interval", "2"];
    emergent(&[&args[..], &overrides[..]].concat()).unwrap();
    let cfg: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("config.json")).unwrap()).unwrap();
    // From the preset: heads, width, dropout, β₂; from the flags: layers, block, batch, steps.
    assert_eq!(
        (cfg["n_head"].as_u64(), cfg["n_embd"].as_u64(), cfg["dropout"].as_f64()),
        (Some(6), Some(384), Some(0.2))
    );
    assert_eq!(cfg["optimizer"]["beta2"].as_f64(), Some(0.99));
    assert_eq!(
        (cfg["n_layer"].as_u64(), cfg["block_size"].as_u64(), cfg["steps"].as_u64()),
        (Some(1), Some(16), Some(2))
    );
    let bad = dir.path().join("bad.json");
    std::fs::write(
        &bad,
        std::fs::read_to_string(run.join("config.json")).unwrap().replace("\"n_layer\"", "\"n_layers\""),
    )
    .unwrap();
    let e = emergent(&["train", "--config", bad.to_str().unwrap(), "--out", dir.path().join("r2").to_str().unwrap()])
        .unwrap_err();
    assert!(e.contains("unknown field `n_layers`") && e.contains("did you mean `n_layer`?"), "{e}");
}
