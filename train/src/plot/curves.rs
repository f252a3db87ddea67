//! Side-by-side panels of named curves against the step: the plot of every command that compares
//! runs (distillation against a student alone, train against dev, …).

use super::{write_png, DrawResult};
use crate::error::Result;
use plotters::prelude::*;
use std::path::Path;

/// One panel: a caption, a y-axis label, curves of `(step, value)` points, and horizontal
/// reference lines (e.g. the teacher's value).
#[derive(Debug, Clone, Default)]
pub struct Panel {
    pub caption: String,
    pub y_label: String,
    pub curves: Vec<(String, Vec<(f64, f64)>)>,
    pub references: Vec<(String, f64)>,
}

impl Panel {
    pub fn new(caption: &str, y_label: &str) -> Self {
        Self { caption: caption.into(), y_label: y_label.into(), ..Self::default() }
    }

    pub fn curve(mut self, name: &str, points: Vec<(f64, f64)>) -> Self {
        self.curves.push((name.into(), points));
        self
    }

    pub fn reference(mut self, name: &str, value: f64) -> Self {
        self.references.push((name.into(), value));
        self
    }
}

const COLORS: [RGBColor; 6] = [BLUE, RED, RGBColor(0, 150, 0), MAGENTA, RGBColor(230, 130, 0), CYAN];

/// Draws `panels` side by side under `title` as a PNG, written atomically.
pub fn write_curves(path: &Path, title: &str, panels: &[Panel]) -> Result<()> {
    write_png(path, |tmp| draw(tmp, title, panels))
}

fn draw(path: &Path, title: &str, panels: &[Panel]) -> DrawResult {
    let width = 500 * panels.len().max(1) as u32;
    let root = BitMapBackend::new(path, (width, 420)).into_drawing_area();
    root.fill(&WHITE)?;
    let root = root.titled(title, ("sans-serif", 18))?;
    for (panel, area) in panels.iter().zip(root.split_evenly((1, panels.len().max(1)))) {
        let points = || panel.curves.iter().flat_map(|(_, c)| c.iter().copied()).filter(|p| p.1.is_finite());
        let x_max = points().map(|p| p.0).fold(1.0f64, f64::max);
        let values = points().map(|p| p.1).chain(panel.references.iter().map(|r| r.1));
        let (lo, hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| (lo.min(v), hi.max(v)));
        let (lo, hi) = if lo.is_finite() { (lo.min(0.0), hi.max(lo + 1e-9)) } else { (0.0, 1.0) };
        let mut chart = ChartBuilder::on(&area)
            .margin(10)
            .caption(&panel.caption, ("sans-serif", 15))
            .x_label_area_size(35)
            .y_label_area_size(50)
            .build_cartesian_2d(0.0..x_max, lo..hi + 0.05 * (hi - lo))?;
        chart.configure_mesh().x_desc("step").y_desc(&panel.y_label).draw()?;
        for (i, (name, curve)) in panel.curves.iter().enumerate() {
            let color = COLORS[i % COLORS.len()];
            let finite: Vec<(f64, f64)> = curve.iter().copied().filter(|p| p.1.is_finite()).collect();
            chart
                .draw_series(LineSeries::new(finite, color.stroke_width(2)))?
                .label(name)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 15, y)], color.stroke_width(2)));
        }
        for (name, value) in &panel.references {
            let line = DashedLineSeries::new(vec![(0.0, *value), (x_max, *value)], 6, 4, BLACK.stroke_width(1));
            chart.draw_series(line)?.label(name).legend(|(x, y)| PathElement::new(vec![(x, y), (x + 15, y)], BLACK));
        }
        chart.configure_series_labels().border_style(BLACK).background_style(WHITE.mix(0.8)).draw()?;
    }
    root.present()?;
    Ok(())
}
