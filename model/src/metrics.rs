//! Classification metrics (single-label): accuracy, precision/recall/F1 per class and
//! averaged, confusion matrix, top-k accuracy, calibration; [`MetricsReport`] bundles them,
//! prints as a table and serializes to JSON.
//!
//! Conventions follow scikit-learn with `zero_division=0`: a class with no predictions has
//! precision 0, a class with no support has recall 0, F1 is 0 when precision + recall is 0.
//! Macro averages run over the classes that occur in `y_true` or `y_pred` (scikit-learn's
//! default label set), so a model label absent from the data does not drag the average;
//! weighted averages weight by support; micro-F1 of single-label data equals accuracy.

use std::fmt;
use std::path::Path;

use serde::Serialize;
use unicode_width::UnicodeWidthStr;

use crate::error::{ModelError, Result};

/// Correct / total.
pub fn accuracy(y_true: &[usize], y_pred: &[usize]) -> Result<f64> {
    check_pairs(y_true, y_pred, usize::MAX)?;
    let correct = y_true.iter().zip(y_pred).filter(|(t, p)| t == p).count();
    Ok(correct as f64 / y_true.len() as f64)
}

/// [NL true, NL predicted] counts: `m[t][p]` examples of class `t` predicted as `p`.
pub fn confusion_matrix(
    y_true: &[usize],
    y_pred: &[usize],
    num_labels: usize,
) -> Result<Vec<Vec<u64>>> {
    check_pairs(y_true, y_pred, num_labels)?;
    let mut m = vec![vec![0u64; num_labels]; num_labels];
    for (&t, &p) in y_true.iter().zip(y_pred) {
        m[t][p] += 1;
    }
    Ok(m)
}

/// One class's scores.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ClassMetrics {
    pub label: String,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    /// Examples whose true class this is.
    pub support: u64,
    /// Examples predicted as this class.
    pub predicted: u64,
}

/// Per-class precision, recall, F1, support and prediction count from a confusion matrix.
pub fn per_class(confusion: &[Vec<u64>], labels: &[String]) -> Vec<ClassMetrics> {
    (0..confusion.len())
        .map(|c| {
            let tp = confusion[c][c] as f64;
            let support: u64 = confusion[c].iter().sum();
            let predicted: u64 = confusion.iter().map(|row| row[c]).sum();
            let precision = ratio(tp, predicted as f64);
            let recall = ratio(tp, support as f64);
            ClassMetrics {
                label: labels.get(c).cloned().unwrap_or_else(|| c.to_string()),
                precision,
                recall,
                f1: ratio(2.0 * precision * recall, precision + recall),
                support,
                predicted,
            }
        })
        .collect()
}

/// Averages over classes.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Averages {
    pub macro_precision: f64,
    pub macro_recall: f64,
    pub macro_f1: f64,
    /// Global counts; equals accuracy for single-label data.
    pub micro_f1: f64,
    /// Weighted by support.
    pub weighted_precision: f64,
    pub weighted_recall: f64,
    pub weighted_f1: f64,
}

/// Macro (over classes present in truth or predictions), micro and support-weighted averages
/// of [`per_class`] scores of `confusion`.
pub fn averages(confusion: &[Vec<u64>], classes: &[ClassMetrics]) -> Averages {
    let present: Vec<&ClassMetrics> = classes
        .iter()
        .filter(|c| c.support > 0 || c.predicted > 0)
        .collect();
    let mean = |f: fn(&ClassMetrics) -> f64| {
        ratio(present.iter().map(|c| f(c)).sum(), present.len() as f64)
    };
    let total: u64 = classes.iter().map(|c| c.support).sum();
    let weighted = |f: fn(&ClassMetrics) -> f64| {
        ratio(
            classes.iter().map(|c| f(c) * c.support as f64).sum(),
            total as f64,
        )
    };
    // Micro: every prediction is one TP or one FP+FN pair, so P = R = F1 = TP / N.
    let tp: u64 = (0..confusion.len()).map(|c| confusion[c][c]).sum();
    Averages {
        macro_precision: mean(|c| c.precision),
        macro_recall: mean(|c| c.recall),
        macro_f1: mean(|c| c.f1),
        micro_f1: ratio(tp as f64, total as f64),
        weighted_precision: weighted(|c| c.precision),
        weighted_recall: weighted(|c| c.recall),
        weighted_f1: weighted(|c| c.f1),
    }
}

/// Fraction of examples whose true class is among the `k` most probable.
///
/// `probs`: [N, NL] row-major. A class ranks within the top k when fewer than k classes have
/// a strictly higher probability (ties count in the example's favour).
pub fn top_k_accuracy(y_true: &[usize], probs: &[f64], num_labels: usize, k: usize) -> Result<f64> {
    check_probs(y_true, probs, num_labels)?;
    if k == 0 {
        return Err(ModelError::Metrics("top-k needs k >= 1".into()));
    }
    let hits = y_true
        .iter()
        .zip(probs.chunks_exact(num_labels))
        .filter(|(&t, row)| row.iter().filter(|&&p| p > row[t]).count() < k)
        .count();
    Ok(hits as f64 / y_true.len() as f64)
}

/// One equal-width confidence bin of a reliability diagram.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ReliabilityBin {
    /// Bin range `[lower, upper)` (the last bin includes 1).
    pub lower: f64,
    pub upper: f64,
    pub count: u64,
    /// Mean confidence of the bin's predictions (0 when empty).
    pub confidence: f64,
    /// Fraction of the bin's predictions that are correct (0 when empty).
    pub accuracy: f64,
}

/// Expected calibration error and its reliability bins.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Calibration {
    /// `Σ_b (n_b / N) · |accuracy_b − confidence_b|`.
    pub ece: f64,
    pub bins: Vec<ReliabilityBin>,
}

/// Calibration of the predicted class's probability.
///
/// Confidence `c_i = probs[i, y_pred[i]]`; with `M` bins, example i falls in bin
/// `min(floor(c_i · M), M − 1)`. `probs`: [N, NL].
pub fn calibration(
    y_true: &[usize],
    y_pred: &[usize],
    probs: &[f64],
    num_labels: usize,
    num_bins: usize,
) -> Result<Calibration> {
    check_pairs(y_true, y_pred, num_labels)?;
    check_probs(y_true, probs, num_labels)?;
    if num_bins == 0 {
        return Err(ModelError::Metrics(
            "calibration needs at least one bin".into(),
        ));
    }
    let mut count = vec![0u64; num_bins];
    let mut conf_sum = vec![0.0f64; num_bins];
    let mut correct = vec![0u64; num_bins];
    for ((&t, &p), row) in y_true
        .iter()
        .zip(y_pred)
        .zip(probs.chunks_exact(num_labels))
    {
        let c = row[p];
        let b = ((c * num_bins as f64).floor().max(0.0) as usize).min(num_bins - 1);
        count[b] += 1;
        conf_sum[b] += c;
        correct[b] += u64::from(t == p);
    }
    let n = y_true.len() as f64;
    let mut ece = 0.0;
    let bins = (0..num_bins)
        .map(|b| {
            let k = count[b] as f64;
            let confidence = ratio(conf_sum[b], k);
            let accuracy = ratio(correct[b] as f64, k);
            ece += k / n * (accuracy - confidence).abs();
            ReliabilityBin {
                lower: b as f64 / num_bins as f64,
                upper: (b + 1) as f64 / num_bins as f64,
                count: count[b],
                confidence,
                accuracy,
            }
        })
        .collect();
    Ok(Calibration { ece, bins })
}

/// Top-k accuracy with its k.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TopK {
    pub k: usize,
    pub accuracy: f64,
}

/// Everything `eval` reports for one model on one data set.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MetricsReport {
    /// Examples evaluated.
    pub n: usize,
    pub labels: Vec<String>,
    pub accuracy: f64,
    pub macro_f1: f64,
    pub micro_f1: f64,
    pub weighted_f1: f64,
    pub averages: Averages,
    pub per_class: Vec<ClassMetrics>,
    /// [NL true, NL predicted].
    pub confusion_matrix: Vec<Vec<u64>>,
    /// Present when probabilities were given and k < NL was asked for.
    pub top_k: Option<TopK>,
    /// Present when probabilities were given.
    pub calibration: Option<Calibration>,
    /// Scores on subsets (by text length, by a data field); filled by `evaluate`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub slices: Vec<SliceMetrics>,
    /// Hierarchical models: per-level, exact-path and hierarchical P/R/F1.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hierarchy: Option<crate::hierarchy::HierarchyMetrics>,
    /// Multi-label models: subset accuracy, Hamming loss, the thresholds used.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub multi_label: Option<crate::trainer::multi_label_eval::MultiLabelMetrics>,
}

/// Scores on one subset of the examples.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SliceMetrics {
    /// What the subsets are cut by: `length` (characters) or a data field name.
    pub by: String,
    /// This subset: `≤ 10`, `11–20`, `> 20`, or the field's value (`(none)` when absent).
    pub value: String,
    pub n: usize,
    pub accuracy: f64,
    /// Macro-F1 within the subset (over the classes present in it).
    pub macro_f1: f64,
}

impl SliceMetrics {
    /// Scores of the examples at `members`; `None` when empty.
    pub fn of(
        by: &str,
        value: &str,
        y_true: &[usize],
        y_pred: &[usize],
        members: &[usize],
        labels: &[String],
    ) -> Result<Option<SliceMetrics>> {
        if members.is_empty() {
            return Ok(None);
        }
        let t: Vec<usize> = members.iter().map(|&i| y_true[i]).collect();
        let p: Vec<usize> = members.iter().map(|&i| y_pred[i]).collect();
        let confusion = confusion_matrix(&t, &p, labels.len())?;
        let classes = per_class(&confusion, labels);
        Ok(Some(SliceMetrics {
            by: by.to_string(),
            value: value.to_string(),
            n: members.len(),
            accuracy: accuracy(&t, &p)?,
            macro_f1: averages(&confusion, &classes).macro_f1,
        }))
    }
}

/// Inputs of [`MetricsReport::compute`].
#[derive(Clone, Copy, Debug)]
pub struct MetricsInput<'a> {
    pub labels: &'a [String],
    pub y_true: &'a [usize],
    pub y_pred: &'a [usize],
    /// [N, NL] predicted probabilities, if any.
    pub probs: Option<&'a [f64]>,
    /// k of the top-k accuracy (needs `probs`).
    pub top_k: Option<usize>,
    /// Reliability bins (default 10).
    pub calibration_bins: usize,
}

impl MetricsReport {
    pub fn compute(input: MetricsInput) -> Result<MetricsReport> {
        let nl = input.labels.len();
        let confusion = confusion_matrix(input.y_true, input.y_pred, nl)?;
        let per_class = per_class(&confusion, input.labels);
        let averages = averages(&confusion, &per_class);
        let (top_k, calibration) = match input.probs {
            Some(probs) => {
                let top_k = match input.top_k {
                    Some(k) => Some(TopK {
                        k,
                        accuracy: top_k_accuracy(input.y_true, probs, nl, k)?,
                    }),
                    None => None,
                };
                let cal = calibration(
                    input.y_true,
                    input.y_pred,
                    probs,
                    nl,
                    input.calibration_bins,
                )?;
                (top_k, Some(cal))
            }
            None if input.top_k.is_some() => {
                return Err(ModelError::Metrics(
                    "top-k accuracy needs predicted probabilities".into(),
                ))
            }
            None => (None, None),
        };
        Ok(MetricsReport {
            n: input.y_true.len(),
            labels: input.labels.to_vec(),
            accuracy: accuracy(input.y_true, input.y_pred)?,
            macro_f1: averages.macro_f1,
            micro_f1: averages.micro_f1,
            weighted_f1: averages.weighted_f1,
            averages,
            per_class,
            confusion_matrix: confusion,
            top_k,
            calibration,
            slices: Vec::new(),
            hierarchy: None,
            multi_label: None,
        })
    }

    /// Pretty JSON.
    pub fn to_json(&self) -> String {
        // Serializing plain numbers, strings and vectors cannot fail.
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// Write [`MetricsReport::to_json`] to `path` atomically.
    pub fn write_json(&self, path: &Path) -> Result<()> {
        let json = self.to_json();
        tokken_engine::write_file_atomically(path, |w| {
            use std::io::Write;
            w.write_all(json.as_bytes())?;
            w.write_all(b"\n")
        })?;
        Ok(())
    }
}

impl fmt::Display for MetricsReport {
    /// Summary line, per-class table, confusion matrix (rows true, columns predicted);
    /// columns aligned by display width so Japanese labels line up.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "n {}  accuracy {:.4}  macro-F1 {:.4}  micro-F1 {:.4}  weighted-F1 {:.4}",
            self.n, self.accuracy, self.macro_f1, self.micro_f1, self.weighted_f1
        )?;
        if let Some(t) = &self.top_k {
            write!(f, "  top-{} {:.4}", t.k, t.accuracy)?;
        }
        if let Some(c) = &self.calibration {
            write!(f, "  ECE {:.4}", c.ece)?;
        }
        writeln!(f)?;
        writeln!(f)?;
        let w = self
            .labels
            .iter()
            .map(|l| l.width())
            .chain(["weighted avg".width()])
            .max()
            .unwrap_or(0);
        writeln!(f, "{}  precision  recall      f1  support", pad("label", w))?;
        for c in &self.per_class {
            writeln!(
                f,
                "{}  {:>9.4}  {:>6.4}  {:>6.4}  {:>7}",
                pad(&c.label, w),
                c.precision,
                c.recall,
                c.f1,
                c.support
            )?;
        }
        let a = &self.averages;
        writeln!(
            f,
            "{}  {:>9.4}  {:>6.4}  {:>6.4}  {:>7}",
            pad("macro avg", w),
            a.macro_precision,
            a.macro_recall,
            a.macro_f1,
            self.n
        )?;
        writeln!(
            f,
            "{}  {:>9.4}  {:>6.4}  {:>6.4}  {:>7}",
            pad("weighted avg", w),
            a.weighted_precision,
            a.weighted_recall,
            a.weighted_f1,
            self.n
        )?;
        writeln!(f)?;
        writeln!(f, "confusion matrix (rows: true, columns: predicted)")?;
        let digits = self
            .confusion_matrix
            .iter()
            .flatten()
            .max()
            .map_or(1, |m| m.to_string().len());
        let col_w: Vec<usize> = self.labels.iter().map(|l| l.width().max(digits)).collect();
        write!(f, "{}", pad("", w))?;
        for (l, cw) in self.labels.iter().zip(&col_w) {
            write!(f, "  {}", pad_left(l, *cw))?;
        }
        writeln!(f)?;
        for (l, row) in self.labels.iter().zip(&self.confusion_matrix) {
            write!(f, "{}", pad(l, w))?;
            for (v, cw) in row.iter().zip(&col_w) {
                write!(f, "  {}", pad_left(&v.to_string(), *cw))?;
            }
            writeln!(f)?;
        }
        if !self.slices.is_empty() {
            writeln!(f)?;
            let w = self
                .slices
                .iter()
                .map(|s| s.by.width() + 1 + s.value.width())
                .chain(["slice".width()])
                .max()
                .unwrap_or(0);
            writeln!(f, "{}  {:>5}  accuracy  macro-F1", pad("slice", w), "n")?;
            for s in &self.slices {
                writeln!(
                    f,
                    "{}  {:>5}  {:>8.4}  {:>8.4}",
                    pad(&format!("{} {}", s.by, s.value), w),
                    s.n,
                    s.accuracy,
                    s.macro_f1
                )?;
            }
        }
        Ok(())
    }
}

/// `s` padded on the right to `width` terminal columns.
fn pad(s: &str, width: usize) -> String {
    format!("{s}{}", " ".repeat(width.saturating_sub(s.width())))
}

/// `s` padded on the left to `width` terminal columns.
fn pad_left(s: &str, width: usize) -> String {
    format!("{}{s}", " ".repeat(width.saturating_sub(s.width())))
}

/// `a / b`, 0 when `b` is 0 (scikit-learn's `zero_division=0`).
fn ratio(a: f64, b: f64) -> f64 {
    if b == 0.0 {
        0.0
    } else {
        a / b
    }
}

fn check_pairs(y_true: &[usize], y_pred: &[usize], num_labels: usize) -> Result<()> {
    if y_true.is_empty() {
        return Err(ModelError::Metrics("no examples to score".into()));
    }
    if y_true.len() != y_pred.len() {
        return Err(ModelError::Metrics(format!(
            "{} true labels but {} predictions",
            y_true.len(),
            y_pred.len()
        )));
    }
    if let Some(&bad) = y_true.iter().chain(y_pred).find(|&&c| c >= num_labels) {
        return Err(ModelError::Metrics(format!(
            "class index {bad} out of range for {num_labels} labels"
        )));
    }
    Ok(())
}

fn check_probs(y_true: &[usize], probs: &[f64], num_labels: usize) -> Result<()> {
    if y_true.is_empty() {
        return Err(ModelError::Metrics("no examples to score".into()));
    }
    if num_labels == 0 || probs.len() != y_true.len() * num_labels {
        return Err(ModelError::Metrics(format!(
            "probabilities: expected {} x {num_labels} values, found {}",
            y_true.len(),
            probs.len()
        )));
    }
    if let Some(&bad) = y_true.iter().find(|&&c| c >= num_labels) {
        return Err(ModelError::Metrics(format!(
            "class index {bad} out of range for {num_labels} labels"
        )));
    }
    Ok(())
}
