//! Labelled text data for training and evaluation: readers, label sets, splits.
//!
//! A data file is JSON Lines (`.jsonl`, `.json`: one object per line) or a CSV/TSV file with
//! a header row (`.csv`, `.tsv`). Each row gives a text, an optional second text
//! (`text_pair`) and a label (`label`) or a list of labels (`labels`, multi-label); every
//! other field is kept as a string in [`Example::extra`] for slicing (`kind`, `source`, …).
//!
//! Every reader error names `file:line` and what was expected there, e.g.
//! `data/x.jsonl:17: expected a string field "text"`.

mod delimited;
mod jsonl;
mod split;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

pub use split::{stratified_sample, stratified_split, Split};

use crate::error::{ModelError, Result};

/// The gold label(s) of one example.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LabelTarget {
    /// Single-label classification: exactly one class.
    Single(String),
    /// Multi-label classification: any number of classes (kept in file order, no repeats).
    Multi(Vec<String>),
}

impl LabelTarget {
    /// The labels as a slice (one for `Single`).
    pub fn as_slice(&self) -> &[String] {
        match self {
            LabelTarget::Single(l) => std::slice::from_ref(l),
            LabelTarget::Multi(ls) => ls,
        }
    }
}

/// One labelled row of a data file.
#[derive(Clone, Debug, PartialEq)]
pub struct Example {
    pub text: String,
    pub text_pair: Option<String>,
    pub label: LabelTarget,
    /// Every other field of the row, as text (JSON strings as they are, other JSON values
    /// as compact JSON; `null` and empty CSV cells are left out).
    pub extra: BTreeMap<String, String>,
    /// 1-based line number where the row starts in its file.
    pub line: usize,
}

/// Which fields hold what.
#[derive(Clone, Debug)]
pub struct ReadOptions {
    /// The text field (default `text`).
    pub text_field: String,
    /// The optional second-text field (default `text_pair`); absent or empty means none.
    pub text_pair_field: String,
    /// The label field; `None` means `label`, or `labels` when `multi_label`.
    pub label_field: Option<String>,
    /// Read [`LabelTarget::Multi`]: a JSON array of strings (or one string), or in CSV/TSV
    /// a cell of labels joined by `label_separator`.
    pub multi_label: bool,
    /// Separator of several labels in one CSV/TSV cell (multi-label only; default `|`).
    pub label_separator: char,
}

impl Default for ReadOptions {
    fn default() -> Self {
        ReadOptions {
            text_field: "text".into(),
            text_pair_field: "text_pair".into(),
            label_field: None,
            multi_label: false,
            label_separator: '|',
        }
    }
}

impl ReadOptions {
    /// The label field name in effect.
    pub fn label_field(&self) -> &str {
        match &self.label_field {
            Some(f) => f,
            None if self.multi_label => "labels",
            None => "label",
        }
    }
}

/// The examples of one file.
#[derive(Clone, Debug)]
pub struct Dataset {
    /// The file read (named in errors).
    pub path: PathBuf,
    pub examples: Vec<Example>,
    pub multi_label: bool,
}

/// Read a data file; the format comes from the extension (`.jsonl`, `.json`, `.csv`, `.tsv`).
pub fn read_examples(path: &Path, options: &ReadOptions) -> Result<Dataset> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(|e| e.to_ascii_lowercase());
    let bytes = std::fs::read(path).map_err(|source| ModelError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let examples = match ext.as_deref() {
        Some("jsonl") | Some("json") | Some("ndjson") => jsonl::parse(path, &bytes, options)?,
        Some("csv") => delimited::parse(path, &bytes, b',', options)?,
        Some("tsv") => delimited::parse(path, &bytes, b'\t', options)?,
        _ => {
            return Err(ModelError::DataFile {
                path: path.to_path_buf(),
                msg: "unknown data format: expected a .jsonl, .json, .csv or .tsv file".into(),
            })
        }
    };
    if examples.is_empty() {
        return Err(ModelError::DataFile {
            path: path.to_path_buf(),
            msg: "no examples (the file has no data rows)".into(),
        });
    }
    Ok(Dataset {
        path: path.to_path_buf(),
        examples,
        multi_label: options.multi_label,
    })
}

impl Dataset {
    /// Every label that occurs, sorted by code point (stable across runs and machines).
    pub fn label_set(&self) -> Vec<String> {
        let set: BTreeSet<&String> = self
            .examples
            .iter()
            .flat_map(|e| e.label.as_slice())
            .collect();
        set.into_iter().cloned().collect()
    }

    /// `(line, label)` for every label not in `known`, in file order.
    pub fn unknown_labels(&self, known: &[String]) -> Vec<(usize, String)> {
        let known: BTreeSet<&str> = known.iter().map(|s| s.as_str()).collect();
        self.examples
            .iter()
            .flat_map(|e| e.label.as_slice().iter().map(move |l| (e.line, l)))
            .filter(|(_, l)| !known.contains(l.as_str()))
            .map(|(line, l)| (line, l.clone()))
            .collect()
    }

    /// Error at the first line whose label is not in `known`; the message also lists the
    /// other unknown labels with the line where each first occurs.
    pub fn check_labels(&self, known: &[String]) -> Result<()> {
        let unknown = self.unknown_labels(known);
        let Some((line, label)) = unknown.first() else {
            return Ok(());
        };
        let mut firsts: BTreeMap<&str, usize> = BTreeMap::new();
        for (l, name) in &unknown {
            firsts.entry(name.as_str()).or_insert(*l);
        }
        let mut msg = format!(
            "label {label:?} is not one of the {} known labels [{}]",
            known.len(),
            known.join(", ")
        );
        if unknown.len() > 1 {
            let list: Vec<String> = firsts
                .iter()
                .map(|(name, l)| format!("{name:?} (first at line {l})"))
                .collect();
            msg.push_str(&format!(
                "; {} lines have unknown labels: {}",
                unknown.len(),
                list.join(", ")
            ));
        }
        Err(ModelError::Data {
            path: self.path.clone(),
            line: *line,
            msg,
        })
    }

    /// Class index of each single-label example in `labels`.
    ///
    /// Errors like [`Dataset::check_labels`] on an unknown label, and on multi-label data.
    pub fn label_ids(&self, labels: &[String]) -> Result<Vec<usize>> {
        self.check_labels(labels)?;
        let index: BTreeMap<&str, usize> = labels
            .iter()
            .enumerate()
            .map(|(i, l)| (l.as_str(), i))
            .collect();
        self.examples
            .iter()
            .map(|e| match &e.label {
                LabelTarget::Single(l) => Ok(index[l.as_str()]),
                LabelTarget::Multi(_) => Err(ModelError::Data {
                    path: self.path.clone(),
                    line: e.line,
                    msg: "expected a single label, found a list (multi-label data)".into(),
                }),
            })
            .collect()
    }

    /// Class weights for the loss, `auto` = scikit-learn's `"balanced"`: `N / (NL · n_c)`
    /// with `n_c` the examples of class c (label occurrences for multi-label data).
    /// Errors when a class has no examples (its weight would be infinite).
    pub fn balanced_class_weights(&self, labels: &[String]) -> Result<Vec<f64>> {
        self.check_labels(labels)?;
        let mut counts: BTreeMap<&str, usize> = labels.iter().map(|l| (l.as_str(), 0)).collect();
        for l in self.examples.iter().flat_map(|e| e.label.as_slice()) {
            *counts.entry(l.as_str()).or_default() += 1;
        }
        let total: usize = counts.values().sum();
        labels
            .iter()
            .map(|l| match counts[l.as_str()] {
                0 => Err(ModelError::DataFile {
                    path: self.path.clone(),
                    msg: format!("label {l:?} has no examples, so it gets no class weight"),
                }),
                c => Ok(total as f64 / (labels.len() as f64 * c as f64)),
            })
            .collect()
    }

    /// A dataset of the examples at `indices`, in that order.
    pub fn subset(&self, indices: &[usize]) -> Dataset {
        Dataset {
            path: self.path.clone(),
            examples: indices.iter().map(|&i| self.examples[i].clone()).collect(),
            multi_label: self.multi_label,
        }
    }
}

/// Parse a `--labels a,b,c` list: trimmed, non-empty, no repeats; order kept (it is the
/// class index order).
pub fn parse_label_list(list: &str) -> Result<Vec<String>> {
    let labels: Vec<String> = list.split(',').map(|s| s.trim().to_string()).collect();
    if labels.iter().any(|l| l.is_empty()) {
        return Err(ModelError::Input(format!(
            "--labels {list:?}: expected comma-separated non-empty label names"
        )));
    }
    let mut seen = BTreeSet::new();
    for l in &labels {
        if !seen.insert(l) {
            return Err(ModelError::Input(format!(
                "--labels {list:?}: label {l:?} is given twice"
            )));
        }
    }
    Ok(labels)
}

/// Shared by the readers: strip a UTF-8 byte-order mark.
fn strip_bom(bytes: &[u8]) -> &[u8] {
    bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes)
}

fn data_error(path: &Path, line: usize, msg: impl Into<String>) -> ModelError {
    ModelError::Data {
        path: path.to_path_buf(),
        line,
        msg: msg.into(),
    }
}

/// Shared by the readers: a decoded label list — trimmed, no empty names, repeats dropped
/// (first kept). An empty list is allowed (a multi-label example with no positive class).
fn clean_labels(path: &Path, line: usize, field: &str, raw: Vec<String>) -> Result<Vec<String>> {
    let mut out: Vec<String> = Vec::with_capacity(raw.len());
    for l in raw {
        let l = l.trim().to_string();
        if l.is_empty() {
            return Err(data_error(
                path,
                line,
                format!("field {field:?}: expected non-empty label names"),
            ));
        }
        if !out.contains(&l) {
            out.push(l);
        }
    }
    Ok(out)
}
