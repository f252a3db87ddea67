//! The labelled examples of a classification run: TSV files, or the built-in generated reviews
//! (written into the run folder as TSV, so their format is there to see).

use super::tsv::{read_tsv, Labelled};
use crate::data::{labelled_reviews, REVIEW_LABELS};
use crate::error::{Result, TrainError};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use std::collections::{BTreeSet, HashSet};
use std::path::{Path, PathBuf};

/// Texts with label ids.
#[derive(Debug, Clone, Default)]
pub struct Split {
    pub texts: Vec<String>,
    pub labels: Vec<usize>,
}

/// Train, dev and (optional) test examples and the label names (id = position).
pub struct Splits {
    pub train: Split,
    pub dev: Split,
    pub test: Option<Split>,
    pub label_names: Vec<String>,
}

/// Where the examples come from.
pub struct Sources<'a> {
    pub train: Option<&'a Path>,
    pub dev: Option<&'a Path>,
    pub test: Option<&'a Path>,
    /// Training examples to generate when no files are given (dev and test get an eighth each).
    pub generated: usize,
    pub seed: u64,
}

/// `n` generated reviews from `seed` whose texts are not in `seen` (held-out data is unseen).
fn fresh_reviews(n: usize, seed: u64, seen: &mut HashSet<String>) -> Labelled {
    let mut out = Labelled { texts: Vec::new(), labels: Vec::new() };
    for (text, label) in labelled_reviews(4 * n + 100, seed) {
        if out.texts.len() < n && seen.insert(text.clone()) {
            out.texts.push(text);
            out.labels.push(REVIEW_LABELS[label].to_string());
        }
    }
    out
}

fn to_split(data: &Labelled, names: &[String], path: &Path) -> Result<Split> {
    let labels = data
        .labels
        .iter()
        .map(|l| {
            names.iter().position(|n| n == l).ok_or_else(|| {
                TrainError::format(path, format!("label {l:?} does not occur in the training data ({names:?})"))
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Split { texts: data.texts.clone(), labels })
}

/// Reads or generates the examples. Labels are the sorted names seen in the training data (the
/// built-in reviews: negative = 0, positive = 1). Without a dev file, the last tenth of the
/// (seeded-shuffled) training data is held out as dev.
pub fn load_splits(src: &Sources, run_dir: &Path) -> Result<Splits> {
    let (train, dev, test, train_path): (Labelled, Option<Labelled>, Option<Labelled>, PathBuf) = match src.train {
        None => {
            if src.dev.is_some() || src.test.is_some() {
                return Err(TrainError::Invalid("--dev and --test need --train".into()));
            }
            let mut seen = HashSet::new();
            let train = fresh_reviews(src.generated, src.seed, &mut seen);
            let dev = fresh_reviews((src.generated / 8).max(1), src.seed + 1, &mut seen);
            let test = fresh_reviews((src.generated / 8).max(1), src.seed + 2, &mut seen);
            let data = run_dir.join("data");
            std::fs::create_dir_all(&data).map_err(|e| TrainError::io(&data, e))?;
            for (name, split) in [("train", &train), ("dev", &dev), ("test", &test)] {
                split.write(&data.join(format!("{name}.tsv")))?;
            }
            (train, Some(dev), Some(test), data.join("train.tsv"))
        }
        Some(path) => {
            let read = |p: Option<&Path>| p.map(read_tsv).transpose();
            (read_tsv(path)?, read(src.dev)?, read(src.test)?, path.to_path_buf())
        }
    };
    let label_names: Vec<String> = match src.train {
        None => REVIEW_LABELS.iter().map(|s| s.to_string()).collect(),
        Some(_) => train.labels.iter().cloned().collect::<BTreeSet<_>>().into_iter().collect(),
    };
    if label_names.len() < 2 {
        return Err(TrainError::format(&train_path, format!("needs at least two labels, found {label_names:?}")));
    }
    let mut train = to_split(&train, &label_names, &train_path)?;
    let dev = match (dev, src.dev) {
        (Some(d), path) => to_split(&d, &label_names, path.unwrap_or(&train_path))?,
        (None, _) => {
            let mut order: Vec<usize> = (0..train.texts.len()).collect();
            order.shuffle(&mut rand::rngs::StdRng::seed_from_u64(src.seed));
            // At least two labels were seen, so there are at least two examples and one stays for training.
            let held = (train.texts.len() / 10).max(1);
            let pick = |idx: &[usize]| Split {
                texts: idx.iter().map(|&i| train.texts[i].clone()).collect(),
                labels: idx.iter().map(|&i| train.labels[i]).collect(),
            };
            let (dev, rest) = (pick(&order[..held]), pick(&order[held..]));
            train = rest;
            dev
        }
    };
    let test = match test {
        Some(t) => Some(to_split(&t, &label_names, src.test.unwrap_or(&train_path))?),
        None => None,
    };
    Ok(Splits { train, dev, test, label_names })
}
