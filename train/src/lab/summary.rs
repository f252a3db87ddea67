//! Summaries of a sweep: grouping by task, means over seeds, and how abruptly a metric rises.

use super::sweep::SweepPoint;

/// Points grouped by task, tasks in the order they first appear.
pub fn by_task(points: &[SweepPoint]) -> Vec<(String, Vec<SweepPoint>)> {
    let mut groups: Vec<(String, Vec<SweepPoint>)> = Vec::new();
    for p in points {
        match groups.iter_mut().find(|(t, _)| *t == p.task) {
            Some((_, g)) => g.push(p.clone()),
            None => groups.push((p.task.clone(), vec![p.clone()])),
        }
    }
    groups
}

/// `(parameters, mean of metric)` for each model size, sorted by parameters.
pub fn mean_by_params(points: &[SweepPoint], metric: impl Fn(&SweepPoint) -> f64) -> Vec<(f64, f64)> {
    let mut params: Vec<usize> = points.iter().map(|p| p.params).collect();
    params.sort_unstable();
    params.dedup();
    params
        .into_iter()
        .map(|n| {
            let (mean, _) = mean_std(points.iter().filter(|p| p.params == n).map(&metric));
            (n as f64, mean)
        })
        .collect()
}

/// Mean and sample standard deviation (0 for a single value).
pub fn mean_std(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let v: Vec<f64> = values.collect();
    let n = v.len() as f64;
    if v.is_empty() {
        return (f64::NAN, f64::NAN);
    }
    let mean = v.iter().sum::<f64>() / n;
    let var = if v.len() > 1 { v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0) } else { 0.0 };
    (mean, var.sqrt())
}

/// The largest rise between neighbouring sizes as a share of the metric's range over all sizes:
/// near 1 when the metric jumps at one size, near `1/(sizes − 1)` when it climbs evenly. `None`
/// when it never rises or its range is under 0.05.
pub fn largest_step_share(curve: &[(f64, f64)]) -> Option<f64> {
    let (lo, hi) = curve.iter().fold((f64::MAX, f64::MIN), |(l, h), p| (l.min(p.1), h.max(p.1)));
    let largest = curve.windows(2).map(|w| w[1].1 - w[0].1).fold(f64::MIN, f64::max);
    (hi - lo >= 0.05 && largest > 0.0).then(|| largest / (hi - lo))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mean_std_by_hand() {
        let (m, s) = mean_std([1.0, 2.0, 3.0, 4.0].into_iter());
        assert_eq!(m, 2.5);
        assert!((s - (5.0f64 / 3.0).sqrt()).abs() < 1e-12);
        assert_eq!(mean_std([7.0].into_iter()), (7.0, 0.0));
    }

    #[test]
    fn step_share_tells_a_jump_from_a_climb() {
        let jump = [(1.0, 0.0), (2.0, 0.0), (3.0, 0.02), (4.0, 0.9), (5.0, 1.0)];
        let climb = [(1.0, 0.0), (2.0, 0.25), (3.0, 0.5), (4.0, 0.75), (5.0, 1.0)];
        assert!((largest_step_share(&jump).unwrap() - 0.88).abs() < 1e-12);
        assert!((largest_step_share(&climb).unwrap() - 0.25).abs() < 1e-12);
        assert_eq!(largest_step_share(&[(1.0, 0.5), (2.0, 0.52)]), None);
        assert_eq!(largest_step_share(&[(1.0, 0.9), (2.0, 0.5), (3.0, 0.2)]), None);
        // Not monotone: the share is of the range, so at most 1.
        assert_eq!(largest_step_share(&[(1.0, 0.5), (2.0, 0.0), (3.0, 1.0), (4.0, 0.8)]).unwrap(), 1.0);
    }
}
