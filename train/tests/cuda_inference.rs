//! The commands that run a trained model (`eval`, `sample`, `translate`) on the GPU against the same
//! commands on the CPU: the same loss, the same words. Needs a CUDA GPU (run with
//! `--include-ignored` there; CI runs it on the emulated CUDA libraries).

mod common;

use common::{emergent, kernels_launched};

/// `emergent ARGS…` on the CPU and with `--device cuda`: both outputs (the second checked to have
/// multiplied on the GPU).
fn on_both_devices(args: &[&str]) -> (String, String) {
    let cpu = emergent(args).unwrap();
    let (gpu, launched) = kernels_launched(|| emergent(&[args, &["--device", "cuda"]].concat()).unwrap());
    assert!(launched.iter().any(|name| name.contains("gemm")), "{args:?}: no product on the GPU: {launched:?}");
    (cpu, gpu)
}

#[test]
#[ignore = "needs a CUDA GPU"]
fn evaluating_and_sampling_a_gpt_on_the_gpu_match_the_cpu() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = dir.path().join("corpus.txt");
    std::fs::write(&corpus, "the cat sat on the mat. the dog sat on the log. ".repeat(20)).unwrap();
    let (corpus, run) = (corpus.to_str().unwrap(), dir.path().join("run"));
    let run = run.to_str().unwrap();
    let tiny = ["--n-layer", "1", "--n-head", "2", "--n-embd", "16", "--block-size", "16", "--batch-size", "4"];
    let train = ["train", "--data", corpus, "--steps", "30", "--eval-interval", "30", "--out", run];
    emergent(&[&train[..], &tiny].concat()).unwrap();

    let (cpu, gpu) = on_both_devices(&["eval", "--checkpoint", run, "--data", corpus, "--batch-size", "4"]);
    let loss = |printed: &str| -> f64 {
        let field = printed.split_whitespace().find_map(|w| w.strip_prefix("loss=")).expect(printed);
        field.parse().unwrap()
    };
    let (want, got) = (loss(&cpu), loss(&gpu));
    assert!((got - want).abs() <= 1e-4 * want, "eval: loss {got} on the GPU, {want} on the CPU");

    // Greedy and sampled continuations (the KV cache on the GPU) write the same text.
    for how in [&["--greedy"][..], &["--temperature", "0.8", "--top-k", "5", "--seed", "3"]] {
        let args = [&["sample", "--checkpoint", run, "--prompt", "the ", "--tokens", "24"][..], how].concat();
        let (cpu, gpu) = on_both_devices(&args);
        assert_eq!(cpu, gpu, "{how:?}");
    }
}

#[test]
#[ignore = "needs a CUDA GPU"]
fn translating_on_the_gpu_matches_the_cpu() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().to_str().unwrap();
    let tiny = ["--d-model", "16", "--n-head", "2", "--layers", "1", "--steps", "20", "--eval-interval", "20"];
    emergent(&[&["translate-train", "--held-out", "8", "--beam", "2", "--out", run][..], &tiny].concat()).unwrap();
    for beam in ["1", "3"] {
        let (cpu, gpu) = on_both_devices(&["translate", "--checkpoint", run, "--beam", beam, "7", "40517"]);
        assert_eq!(cpu, gpu, "beam {beam}");
    }
}
