//! Labelled text as TSV: one example per line, `text<TAB>label`; the label is whatever follows the
//! last tab. An optional first line `text<TAB>label` is a header. Blank lines are skipped.

use crate::error::{Result, TrainError};
use std::path::Path;

/// Examples with their label names.
#[derive(Debug, Clone, PartialEq)]
pub struct Labelled {
    pub texts: Vec<String>,
    pub labels: Vec<String>,
}

impl Labelled {
    /// Writes the examples as TSV (with a header).
    pub fn write(&self, path: &Path) -> Result<()> {
        let mut text = String::from("text\tlabel\n");
        for (t, l) in self.texts.iter().zip(&self.labels) {
            text.push_str(&format!("{t}\t{l}\n"));
        }
        Ok(model::checkpoint::write_atomically(path, text.as_bytes())?)
    }
}

pub fn read_tsv(path: &Path) -> Result<Labelled> {
    let content = std::fs::read_to_string(path).map_err(|e| TrainError::io(path, e))?;
    let (mut texts, mut labels) = (Vec::new(), Vec::new());
    for (n, line) in content.lines().enumerate() {
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() || (n == 0 && line.eq_ignore_ascii_case("text\tlabel")) {
            continue;
        }
        let Some((text, label)) = line.rsplit_once('\t') else {
            return Err(TrainError::format(path, format!("line {}: expected text<TAB>label, found no tab", n + 1)));
        };
        if text.trim().is_empty() || label.trim().is_empty() {
            return Err(TrainError::format(path, format!("line {}: empty text or label", n + 1)));
        }
        texts.push(text.to_string());
        labels.push(label.trim().to_string());
    }
    if texts.is_empty() {
        return Err(TrainError::format(path, "no examples"));
    }
    Ok(Labelled { texts, labels })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_header_tabs_in_text_and_reports_bad_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.tsv");
        std::fs::write(&path, "text\tlabel\na\tb text\tpos\r\n\nplain\tneg\n").unwrap();
        let got = read_tsv(&path).unwrap();
        assert_eq!(got.texts, ["a\tb text", "plain"]);
        assert_eq!(got.labels, ["pos", "neg"]);
        got.write(&dir.path().join("b.tsv")).unwrap();
        assert_eq!(read_tsv(&dir.path().join("b.tsv")).unwrap(), got);

        std::fs::write(&path, "fine\t1\nno tab here\n").unwrap();
        let err = read_tsv(&path).unwrap_err().to_string();
        assert!(err.contains("line 2") && err.contains("a.tsv"), "{err}");
        std::fs::write(&path, "\n").unwrap();
        assert!(read_tsv(&path).unwrap_err().to_string().contains("no examples"));
    }
}
