//! The sweep's CSV (every evaluation of every run) and its markdown report.

use super::fit::{lower_frontier, PowerLaw};
use super::summary::{by_task, largest_step_share, mean_by_params, mean_std};
use super::sweep::{SweepConfig, SweepPoint, MIRAGE_PLOT, SCALING_PLOT};
use crate::error::Result;
use model::checkpoint::write_atomically;
use std::fmt::Write;
use std::path::Path;

const CSV_HEADER: &str =
    "task,size,n_layer,n_embd,n_head,params,seed,step,tokens,flops,val_loss,token_accuracy,edit_distance,exact_match";

/// One line per evaluation of every run.
pub fn write_csv(path: &Path, points: &[SweepPoint]) -> Result<()> {
    let mut text = format!("{CSV_HEADER}\n");
    for p in points {
        let s = p.size;
        writeln!(
            text,
            "{},{},{},{},{},{},{},{},{},{:.6e},{:.6},{:.6},{:.6},{:.6}",
            p.task,
            s,
            s.n_layer,
            s.n_embd,
            s.n_head,
            p.params,
            p.seed,
            p.step,
            p.tokens,
            p.flops,
            p.val_loss,
            p.token_accuracy,
            p.edit_distance,
            p.exact_match
        )
        .expect("writing to a String");
    }
    Ok(write_atomically(path, text.as_bytes())?)
}

fn fit_text(fit: Option<PowerLaw>, x: &str) -> String {
    match fit {
        Some(f) => format!(
            "L ≈ {:.3e} · {x}^({:.3} ± {:.3}), R² = {:.2} ({} points)",
            f.coefficient, f.exponent, f.exponent_stderr, f.r_squared, f.points
        ),
        None => "too few points to fit".into(),
    }
}

fn share_text(share: Option<f64>) -> String {
    share.map_or("does not rise".into(), |s| format!("{:.0}%", 100.0 * s))
}

/// `report.md`: the configuration, a table per task at the final budget, how abruptly each
/// metric rises with size, and the power-law fits.
pub fn write_report(path: &Path, cfg: &SweepConfig, points: &[SweepPoint]) -> Result<()> {
    let mut md = String::new();
    let w = &mut md;
    let sizes: Vec<String> = cfg.sizes.iter().map(|s| s.to_string()).collect();
    let _ = writeln!(w, "# Scaling sweep: emergence or mirage?\n");
    let _ = writeln!(
        w,
        "Tasks {}; sizes {} (layers x width h heads); {} seeds; {} steps of batch {} (AdamW, lr {} after {} \
         warm-up steps, then constant), evaluated {} times on {} held-out problems. Made by `emergent lab scaling`.\n",
        cfg.tasks.join(", "),
        sizes.join(", "),
        cfg.seeds,
        cfg.steps,
        cfg.batch_size,
        cfg.lr,
        cfg.warmup,
        cfg.evals,
        cfg.held_out
    );
    let _ = writeln!(w, "![exact match against per-token metrics]({MIRAGE_PLOT})\n\n![scaling laws]({SCALING_PLOT})\n");
    let _ = writeln!(
        w,
        "Metrics at the final budget, mean ± standard deviation over seeds. *Per-token accuracy* is \
         teacher-forced (each answer character given the true ones before it); *edit distance* is the \
         Levenshtein distance between the greedily generated answer and the truth, in characters; *exact \
         match* needs the whole generated answer right. `acc^L` is what exact match would be if each of the L \
         answer characters were right independently with the per-token accuracy (Schaeffer et al. 2023).\n"
    );
    for (task, task_points) in by_task(points) {
        let finals: Vec<SweepPoint> = task_points.iter().filter(|p| p.step == cfg.steps).cloned().collect();
        let answer_len = finals.first().map_or(1, |p| p.answer_len);
        let _ = writeln!(w, "## {task} (answer of {answer_len} characters)\n");
        let _ =
            writeln!(w, "| size | parameters | val loss | per-token accuracy | edit distance | exact match | acc^L |");
        let _ = writeln!(w, "|---|---|---|---|---|---|---|");
        for size in &cfg.sizes {
            let of_size: Vec<&SweepPoint> = finals.iter().filter(|p| p.size == *size).collect();
            let Some(first) = of_size.first() else { continue };
            let stat = |f: fn(&SweepPoint) -> f64| {
                let (m, s) = mean_std(of_size.iter().map(|p| f(p)));
                format!("{m:.3} ± {s:.3}")
            };
            let (acc, _) = mean_std(of_size.iter().map(|p| p.token_accuracy));
            let _ = writeln!(
                w,
                "| {size} | {} | {} | {} | {} | {} | {:.3} |",
                first.params,
                stat(|p| p.val_loss),
                stat(|p| p.token_accuracy),
                stat(|p| p.edit_distance),
                stat(|p| p.exact_match),
                acc.powi(answer_len as i32)
            );
        }
        let exact = mean_by_params(&finals, |p| p.exact_match);
        let token = mean_by_params(&finals, |p| p.token_accuracy);
        let edit = mean_by_params(&finals, |p| 1.0 - p.edit_distance / answer_len as f64);
        let _ = writeln!(
            w,
            "\nLargest rise between neighbouring sizes, as a share of the metric's range over all sizes \
             (100% = all at one size, {:.0}% = an even climb): exact match {}, per-token accuracy {}, \
             1 − edit distance/L {}.\n",
            100.0 / (cfg.sizes.len().max(2) - 1) as f64,
            share_text(largest_step_share(&exact)),
            share_text(largest_step_share(&token)),
            share_text(largest_step_share(&edit))
        );
        let predicted = mean_by_params(&finals, |p| p.token_accuracy.powi(answer_len as i32));
        let gap = exact.iter().zip(&predicted).map(|(e, p)| (e.1 - p.1).abs()).sum::<f64>() / exact.len().max(1) as f64;
        let _ = writeln!(
            w,
            "Exact match against per-token accuracy^L: mean absolute difference {gap:.3} over the sizes (how much \
             of the exact-match curve the per-token curve already explains).\n"
        );
        let loss_by_params = PowerLaw::fit(&mean_by_params(&finals, |p| p.val_loss));
        let frontier = lower_frontier(&task_points.iter().map(|p| (p.flops, p.val_loss)).collect::<Vec<_>>());
        let _ = writeln!(w, "- loss against parameters N (means over seeds): {}", fit_text(loss_by_params, "N"));
        let _ = writeln!(
            w,
            "- loss against compute C = 6·N·D on the compute-efficient frontier: {}\n",
            fit_text(PowerLaw::fit(&frontier), "C")
        );
    }
    Ok(write_atomically(path, md.as_bytes())?)
}
