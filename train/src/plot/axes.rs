//! What every chart shares: step ticks as integers, log-axis ticks in one format, and the legend in
//! the corner where it hides the fewest points.

use plotters::prelude::SeriesLabelPosition;
use std::ops::Range;

/// A step tick: `1000`, never `1000.0`.
pub(crate) fn step_label(x: &f64) -> String {
    format!("{}", x.round() as i64)
}

/// Tick labels for a log axis over `range`, one format for all of them: plain decimals (`0.001`,
/// `0.5`, `20`) when every tick lies between 10⁻³ and 10⁴, else scientific (`1e-5`, `3e2`).
pub(crate) fn log_tick_label(range: &Range<f64>) -> impl Fn(&f64) -> String {
    let plain = range.start >= 1e-3 * 0.999 && range.end < 1e4;
    move |v: &f64| {
        if plain {
            let text = format!("{v:.3}");
            text.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            format!("{v:.0e}")
        }
    }
}

/// The corner of the plot (a box of 40% of its width and height) holding the fewest of `points`,
/// measured in the axes' own scale (`log_x`, `log_y`): where a legend covers the least data.
pub(crate) fn emptiest_corner(
    points: &[(f64, f64)],
    x: &Range<f64>,
    y: &Range<f64>,
    log_x: bool,
    log_y: bool,
) -> SeriesLabelPosition {
    let fraction = |v: f64, r: &Range<f64>, log: bool| {
        let f = |t: f64| if log { t.max(f64::MIN_POSITIVE).ln() } else { t };
        (f(v) - f(r.start)) / (f(r.end) - f(r.start))
    };
    let corners = [
        (SeriesLabelPosition::UpperRight, true, true),
        (SeriesLabelPosition::UpperLeft, false, true),
        (SeriesLabelPosition::LowerRight, true, false),
        (SeriesLabelPosition::LowerLeft, false, false),
    ];
    let inside = |(px, py): (f64, f64), right: bool, upper: bool| {
        let (fx, fy) = (fraction(px, x, log_x), fraction(py, y, log_y));
        (if right { fx >= 0.6 } else { fx <= 0.4 }) && (if upper { fy >= 0.6 } else { fy <= 0.4 })
    };
    corners
        .into_iter()
        .min_by_key(|&(_, right, upper)| points.iter().filter(|&&p| inside(p, right, upper)).count())
        .map_or(SeriesLabelPosition::UpperRight, |(corner, _, _)| corner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_are_integers_and_log_ticks_share_one_format() {
        assert_eq!(step_label(&1000.0), "1000");
        let plain = log_tick_label(&(0.001..10.0));
        assert_eq!([plain(&0.001), plain(&0.01), plain(&0.5), plain(&2.0)], ["0.001", "0.01", "0.5", "2"]);
        let wide = log_tick_label(&(1e-5..1.0));
        assert_eq!([wide(&1e-5), wide(&0.01), wide(&1.0)], ["1e-5", "1e-2", "1e0"]);
    }

    #[test]
    fn the_legend_goes_where_the_data_is_not() {
        // A falling loss curve fills the upper left and the lower right.
        let falling: Vec<(f64, f64)> = (0..100).map(|i| (i as f64, 10.0 / (1.0 + i as f64))).collect();
        let corner = emptiest_corner(&falling, &(0.0..100.0), &(0.05..11.0), false, true);
        assert!(matches!(corner, SeriesLabelPosition::UpperRight), "{corner:?}");
        // A rising accuracy curve fills the lower left and the upper right.
        let rising: Vec<(f64, f64)> = (0..100).map(|i| (i as f64, (i as f64 / 20.0).min(1.0))).collect();
        let corner = emptiest_corner(&rising, &(0.0..100.0), &(0.0..1.0), false, false);
        assert!(matches!(corner, SeriesLabelPosition::LowerRight | SeriesLabelPosition::UpperLeft), "{corner:?}");
    }
}
