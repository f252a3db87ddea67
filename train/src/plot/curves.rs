//! Side-by-side panels of named curves against the step: the loss plot of every run, and the plot
//! of every command that compares runs (distillation against a student alone, train against dev, …).

use super::{emptiest_corner, log_tick_label, positive_range, step_label, write_png, DrawResult};
use crate::error::Result;
use plotters::coord::ranged1d::{Ranged, ValueFormatter};
use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;
use std::ops::Range;
use std::path::Path;

/// One curve: `(step, value)` points, with a dot on each when they are few (evaluations).
#[derive(Debug, Clone, Default)]
pub struct Curve {
    pub name: String,
    pub points: Vec<(f64, f64)>,
    pub dots: bool,
}

/// One panel: a caption, a y-axis label, curves, and horizontal reference lines (e.g. the
/// teacher's value).
#[derive(Debug, Clone, Default)]
pub struct Panel {
    pub caption: String,
    pub y_label: String,
    pub curves: Vec<Curve>,
    pub references: Vec<(String, f64)>,
    /// A log y axis where the values span more than [`LOG_SPAN`] (losses: the late improvement
    /// stays visible after the first drop); a narrower span keeps a linear axis, which labels it
    /// better.
    pub log_y: bool,
}

/// The ratio of largest to smallest value from which a [`Panel::log_scale`] panel is drawn on a
/// log axis.
pub const LOG_SPAN: f64 = 20.0;

impl Panel {
    pub fn new(caption: &str, y_label: &str) -> Self {
        Self { caption: caption.into(), y_label: y_label.into(), ..Self::default() }
    }

    pub fn curve(mut self, name: &str, points: Vec<(f64, f64)>) -> Self {
        self.curves.push(Curve { name: name.into(), points, dots: false });
        self
    }

    /// A curve with a dot on every point.
    pub fn dotted(mut self, name: &str, points: Vec<(f64, f64)>) -> Self {
        self.curves.push(Curve { name: name.into(), points, dots: true });
        self
    }

    pub fn reference(mut self, name: &str, value: f64) -> Self {
        self.references.push((name.into(), value));
        self
    }

    /// Draws the y axis on a log scale when the values span more than [`LOG_SPAN`].
    pub fn log_scale(mut self) -> Self {
        self.log_y = true;
        self
    }

    /// Whether a point can be drawn: finite, and on a log axis positive.
    fn shows(&self, p: &(f64, f64), log: bool) -> bool {
        p.1.is_finite() && (!log || p.1 > 0.0)
    }

    /// Whether the y axis is drawn on a log scale.
    fn uses_log(&self) -> bool {
        let values =
            self.curves.iter().flat_map(|c| c.points.iter().map(|p| p.1)).chain(self.references.iter().map(|r| r.1));
        let (lo, hi) =
            values.filter(|v| *v > 0.0 && v.is_finite()).fold((f64::MAX, f64::MIN), |(l, h), v| (l.min(v), h.max(v)));
        self.log_y && lo <= hi && hi / lo > LOG_SPAN
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
        draw_panel(&area, panel)?;
    }
    root.present()?;
    Ok(())
}

/// One panel on `area`: axes (steps as integers; a log y axis labelled in one format, or a linear
/// one), curves, reference lines, and the legend in the emptiest corner.
pub(crate) fn draw_panel(area: &DrawingArea<BitMapBackend<'_>, Shift>, panel: &Panel) -> DrawResult {
    let log = panel.uses_log();
    let points: Vec<(f64, f64)> =
        panel.curves.iter().flat_map(|c| c.points.iter().copied()).filter(|p| panel.shows(p, log)).collect();
    let x = 0.0..points.iter().map(|p| p.0).fold(1.0f64, f64::max);
    let caption = if log { format!("{} (log scale)", panel.caption) } else { panel.caption.clone() };
    let mut builder = ChartBuilder::on(area);
    builder.margin(10).caption(caption, ("sans-serif", 15)).x_label_area_size(35).y_label_area_size(55);
    let values = points.iter().map(|p| p.1).chain(panel.references.iter().map(|r| r.1));
    if log {
        let y = positive_range(values);
        let mut chart = builder.build_cartesian_2d(x.clone(), y.clone().log_scale())?;
        chart
            .configure_mesh()
            .x_desc("step")
            .y_desc(&panel.y_label)
            .x_label_formatter(&step_label)
            .y_label_formatter(&log_tick_label(&y))
            .draw()?;
        draw_lines(&mut chart, panel, &points, (&x, &y), log)
    } else {
        let (lo, hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| (lo.min(v), hi.max(v)));
        let (lo, hi) = if lo.is_finite() { (lo.min(0.0), hi.max(lo + 1e-9)) } else { (0.0, 1.0) };
        let y = lo..hi + 0.05 * (hi - lo);
        let mut chart = builder.build_cartesian_2d(x.clone(), y.clone())?;
        chart.configure_mesh().x_desc("step").y_desc(&panel.y_label).x_label_formatter(&step_label).draw()?;
        draw_lines(&mut chart, panel, &points, (&x, &y), log)
    }
}

/// The panel's curves (with their dots) and reference lines, and its legend in the emptiest corner.
fn draw_lines<'a, 'b: 'a, Y>(
    chart: &mut ChartContext<'a, BitMapBackend<'b>, Cartesian2d<RangedCoordf64, Y>>,
    panel: &Panel,
    points: &[(f64, f64)],
    (x, y): (&Range<f64>, &Range<f64>),
    log: bool,
) -> DrawResult
where
    Y: Ranged<ValueType = f64> + ValueFormatter<f64>,
{
    for (i, curve) in panel.curves.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        let shown: Vec<(f64, f64)> = curve.points.iter().copied().filter(|p| panel.shows(p, log)).collect();
        if curve.dots {
            chart.draw_series(shown.iter().map(|&p| Circle::new(p, 3, color.filled())))?;
        }
        chart
            .draw_series(LineSeries::new(shown, color.stroke_width(2)))?
            .label(&curve.name)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 15, y)], color.stroke_width(2)));
    }
    for (name, value) in &panel.references {
        let line = DashedLineSeries::new(vec![(0.0, *value), (x.end, *value)], 6, 4, BLACK.stroke_width(1));
        chart.draw_series(line)?.label(name).legend(|(x, y)| PathElement::new(vec![(x, y), (x + 15, y)], BLACK));
    }
    chart
        .configure_series_labels()
        .position(emptiest_corner(points, x, y, false, log))
        .border_style(BLACK)
        .background_style(WHITE.mix(0.8))
        .draw()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_log_axis_only_where_the_values_span_enough() {
        let falling = |top: f64| (0..50).map(|i| (i as f64, top / (1.0 + i as f64))).collect::<Vec<_>>();
        assert!(Panel::new("loss", "").log_scale().curve("train", falling(100.0)).uses_log());
        let narrow: Vec<(f64, f64)> = (0..50).map(|i| (i as f64, 3.0 - i as f64 / 50.0)).collect();
        assert!(!Panel::new("loss", "").log_scale().curve("train", narrow).uses_log(), "a span of 1.5 stays linear");
        assert!(!Panel::new("accuracy", "").curve("dev", falling(100.0)).uses_log(), "only when asked for");
    }

    #[test]
    fn draws_dotted_curves_references_and_non_finite_points() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("curves.png");
        let panels = [
            Panel::new("loss", "cross-entropy")
                .log_scale()
                .curve("train", (1..200).map(|i| (i as f64, 5.0 / i as f64)).collect())
                .dotted("validation", vec![(50.0, 0.2), (100.0, f64::NAN), (150.0, 0.05)])
                .reference("teacher", 0.01),
            Panel::new("accuracy", "").dotted("dev", vec![(50.0, 0.4), (100.0, 0.9)]),
        ];
        write_curves(&path, "test", &panels).unwrap();
        assert_eq!(&std::fs::read(&path).unwrap()[1..4], b"PNG");
    }
}
