//! Classification scores (F15): accuracy, and precision / recall / F1 per class with their
//! macro average.

/// Precision, recall and F1 of one class, and how many true examples it has (its support).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ClassScore {
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    pub support: usize,
}

/// Scores of predictions against the truth for `classes` classes.
#[derive(Debug, Clone, PartialEq)]
pub struct ClassificationScores {
    pub accuracy: f64,
    pub per_class: Vec<ClassScore>,
    /// Mean F1 over the classes (each class counts the same).
    pub macro_f1: f64,
    /// `confusion[truth][predicted]`.
    pub confusion: Vec<Vec<usize>>,
}

impl ClassificationScores {
    /// `accuracy = #correct / n`; for class `c`, with `TP, FP, FN` its true positives, false
    /// positives and false negatives: `P = TP/(TP+FP)`, `R = TP/(TP+FN)`, `F1 = 2PR/(P+R)`
    /// (0 where a denominator is 0, as scikit-learn reports it).
    pub fn new(predicted: &[usize], truth: &[usize], classes: usize) -> Self {
        let mut confusion = vec![vec![0usize; classes]; classes];
        for (&p, &t) in predicted.iter().zip(truth) {
            confusion[t.min(classes - 1)][p.min(classes - 1)] += 1;
        }
        let ratio = |a: usize, b: usize| if b == 0 { 0.0 } else { a as f64 / b as f64 };
        let per_class: Vec<ClassScore> = (0..classes)
            .map(|c| {
                let tp = confusion[c][c];
                let predicted_c: usize = confusion.iter().map(|row| row[c]).sum();
                let support: usize = confusion[c].iter().sum();
                let (precision, recall) = (ratio(tp, predicted_c), ratio(tp, support));
                let f1 = if precision + recall == 0.0 { 0.0 } else { 2.0 * precision * recall / (precision + recall) };
                ClassScore { precision, recall, f1, support }
            })
            .collect();
        let correct: usize = (0..classes).map(|c| confusion[c][c]).sum();
        let macro_f1 = per_class.iter().map(|s| s.f1).sum::<f64>() / classes.max(1) as f64;
        Self { accuracy: ratio(correct, predicted.len().min(truth.len())), per_class, macro_f1, confusion }
    }

    /// The F1 reported for the task: of the positive class (id 1) for two classes, as is usual for
    /// binary tasks; the macro average otherwise.
    pub fn f1(&self) -> f64 {
        if self.per_class.len() == 2 {
            self.per_class[1].f1
        } else {
            self.macro_f1
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_by_hand() {
        // truth:     1 1 1 0 0 0 0 1
        // predicted: 1 1 0 0 1 0 0 1  → TP 3, FN 1, FP 1, TN 3.
        let s = ClassificationScores::new(&[1, 1, 0, 0, 1, 0, 0, 1], &[1, 1, 1, 0, 0, 0, 0, 1], 2);
        assert_eq!(s.accuracy, 6.0 / 8.0);
        assert_eq!(s.confusion, vec![vec![3, 1], vec![1, 3]]);
        assert_eq!((s.per_class[1].precision, s.per_class[1].recall, s.per_class[1].f1), (0.75, 0.75, 0.75));
        assert_eq!(s.f1(), 0.75);

        // Three classes; class 2 is never predicted (P = 0 by convention, F1 = 0).
        let s = ClassificationScores::new(&[0, 0, 1, 1, 0], &[0, 1, 1, 2, 0], 3);
        assert_eq!(s.accuracy, 0.6);
        // class 0: P = 2/3, R = 1 → F1 = 0.8; class 1: P = 1/2, R = 1/2 → 0.5; class 2: 0.
        let f1: Vec<f64> = s.per_class.iter().map(|c| c.f1).collect();
        assert!((f1[0] - 0.8).abs() < 1e-12 && (f1[1] - 0.5).abs() < 1e-12 && f1[2] == 0.0);
        assert!((s.f1() - 1.3 / 3.0).abs() < 1e-12);
        assert_eq!(s.per_class[2].support, 1);
    }
}
