//! `loss.png`: the training curves, drawn with plotters and the DejaVu font bundled by the `dejavu`
//! crate (no system fonts needed).

mod curves;

pub use curves::{write_curves, Panel};

use crate::error::{Result, TrainError};
use crate::trainer::MetricsRecord;
use plotters::prelude::*;
use std::path::Path;
use std::sync::Once;

fn register_font() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // The bundled font is valid OpenType; failure would only mean plots without text.
        let _ = plotters::style::register_font("sans-serif", FontStyle::Normal, dejavu::sans::regular());
    });
}

/// Left: train and validation loss against step. Right: exact match (the task metric) if the run
/// has one, else validation perplexity. Written atomically (temp file, rename).
pub fn write_loss_plot(path: &Path, records: &[MetricsRecord], title: &str) -> Result<()> {
    write_png(path, |tmp| draw(tmp, records, title))
}

pub(crate) type DrawResult = std::result::Result<(), Box<dyn std::error::Error>>;

/// Draws a PNG with `draw` into a temporary file beside `path`, then renames it into place (a
/// reader never sees half a picture).
pub(crate) fn write_png(path: &Path, draw: impl FnOnce(&Path) -> DrawResult) -> Result<()> {
    register_font();
    let tmp = path.with_extension("tmp.png");
    draw(&tmp).map_err(|e| TrainError::format(path, format!("cannot draw the plot: {e}")))?;
    std::fs::rename(&tmp, path).map_err(|e| TrainError::io(path, e))
}

fn draw(path: &Path, records: &[MetricsRecord], title: &str) -> DrawResult {
    let root = BitMapBackend::new(path, (1000, 420)).into_drawing_area();
    root.fill(&WHITE)?;
    let root = root.titled(title, ("sans-serif", 20))?;
    let (left, right) = root.split_horizontally(500);
    let last_step = records.last().map_or(1, |r| r.step.max(1)) as f64;

    let train: Vec<(f64, f64)> = records.iter().map(|r| (r.step as f64, r.train_loss)).collect();
    let val: Vec<(f64, f64)> = records.iter().filter_map(|r| r.val_loss.map(|v| (r.step as f64, v))).collect();
    let max_loss = train.iter().chain(&val).map(|p| p.1).filter(|v| v.is_finite()).fold(0.1f64, f64::max);
    let mut chart = ChartBuilder::on(&left)
        .margin(10)
        .x_label_area_size(35)
        .y_label_area_size(50)
        .caption("loss", ("sans-serif", 16))
        .build_cartesian_2d(0.0..last_step, 0.0..max_loss * 1.05)?;
    chart.configure_mesh().x_desc("step").y_desc("cross-entropy").draw()?;
    chart
        .draw_series(LineSeries::new(train, &BLUE))?
        .label("train")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 15, y)], BLUE));
    chart
        .draw_series(LineSeries::new(val.clone(), &RED))?
        .label("validation")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 15, y)], RED));
    chart.draw_series(val.iter().map(|&p| Circle::new(p, 3, RED.filled())))?;
    chart.configure_series_labels().border_style(BLACK).background_style(WHITE.mix(0.8)).draw()?;

    let exact: Vec<(f64, f64)> = records.iter().filter_map(|r| r.exact_match.map(|v| (r.step as f64, v))).collect();
    let (series, caption, y_max) = if !exact.is_empty() {
        (exact, "exact match on held-out problems", 1.0)
    } else {
        let ppl: Vec<(f64, f64)> =
            records.iter().filter_map(|r| r.val_perplexity.map(|v| (r.step as f64, v))).collect();
        let top = ppl.iter().map(|p| p.1).filter(|v| v.is_finite()).fold(1.0f64, f64::max);
        (ppl, "validation perplexity", top * 1.05)
    };
    let mut chart = ChartBuilder::on(&right)
        .margin(10)
        .x_label_area_size(35)
        .y_label_area_size(50)
        .caption(caption, ("sans-serif", 16))
        .build_cartesian_2d(0.0..last_step, 0.0..y_max)?;
    chart.configure_mesh().x_desc("step").draw()?;
    chart.draw_series(LineSeries::new(series.clone(), &GREEN.mix(0.9)))?;
    chart.draw_series(series.iter().map(|&p| Circle::new(p, 3, GREEN.filled())))?;
    root.present()?;
    Ok(())
}

/// Attention maps as one PNG: a row per layer, a column per head, each a `T × T` heatmap (query
/// down, key across; darker = more attention) with the tokens on the axes. `maps[l]` is
/// `(1, heads, T, T)`.
pub fn write_attention_grid(path: &Path, maps: &[tensor::Tensor], tokens: &[String], title: &str) -> Result<()> {
    write_png(path, |tmp| draw_attention(tmp, maps, tokens, title))
}

fn draw_attention(path: &Path, maps: &[tensor::Tensor], tokens: &[String], title: &str) -> DrawResult {
    let (layers, heads) = (maps.len(), maps.first().map_or(0, |m| m.shape()[1]));
    let t = tokens.len();
    let cell = 240u32;
    let root = BitMapBackend::new(path, (cell * heads.max(1) as u32 + 40, cell * layers.max(1) as u32 + 50))
        .into_drawing_area();
    root.fill(&WHITE)?;
    let root = root.titled(title, ("sans-serif", 18))?;
    let panels = root.split_evenly((layers.max(1), heads.max(1)));
    let label = |i: usize| tokens.get(i).map(|s| s.escape_debug().to_string()).unwrap_or_default();
    for (l, map) in maps.iter().enumerate() {
        let p = map.to_f64_vec();
        for h in 0..heads {
            let area = &panels[l * heads + h];
            let mut chart = ChartBuilder::on(area)
                .margin(4)
                .caption(format!("layer {l} head {h}"), ("sans-serif", 13))
                .x_label_area_size(28)
                .y_label_area_size(40)
                .build_cartesian_2d(0f64..t as f64, t as f64..0f64)?;
            chart
                .configure_mesh()
                .disable_mesh()
                .x_labels(t.min(16))
                .y_labels(t.min(16))
                .x_label_formatter(&|x| label(*x as usize))
                .y_label_formatter(&|y| label(*y as usize))
                .label_style(("sans-serif", 10))
                .draw()?;
            let base = h * t * t;
            chart.draw_series((0..t).flat_map(|q| (0..t).map(move |k| (q, k))).map(|(q, k)| {
                let v = p[base + q * t + k].clamp(0.0, 1.0);
                let shade = (255.0 * (1.0 - v)) as u8;
                Rectangle::new(
                    [(k as f64, q as f64), (k as f64 + 1.0, q as f64 + 1.0)],
                    RGBColor(shade, shade, 255).filled(),
                )
            }))?;
        }
    }
    root.present()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_a_png() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("loss.png");
        let records: Vec<MetricsRecord> = (0..20)
            .map(|s| MetricsRecord {
                step: s * 10,
                train_loss: 2.0 / (1.0 + s as f64),
                lr: 1e-3,
                val_loss: (s % 5 == 0).then(|| 2.2 / (1.0 + s as f64)),
                val_perplexity: None,
                exact_match: (s % 5 == 0).then(|| s as f64 / 20.0),
                tokens_per_s: 1000.0,
                elapsed_s: s as f64,
                ..MetricsRecord::default()
            })
            .collect();
        write_loss_plot(&path, &records, "test run").unwrap();
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(&bytes[1..4], b"PNG");
        assert!(bytes.len() > 5000, "a real picture, not an empty canvas");
    }

    #[test]
    fn draws_an_attention_grid() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("attention.png");
        let maps = vec![
            tensor::Tensor::tril_mask(3, 3, 0)
                .to_dtype(tensor::DType::F32)
                .broadcast_to(&[1, 2, 3, 3])
                .unwrap()
                .contiguous();
            2
        ];
        let tokens: Vec<String> = ["a", "b", "c"].iter().map(|s| s.to_string()).collect();
        write_attention_grid(&path, &maps, &tokens, "test").unwrap();
        assert_eq!(&std::fs::read(&path).unwrap()[1..4], b"PNG");
    }
}
