//! `loss.png`: the training curves, drawn with plotters and the DejaVu font bundled by the `dejavu`
//! crate (no system fonts needed).

mod axes;
mod curves;

pub(crate) use axes::{emptiest_corner, log_tick_label, step_label};

pub use curves::{write_curves, Curve, Panel, LOG_SPAN};

use crate::error::{Result, TrainError};
use crate::metrics::MetricsRecord;
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
    let at = |f: fn(&MetricsRecord) -> Option<f64>| -> Vec<(f64, f64)> {
        records.iter().filter_map(|r| f(r).map(|v| (r.step as f64, v))).collect()
    };
    let loss = Panel::new("loss", "cross-entropy")
        .log_scale()
        .curve("train", at(|r| Some(r.train_loss)))
        .dotted("validation", at(|r| r.val_loss));
    curves::draw_panel(&left, &loss)?;
    let exact = at(|r| r.exact_match);
    let task = if exact.is_empty() {
        Panel::new("validation perplexity", "").log_scale().dotted("perplexity", at(|r| r.val_perplexity))
    } else {
        Panel::new("exact match on held-out problems", "").dotted("exact match", exact)
    };
    curves::draw_panel(&right, &task)?;
    root.present()?;
    Ok(())
}

/// The range of the positive, finite values, widened a little on a log scale (`1..10` if none).
pub(crate) fn positive_range(values: impl Iterator<Item = f64>) -> std::ops::Range<f64> {
    let (lo, hi) =
        values.filter(|v| *v > 0.0 && v.is_finite()).fold((f64::MAX, f64::MIN), |(l, h), v| (l.min(v), h.max(v)));
    if lo > hi {
        return 1.0..10.0;
    }
    lo / 1.3..(hi * 1.3).max(lo * 1.5)
}

/// Attention maps as one PNG: a row per layer, a column per head, each a `T × T` heatmap with the
/// query (the token attending) down the side and the key (the token attended to) across, every token
/// labelled, darker = more attention, and a colour bar for the scale. `maps[l]` is
/// `(1, heads, T, T)`.
pub fn write_attention_grid(path: &Path, maps: &[tensor::Tensor], tokens: &[String], title: &str) -> Result<()> {
    write_png(path, |tmp| draw_attention(tmp, maps, tokens, title))
}

/// The heatmap's colour for an attention weight in 0..=1: white to deep blue.
fn attention_color(weight: f64) -> RGBColor {
    let shade = (255.0 * (1.0 - weight.clamp(0.0, 1.0))) as u8;
    RGBColor(shade, shade, 255)
}

fn draw_attention(path: &Path, maps: &[tensor::Tensor], tokens: &[String], title: &str) -> DrawResult {
    let (layers, heads) = (maps.len().max(1), maps.first().map_or(1, |m| m.shape()[1].max(1)));
    let t = tokens.len();
    // Cells large enough for every token's label; labels shrink (to 8 px) before any is left out.
    let font = (240 / t.max(1)).clamp(8, 12) as u32;
    let longest = tokens.iter().map(|s| s.escape_debug().count()).max().unwrap_or(1).min(12) as u32;
    let label_room = 30 + longest * font * 6 / 10;
    let cell = (t as u32 * (font + 3) + label_room + 40).max(260);
    let bar = 100;
    let root = BitMapBackend::new(path, (cell * heads as u32 + bar, cell * layers as u32 + 50)).into_drawing_area();
    root.fill(&WHITE)?;
    let root = root.titled(title, ("sans-serif", 18))?;
    let (grid, legend) = root.split_horizontally(cell * heads as u32);
    let panels = grid.split_evenly((layers, heads));
    let label = |v: &SegmentValue<i32>| match v {
        SegmentValue::CenterOf(i) | SegmentValue::Exact(i) => {
            // A space shows as ␣, a newline as \n: no token is drawn blank.
            tokens.get(*i as usize).map(|s| s.escape_debug().to_string().replace(' ', "␣")).unwrap_or_default()
        }
        SegmentValue::Last => String::new(),
    };
    // Rows run top to bottom: query q is drawn at y = T − 1 − q.
    let query_label = |v: &SegmentValue<i32>| match v {
        SegmentValue::CenterOf(i) | SegmentValue::Exact(i) => label(&SegmentValue::CenterOf(t as i32 - 1 - i)),
        SegmentValue::Last => String::new(),
    };
    for (l, map) in maps.iter().enumerate() {
        let p = map.to_f64_vec();
        for h in 0..heads {
            let mut chart = ChartBuilder::on(&panels[l * heads + h])
                .margin(6)
                .caption(format!("layer {l} head {h}"), ("sans-serif", 13))
                .x_label_area_size(label_room)
                .y_label_area_size(label_room)
                .build_cartesian_2d((0..t as i32).into_segmented(), (0..t as i32).into_segmented())?;
            chart
                .configure_mesh()
                .disable_mesh()
                .x_labels(t)
                .y_labels(t)
                .x_label_formatter(&label)
                .y_label_formatter(&query_label)
                .x_label_style(("sans-serif", font).into_font().transform(FontTransform::Rotate90))
                .y_label_style(("sans-serif", font))
                .x_desc("key (attended to)")
                .y_desc("query (attending)")
                .axis_desc_style(("sans-serif", 12))
                .draw()?;
            let base = h * t * t;
            chart.draw_series((0..t).flat_map(|q| (0..t).map(move |k| (q, k))).map(|(q, k)| {
                let y = (t - 1 - q) as i32;
                Rectangle::new(
                    [
                        (SegmentValue::Exact(k as i32), SegmentValue::Exact(y)),
                        (SegmentValue::Exact(k as i32 + 1), SegmentValue::Exact(y + 1)),
                    ],
                    attention_color(p[base + q * t + k]).filled(),
                )
            }))?;
        }
    }
    let mut scale = ChartBuilder::on(&legend)
        .margin_top(40)
        .margin_bottom(60)
        .margin_right(10)
        .y_label_area_size(45)
        .caption("weight", ("sans-serif", 12))
        .build_cartesian_2d(0.0..1.0, 0.0..1.0)?;
    scale
        .configure_mesh()
        .disable_mesh()
        .disable_x_axis()
        .y_labels(6)
        .y_label_formatter(&|v| format!("{v:.1}"))
        .y_label_style(("sans-serif", 12))
        .draw()?;
    scale.draw_series((0..100).map(|i| {
        let (lo, hi) = (i as f64 / 100.0, (i + 1) as f64 / 100.0);
        Rectangle::new([(0.0, lo), (1.0, hi)], attention_color(lo).filled())
    }))?;
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
