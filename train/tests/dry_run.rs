//! `emergent bench train --dry-run`: a GPU training step issued to the null driver, reported on the
//! roofline. The dry run is the process's driver, so this file's in-process tests all run on it;
//! the comparison with a step that really runs spawns the binary.

mod common;

use common::emergent;
use std::collections::BTreeMap;
use std::process::Command;

const BABY: [&str; 9] = ["bench", "train", "--preset", "baby", "--batch", "2", "--seq", "32", "--device"];

fn json_of(printed: &str) -> serde_json::Value {
    serde_json::from_str(printed.lines().last().unwrap()).unwrap()
}

/// `kernel → launches` from the first two columns of the table that begins `| kernel |` in
/// `printed` (launches per step in the kernel profile), leaving out the driver's memsets and
/// copies.
fn launches_by_kernel(printed: &str) -> BTreeMap<String, f64> {
    let table = printed.lines().skip_while(|l| !l.starts_with("| kernel |")).skip(2);
    table
        .take_while(|l| l.starts_with("| "))
        .map(|l| l.split('|').map(str::trim).collect::<Vec<_>>())
        .filter(|cells| !(cells[1] == "memset" || cells[1].starts_with("copy ")))
        .map(|cells| (cells[1].to_string(), cells[2].parse().unwrap()))
        .collect()
}

#[test]
fn a_dry_run_predicts_a_gpt_step_from_its_launches() {
    let printed = emergent(&[&BABY[..], &["cuda", "--dry-run"]].concat()).unwrap();
    let json = json_of(&printed);
    let get = |key: &str| json[key].as_f64().unwrap_or_else(|| panic!("{key} in {json}"));
    // The products' declared FLOPs against the textbook count (6·N per token for the weights,
    // 12·L·T·C for attention): the same work counted two ways, apart by what one counts and the
    // other does not (the embeddings in N, the elementwise work, the causal half of attention).
    let ratio = get("flops_per_step") / get("model_flops_per_step");
    assert!((0.8..1.2).contains(&ratio), "declared / model FLOPs {ratio}");
    // Weights, gradients and both AdamW moments (f32 each) stay between steps; the activations
    // come on top, and the largest batch is sized from them.
    let parameters: f64 = printed.split(" parameters").next().unwrap().rsplit(' ').next().unwrap().parse().unwrap();
    assert!(get("resident_bytes") >= 16.0 * parameters, "{json}");
    let activations = get("peak_bytes") - get("resident_bytes");
    assert!(activations > 0.0, "{json}");
    let largest = get("largest_batch");
    assert_eq!(largest, (2.0 * ((80u64 << 30) as f64 - get("resident_bytes")) / activations).floor(), "{json}");
    // 2 layer norms per layer of 6 and the final one, forward; one launch each way per norm.
    let launches = launches_by_kernel(&printed);
    let norms: f64 = launches.iter().filter(|(k, _)| k.starts_with("layer_norm_")).map(|(_, n)| n).sum();
    assert_eq!(norms, 2.0 * 13.0, "{launches:?}");
    assert_eq!(launches["adamw_step_multi_tensor"], 1.0);
    let total: f64 = launches.values().sum();
    assert!(total <= get("launches_per_step"));
    assert!(get("predicted_ms") > 0.0 && get("mfu") > 0.0 && get("mfu") < 1.0, "{json}");
    assert!(printed.contains("no kernel run"), "{printed}");
}

/// `--recompute gelu` (bf16, the baby preset's batch of 8 × 256): each MLP's hidden layer is made
/// again in the backward (a second GELU launch for each of the 6 layers) instead of kept from the
/// forward, so the step's peak is lower by at least five of those layers (2048 tokens × 1536 × 2
/// bytes each; the one being recomputed lives again for its backward). Each dry run is a process
/// of its own, whose driver counts only its own memory.
#[test]
fn recomputing_gelu_trades_a_launch_per_layer_for_activation_memory() {
    let kept_args = ["bench", "train", "--preset", "baby", "--device", "cuda", "--dry-run", "--precision", "bf16"];
    let kept = binary(&kept_args, false);
    let recomputed = binary(&[&kept_args[..], &["--recompute", "gelu"]].concat(), false);
    let gelus = |printed: &str| launches_by_kernel(printed)["gelu_forward_bf16_product"];
    assert_eq!((gelus(&kept), gelus(&recomputed)), (6.0, 12.0));
    let peak = |printed: &str| json_of(printed)["peak_bytes"].as_f64().unwrap();
    let saved = peak(&kept) - peak(&recomputed);
    assert!(saved >= 5.0 * 2048.0 * 1536.0 * 2.0, "{saved} bytes less at the peak");
    let e = emergent(&[&kept_args[..], &["--recompute", "everything"]].concat()).unwrap_err();
    assert!(e.contains("invalid value 'everything'") && e.contains("gelu"), "{e}");
}

#[test]
fn a_dry_run_is_for_the_gpu_and_times_nothing() {
    let e = emergent(&[&BABY[..], &["cpu", "--dry-run"]].concat()).unwrap_err();
    assert!(e.contains("--dry-run predicts a GPU step") && e.contains("--device cuda"), "{e}");
    for clash in ["--profile", "--steps=3"] {
        let e = emergent(&[&BABY[..], &["cuda", "--dry-run", clash]].concat()).unwrap_err();
        assert!(e.contains("cannot be used with"), "{clash}: {e}");
    }
}

/// What the binary prints for `args`, with the emulated CUDA libraries asked for or not.
fn binary(args: &[&str], emulated: bool) -> String {
    let mut command = Command::new(env!("CARGO_BIN_EXE_emergent"));
    command.args(args);
    if !emulated {
        command.env_remove("EMERGENT_EMULATE_CUDA");
    }
    let output = command.output().unwrap();
    assert!(output.status.success(), "{args:?}: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).unwrap()
}

#[test]
#[ignore = "needs a CUDA GPU (or the emulator: EMERGENT_EMULATE_CUDA=1, --features kernels/emulator)"]
fn the_dry_run_issues_the_launches_a_real_step_does() {
    // The same step (the one after the warm-up), issued to the null driver and run on the GPU
    // (or the emulator): the same kernels, launched as many times.
    let dry = binary(&[&BABY[..], &["cuda", "--dry-run"]].concat(), false);
    let real = binary(&[&BABY[..], &["cuda", "--profile", "--steps", "1"]].concat(), true);
    let predicted = launches_by_kernel(&dry);
    assert!(predicted.len() > 10 && predicted.keys().any(|k| k.starts_with("cuBLAS")), "{dry}");
    assert_eq!(predicted, launches_by_kernel(&real), "dry run:\n{dry}\nreal:\n{real}");
}
