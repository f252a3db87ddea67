//! Side-by-side panels of named curves against the step: the plot of every command that compares
//! runs (distillation against a student alone, train against dev, …).

use super::{emptiest_corner, log_tick_label, positive_range, step_label, write_png, DrawResult};
use crate::error::Result;
use plotters::coord::ranged1d::{Ranged, ValueFormatter};
use plotters::coord::types::RangedCoordf64;
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
    /// A log y axis (for losses: the late improvement stays visible after the first drop).
    pub log_y: bool,
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

    /// Draws the y axis on a log scale.
    pub fn log_scale(mut self) -> Self {
        self.log_y = true;
        self
    }

    /// Whether a point can be drawn: finite, and on a log axis positive.
    fn shows(&self, p: &(f64, f64)) -> bool {
        p.1.is_finite() && (!self.log_y || p.1 > 0.0)
    }

    /// Every point of every curve that can be drawn.
    fn points(&self) -> Vec<(f64, f64)> {
        self.curves.iter().flat_map(|(_, c)| c.iter().copied()).filter(|p| self.shows(p)).collect()
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
        let points = panel.points();
        let x = 0.0..points.iter().map(|p| p.0).fold(1.0f64, f64::max);
        let builder = |area| {
            let mut b = ChartBuilder::on(area);
            b.margin(10).caption(&panel.caption, ("sans-serif", 15)).x_label_area_size(35).y_label_area_size(55);
            b
        };
        let values = points.iter().map(|p| p.1).chain(panel.references.iter().map(|r| r.1));
        if panel.log_y {
            let y = positive_range(values);
            let mut chart = builder(&area).build_cartesian_2d(x.clone(), y.clone().log_scale())?;
            chart
                .configure_mesh()
                .x_desc("step")
                .y_desc(&panel.y_label)
                .x_label_formatter(&step_label)
                .y_label_formatter(&log_tick_label(&y))
                .draw()?;
            draw_lines(&mut chart, panel, &points, (&x, &y))?;
        } else {
            let (lo, hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| (lo.min(v), hi.max(v)));
            let (lo, hi) = if lo.is_finite() { (lo.min(0.0), hi.max(lo + 1e-9)) } else { (0.0, 1.0) };
            let y = lo..hi + 0.05 * (hi - lo);
            let mut chart = builder(&area).build_cartesian_2d(x.clone(), y.clone())?;
            chart.configure_mesh().x_desc("step").y_desc(&panel.y_label).x_label_formatter(&step_label).draw()?;
            draw_lines(&mut chart, panel, &points, (&x, &y))?;
        }
    }
    root.present()?;
    Ok(())
}

/// The panel's curves and reference lines, and its legend in the emptiest corner.
fn draw_lines<'a, 'b: 'a, Y>(
    chart: &mut ChartContext<'a, BitMapBackend<'b>, Cartesian2d<RangedCoordf64, Y>>,
    panel: &Panel,
    points: &[(f64, f64)],
    (x, y): (&std::ops::Range<f64>, &std::ops::Range<f64>),
) -> DrawResult
where
    Y: Ranged<ValueType = f64> + ValueFormatter<f64>,
{
    for (i, (name, curve)) in panel.curves.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        let shown: Vec<(f64, f64)> = curve.iter().copied().filter(|p| panel.shows(p)).collect();
        chart
            .draw_series(LineSeries::new(shown, color.stroke_width(2)))?
            .label(name)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 15, y)], color.stroke_width(2)));
    }
    for (name, value) in &panel.references {
        let line = DashedLineSeries::new(vec![(0.0, *value), (x.end, *value)], 6, 4, BLACK.stroke_width(1));
        chart.draw_series(line)?.label(name).legend(|(x, y)| PathElement::new(vec![(x, y), (x + 15, y)], BLACK));
    }
    chart
        .configure_series_labels()
        .position(emptiest_corner(points, x, y, false, panel.log_y))
        .border_style(BLACK)
        .background_style(WHITE.mix(0.8))
        .draw()?;
    Ok(())
}
