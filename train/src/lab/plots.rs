//! The lab's pictures: the "mirage" grid (exact match against per-token metrics as models grow),
//! the scaling laws (loss against parameters and compute, log-log, with fitted power laws), and the
//! grokking curves.

use super::fit::{lower_frontier, PowerLaw};
use super::summary::{by_task, mean_by_params};
use super::sweep::SweepPoint;
use crate::plot::{emptiest_corner, log_tick_label, positive_range as log_range, step_label, write_png, DrawResult};
use crate::trainer::MetricsRecord;
use crate::Result;
use plotters::prelude::*;
use std::path::Path;

fn task_color(i: usize) -> RGBColor {
    let palette = [RGBColor(31, 119, 180), RGBColor(214, 39, 40), RGBColor(44, 160, 44), RGBColor(148, 103, 189)];
    palette.get(i).copied().unwrap_or_else(|| {
        let c = Palette99::pick(i).to_rgba();
        RGBColor(c.0, c.1, c.2)
    })
}

/// One row per task, one column per metric, against parameters at the final budget: exact match
/// jumps, per-token accuracy and edit distance move smoothly (Schaeffer et al. 2023).
pub fn write_mirage_plot(path: &Path, points: &[SweepPoint], final_step: u64) -> Result<()> {
    write_png(path, |tmp| draw_mirage(tmp, points, final_step))
}

type Metric = (&'static str, fn(&SweepPoint) -> f64);

const MIRAGE_METRICS: [Metric; 3] = [
    ("exact match", |p| p.exact_match),
    ("per-token accuracy", |p| p.token_accuracy),
    ("token edit distance", |p| p.edit_distance),
];

fn draw_mirage(path: &Path, points: &[SweepPoint], final_step: u64) -> DrawResult {
    let finals: Vec<SweepPoint> = points.iter().filter(|p| p.step == final_step).cloned().collect();
    let tasks = by_task(&finals);
    let rows = tasks.len().max(1);
    let root = BitMapBackend::new(path, (1200, 60 + 260 * rows as u32)).into_drawing_area();
    root.fill(&WHITE)?;
    let root = root.titled(
        "Emergence or mirage? The same models scored two ways (final budget; dots = seeds, line = mean)",
        ("sans-serif", 18),
    )?;
    let panels = root.split_evenly((rows, MIRAGE_METRICS.len()));
    let x_range = log_range(finals.iter().map(|p| p.params as f64));
    for (row, (task, task_points)) in tasks.iter().enumerate() {
        for (col, (name, metric)) in MIRAGE_METRICS.iter().enumerate() {
            let y_max = if col == 2 { task_points.first().map_or(1.0, |p| p.answer_len as f64) } else { 1.0 };
            let mut chart = ChartBuilder::on(&panels[row * MIRAGE_METRICS.len() + col])
                .margin(8)
                .caption(format!("{task}: {name}"), ("sans-serif", 15))
                .x_label_area_size(30)
                .y_label_area_size(40)
                .build_cartesian_2d(x_range.clone().log_scale(), 0.0..y_max * 1.02)?;
            chart.configure_mesh().x_desc("parameters").x_label_formatter(&|x| format!("{x:.0e}")).draw()?;
            let color = task_color(row);
            chart.draw_series(
                task_points.iter().map(|p| Circle::new((p.params as f64, metric(p)), 3, color.mix(0.5).filled())),
            )?;
            let means = mean_by_params(task_points, *metric);
            chart.draw_series(LineSeries::new(means.iter().map(|m| (m.0, m.1)), color.stroke_width(2)))?;
            if col == 0 {
                // What exact match would be with each of the L answer tokens right independently.
                let predicted = mean_by_params(task_points, |p| p.token_accuracy.powi(p.answer_len as i32));
                chart
                    .draw_series(DashedLineSeries::new(predicted, 5, 4, BLACK.mix(0.6).into()))?
                    .label("per-token accuracy^L")
                    .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 15, y)], BLACK.mix(0.6)));
                let shown: Vec<(f64, f64)> = task_points.iter().map(|p| (p.params as f64, metric(p))).collect();
                let corner = emptiest_corner(&shown, &x_range, &(0.0..y_max * 1.02), true, false);
                chart
                    .configure_series_labels()
                    .position(corner)
                    .border_style(BLACK)
                    .background_style(WHITE.mix(0.8))
                    .draw()?;
            }
        }
    }
    root.present()?;
    Ok(())
}

/// Left: validation loss against parameters at the final budget, with the power law fitted to the
/// per-size means. Right: every budget of every run against training compute, with the power law
/// fitted to the compute-efficient frontier.
pub fn write_scaling_plot(path: &Path, points: &[SweepPoint], final_step: u64) -> Result<()> {
    write_png(path, |tmp| draw_scaling(tmp, points, final_step))
}

fn draw_scaling(path: &Path, points: &[SweepPoint], final_step: u64) -> DrawResult {
    let root = BitMapBackend::new(path, (1200, 480)).into_drawing_area();
    root.fill(&WHITE)?;
    let root = root.titled("Scaling laws: validation loss (log-log) with fitted power laws", ("sans-serif", 18))?;
    let (left, right) = root.split_horizontally(600);
    let tasks = by_task(points);
    let loss_range = log_range(points.iter().map(|p| p.val_loss));

    let finals: Vec<&SweepPoint> = points.iter().filter(|p| p.step == final_step).collect();
    let x_range = log_range(finals.iter().map(|p| p.params as f64));
    let caption = "loss against parameters (final budget)";
    let mut chart = loss_chart(&left, caption, x_range.clone(), loss_range.clone(), "parameters")?;
    for (i, (task, task_points)) in tasks.iter().enumerate() {
        let color = task_color(i);
        let finals: Vec<SweepPoint> = task_points.iter().filter(|p| p.step == final_step).cloned().collect();
        let means = mean_by_params(&finals, |p| p.val_loss);
        chart.draw_series(
            finals.iter().map(|p| Circle::new((p.params as f64, p.val_loss), 3, color.mix(0.4).filled())),
        )?;
        let fit = PowerLaw::fit(&means);
        let label = fit.map_or(task.to_string(), |f| format!("{task}: L ∝ N^{:.2}", f.exponent));
        chart
            .draw_series(LineSeries::new(means.clone(), color.stroke_width(2)))?
            .label(label)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 15, y)], color));
        if let Some(fit) = fit {
            let ends = [means[0].0, means[means.len() - 1].0];
            chart.draw_series(DashedLineSeries::new(ends.map(|x| (x, fit.predict(x))), 6, 4, color.into()))?;
        }
    }
    let shown: Vec<(f64, f64)> = finals.iter().map(|p| (p.params as f64, p.val_loss)).collect();
    let corner = emptiest_corner(&shown, &x_range, &loss_range, true, true);
    chart.configure_series_labels().position(corner).border_style(BLACK).background_style(WHITE.mix(0.8)).draw()?;

    let x_range = log_range(points.iter().map(|p| p.flops));
    let caption = "loss against training compute (every budget)";
    let mut chart = loss_chart(&right, caption, x_range.clone(), loss_range.clone(), "compute C = 6·N·D (FLOPs)")?;
    for (i, (task, task_points)) in tasks.iter().enumerate() {
        let color = task_color(i);
        chart
            .draw_series(task_points.iter().map(|p| Circle::new((p.flops, p.val_loss), 2, color.mix(0.35).filled())))?;
        let frontier = lower_frontier(&task_points.iter().map(|p| (p.flops, p.val_loss)).collect::<Vec<_>>());
        let series = chart.draw_series(LineSeries::new(frontier.clone(), color.stroke_width(2)))?;
        let label = match PowerLaw::fit(&frontier) {
            Some(fit) => format!("{task} frontier: L ∝ C^{:.2}", fit.exponent),
            None => format!("{task} frontier"),
        };
        series.label(label).legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 15, y)], color));
    }
    let shown: Vec<(f64, f64)> = points.iter().map(|p| (p.flops, p.val_loss)).collect();
    let corner = emptiest_corner(&shown, &x_range, &loss_range, true, true);
    chart.configure_series_labels().position(corner).border_style(BLACK).background_style(WHITE.mix(0.8)).draw()?;
    root.present()?;
    Ok(())
}

type LogLog = Cartesian2d<LogCoord<f64>, LogCoord<f64>>;

/// A log-log chart of validation loss against `x_desc`, with its mesh drawn.
fn loss_chart<'a, 'b>(
    area: &'a DrawingArea<BitMapBackend<'b>, plotters::coord::Shift>,
    caption: &str,
    x_range: std::ops::Range<f64>,
    loss_range: std::ops::Range<f64>,
    x_desc: &str,
) -> std::result::Result<ChartContext<'a, BitMapBackend<'b>, LogLog>, Box<dyn std::error::Error>> {
    let mut chart = ChartBuilder::on(area)
        .margin(10)
        .caption(caption, ("sans-serif", 15))
        .x_label_area_size(35)
        .y_label_area_size(55)
        .build_cartesian_2d(x_range.log_scale(), loss_range.clone().log_scale())?;
    chart
        .configure_mesh()
        .x_desc(x_desc)
        .y_desc("validation loss")
        .x_label_formatter(&|x| format!("{x:.0e}"))
        .y_label_formatter(&log_tick_label(&loss_range))
        .draw()?;
    Ok(chart)
}

/// Grokking: accuracies and losses against steps (log scale), and the weight norm. The noisy curves
/// are drawn one pixel wide: plotters joins thicker polylines with miters, which throw long spikes
/// at the sharp reversals of loss spikes.
pub fn write_grokking_plot(path: &Path, records: &[MetricsRecord], title: &str) -> Result<()> {
    write_png(path, |tmp| draw_grokking(tmp, records, title))
}

fn draw_grokking(path: &Path, records: &[MetricsRecord], title: &str) -> DrawResult {
    let evals: Vec<&MetricsRecord> = records.iter().filter(|r| r.val_acc.is_some() && r.step > 0).collect();
    let root = BitMapBackend::new(path, (1500, 450)).into_drawing_area();
    root.fill(&WHITE)?;
    let root = root.titled(title, ("sans-serif", 18))?;
    let panels = root.split_evenly((1, 3));
    let steps = 1.0..evals.last().map_or(10.0, |r| r.step as f64) * 1.1;
    let line = |f: fn(&MetricsRecord) -> Option<f64>| -> Vec<(f64, f64)> {
        evals.iter().filter_map(|r| f(r).map(|v| (r.step as f64, v))).collect()
    };
    type Curve = (&'static str, RGBColor, fn(&MetricsRecord) -> Option<f64>);
    let accuracies: [Curve; 2] = [("train", BLUE, |r| r.train_acc), ("validation", RED, |r| r.val_acc)];
    let mut chart = ChartBuilder::on(&panels[0])
        .margin(10)
        .caption("accuracy", ("sans-serif", 15))
        .x_label_area_size(35)
        .y_label_area_size(45)
        .build_cartesian_2d(steps.clone().log_scale(), 0.0..1.02)?;
    chart.configure_mesh().x_desc("step (log scale)").x_label_formatter(&step_label).draw()?;
    for (name, color, f) in accuracies {
        chart
            .draw_series(LineSeries::new(line(f), &color))?
            .label(name)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 15, y)], color));
    }
    let shown: Vec<(f64, f64)> = accuracies.iter().flat_map(|(_, _, f)| line(*f)).collect();
    let corner = emptiest_corner(&shown, &steps, &(0.0..1.02), true, false);
    chart.configure_series_labels().position(corner).border_style(BLACK).background_style(WHITE.mix(0.8)).draw()?;

    let losses: [Curve; 2] = [("train", BLUE, |r| Some(r.train_loss)), ("validation", RED, |r| r.val_loss)];
    // Losses reach exactly 0 in f32; show them at the floor of the axis.
    let floor = 1e-7;
    let loss_range = log_range(losses.iter().flat_map(|(_, _, f)| line(*f)).map(|p| p.1.max(floor)));
    let mut chart = ChartBuilder::on(&panels[1])
        .margin(10)
        .caption("loss", ("sans-serif", 15))
        .x_label_area_size(35)
        .y_label_area_size(55)
        .build_cartesian_2d(steps.clone().log_scale(), loss_range.clone().log_scale())?;
    chart
        .configure_mesh()
        .x_desc("step (log scale)")
        .x_label_formatter(&step_label)
        .y_label_formatter(&log_tick_label(&loss_range))
        .draw()?;
    for (name, color, f) in losses {
        let points: Vec<(f64, f64)> =
            line(f).into_iter().map(|(x, y)| (x, y.clamp(loss_range.start, loss_range.end))).collect();
        chart
            .draw_series(LineSeries::new(points, &color))?
            .label(name)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 15, y)], color));
    }
    let shown: Vec<(f64, f64)> = losses.iter().flat_map(|(_, _, f)| line(*f)).map(|(x, y)| (x, y.max(floor))).collect();
    let corner = emptiest_corner(&shown, &steps, &loss_range, true, true);
    chart.configure_series_labels().position(corner).border_style(BLACK).background_style(WHITE.mix(0.8)).draw()?;

    let norms = line(|r| r.weight_norm);
    let top = norms.iter().map(|p| p.1).fold(1.0f64, f64::max);
    let mut chart = ChartBuilder::on(&panels[2])
        .margin(10)
        .caption("weight norm ‖θ‖₂", ("sans-serif", 15))
        .x_label_area_size(35)
        .y_label_area_size(45)
        .build_cartesian_2d(steps.log_scale(), 0.0..top * 1.05)?;
    chart.configure_mesh().x_desc("step (log scale)").x_label_formatter(&step_label).draw()?;
    chart.draw_series(LineSeries::new(norms, GREEN.stroke_width(2)))?;
    root.present()?;
    Ok(())
}
