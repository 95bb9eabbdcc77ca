//! Before/after comparison of two classifiers on the same labelled data: accuracy,
//! macro-F1, per-class F1 with deltas, per-slice accuracy, and an exact McNemar test on the
//! paired predictions.
//!
//! McNemar (exact, two-sided): of the examples where exactly one model is right, `b` are
//! right only for A and `c` only for B. Under "both models are equally good" each such
//! example is a fair coin, so `min(b, c)` ~ Binomial(b + c, 1/2) and
//! `p = min(1, 2 · P[X ≤ min(b, c)])`.

use std::fmt;

use serde::Serialize;
use unicode_width::UnicodeWidthStr;

use crate::error::{ModelError, Result};
use crate::evaluate::Evaluation;
use crate::metrics::{MetricsInput, MetricsReport, SliceMetrics};
use crate::report::slices::{score_slices, Slice};

/// Exact two-sided McNemar p-value for `b` and `c` discordant pairs.
///
/// Sums the binomial tail in log space (`ln C(n, i+1) = ln C(n, i) + ln(n−i) − ln(i+1)`), so
/// it stays exact to rounding for any `n` (no overflow of `C(n, i)`, no underflow of `2⁻ⁿ`).
pub fn mcnemar_exact_p(b: u64, c: u64) -> f64 {
    let n = b + c;
    if n == 0 {
        return 1.0;
    }
    let k = b.min(c);
    let mut log_pmf = -(n as f64) * std::f64::consts::LN_2;
    let mut terms = Vec::with_capacity(k as usize + 1);
    for i in 0..=k {
        terms.push(log_pmf);
        log_pmf += ((n - i) as f64).ln() - ((i + 1) as f64).ln();
    }
    let max = terms.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let tail = max.exp() * terms.iter().map(|t| (t - max).exp()).sum::<f64>();
    (2.0 * tail).min(1.0)
}

/// The paired table of right/wrong.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct McNemar {
    /// Both right.
    pub both_right: u64,
    /// A right, B wrong.
    pub b: u64,
    /// A wrong, B right.
    pub c: u64,
    /// Both wrong.
    pub both_wrong: u64,
    /// Exact two-sided p-value.
    pub p_value: f64,
}

impl McNemar {
    /// From gold labels and both models' predictions (same index space, same order).
    pub fn of(y_true: &[usize], pred_a: &[usize], pred_b: &[usize]) -> Result<McNemar> {
        if y_true.len() != pred_a.len() || y_true.len() != pred_b.len() {
            return Err(ModelError::Metrics(format!(
                "McNemar: {} labels, {} and {} predictions",
                y_true.len(),
                pred_a.len(),
                pred_b.len()
            )));
        }
        let (mut rr, mut rw, mut wr, mut ww) = (0, 0, 0, 0);
        for ((t, a), b) in y_true.iter().zip(pred_a).zip(pred_b) {
            match (a == t, b == t) {
                (true, true) => rr += 1,
                (true, false) => rw += 1,
                (false, true) => wr += 1,
                (false, false) => ww += 1,
            }
        }
        Ok(McNemar {
            both_right: rr,
            b: rw,
            c: wr,
            both_wrong: ww,
            p_value: mcnemar_exact_p(rw, wr),
        })
    }
}

/// One class's F1 before and after.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ClassDelta {
    pub label: String,
    pub support: u64,
    pub f1_a: f64,
    pub f1_b: f64,
    pub delta: f64,
}

/// One slice's accuracy before and after.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SliceDelta {
    pub by: String,
    pub value: String,
    pub n: usize,
    pub accuracy_a: f64,
    pub accuracy_b: f64,
    pub delta: f64,
}

/// The before/after table.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Comparison {
    pub model_a: String,
    pub model_b: String,
    pub n: usize,
    pub accuracy_a: f64,
    pub accuracy_b: f64,
    pub macro_f1_a: f64,
    pub macro_f1_b: f64,
    pub per_class: Vec<ClassDelta>,
    pub slices: Vec<SliceDelta>,
    pub mcnemar: McNemar,
}

impl Comparison {
    /// Compare predictions `pred_a` and `pred_b` of the same examples (all indices into
    /// `labels`), overall, per class and on each of `slices`.
    pub fn new(
        model_a: &str,
        model_b: &str,
        labels: &[String],
        y_true: &[usize],
        pred_a: &[usize],
        pred_b: &[usize],
        slices: &[Slice],
    ) -> Result<Comparison> {
        let report = |pred: &[usize]| -> Result<MetricsReport> {
            let mut r = MetricsReport::compute(MetricsInput {
                labels,
                y_true,
                y_pred: pred,
                probs: None,
                top_k: None,
                calibration_bins: 10,
            })?;
            r.slices = score_slices(slices, y_true, pred, labels)?;
            Ok(r)
        };
        let (a, b) = (report(pred_a)?, report(pred_b)?);
        let per_class = a
            .per_class
            .iter()
            .zip(&b.per_class)
            .map(|(ca, cb)| ClassDelta {
                label: ca.label.clone(),
                support: ca.support,
                f1_a: ca.f1,
                f1_b: cb.f1,
                delta: cb.f1 - ca.f1,
            })
            .collect();
        Ok(Comparison {
            model_a: model_a.into(),
            model_b: model_b.into(),
            n: a.n,
            accuracy_a: a.accuracy,
            accuracy_b: b.accuracy,
            macro_f1_a: a.macro_f1,
            macro_f1_b: b.macro_f1,
            per_class,
            slices: slice_deltas(&a.slices, &b.slices),
            mcnemar: McNemar::of(y_true, pred_a, pred_b)?,
        })
    }

    /// Compare two evaluations of the same data (possibly with the labels in another
    /// order): B's predictions are mapped onto A's label order by name.
    pub fn from_evaluations(
        model_a: &str,
        model_b: &str,
        labels_a: &[String],
        a: &Evaluation,
        labels_b: &[String],
        b: &Evaluation,
        slices: &[Slice],
    ) -> Result<Comparison> {
        if a.results.len() != b.results.len() {
            return Err(ModelError::Metrics(format!(
                "compare: {} vs {} predictions",
                a.results.len(),
                b.results.len()
            )));
        }
        let b_to_a = map_labels(labels_b, labels_a)?;
        let y_true: Vec<usize> = a.results.iter().map(|r| r.true_index).collect();
        let pred_a: Vec<usize> = a.results.iter().map(|r| r.pred_index).collect();
        let pred_b: Vec<usize> = b.results.iter().map(|r| b_to_a[r.pred_index]).collect();
        Comparison::new(
            model_a, model_b, labels_a, &y_true, &pred_a, &pred_b, slices,
        )
    }

    /// Pretty JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }
}

/// Pair slices by (by, value).
fn slice_deltas(a: &[SliceMetrics], b: &[SliceMetrics]) -> Vec<SliceDelta> {
    a.iter()
        .filter_map(|sa| {
            let sb = b.iter().find(|s| s.by == sa.by && s.value == sa.value)?;
            Some(SliceDelta {
                by: sa.by.clone(),
                value: sa.value.clone(),
                n: sa.n,
                accuracy_a: sa.accuracy,
                accuracy_b: sb.accuracy,
                delta: sb.accuracy - sa.accuracy,
            })
        })
        .collect()
}

/// For each of `from`'s labels, its index in `to`; an error names labels `to` lacks.
/// Both models must know the same classes (order may differ).
pub fn map_labels(from: &[String], to: &[String]) -> Result<Vec<usize>> {
    let mut out = Vec::with_capacity(from.len());
    let mut missing = Vec::new();
    for l in from {
        match to.iter().position(|t| t == l) {
            Some(i) => out.push(i),
            None => missing.push(l.as_str()),
        }
    }
    if !missing.is_empty() || from.len() != to.len() {
        return Err(ModelError::Input(format!(
            "compare: the models have different label sets ({:?} vs {:?}; missing {:?})",
            from, to, missing
        )));
    }
    Ok(out)
}

impl fmt::Display for Comparison {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "A: {}", self.model_a)?;
        writeln!(f, "B: {}", self.model_b)?;
        writeln!(f, "n {}", self.n)?;
        writeln!(f)?;
        let w = self
            .per_class
            .iter()
            .map(|c| c.label.width())
            .chain(
                self.slices
                    .iter()
                    .map(|s| s.by.width() + 1 + s.value.width()),
            )
            .chain(["accuracy".width()])
            .max()
            .unwrap_or(8);
        writeln!(f, "{}         A        B        Δ", pad("", w))?;
        for (name, a, b) in [
            ("accuracy", self.accuracy_a, self.accuracy_b),
            ("macro-F1", self.macro_f1_a, self.macro_f1_b),
        ] {
            writeln!(f, "{}  {a:>8.4} {b:>8.4} {:>+8.4}", pad(name, w), b - a)?;
        }
        writeln!(f)?;
        writeln!(f, "{}  support     F1 A     F1 B        Δ", pad("label", w))?;
        for c in &self.per_class {
            writeln!(
                f,
                "{}  {:>7}  {:>7.4}  {:>7.4}  {:>+7.4}",
                pad(&c.label, w),
                c.support,
                c.f1_a,
                c.f1_b,
                c.delta
            )?;
        }
        if !self.slices.is_empty() {
            writeln!(f)?;
            writeln!(f, "{}      n    acc A    acc B        Δ", pad("slice", w))?;
            for s in &self.slices {
                writeln!(
                    f,
                    "{}  {:>5}  {:>7.4}  {:>7.4}  {:>+7.4}",
                    pad(&format!("{} {}", s.by, s.value), w),
                    s.n,
                    s.accuracy_a,
                    s.accuracy_b,
                    s.delta
                )?;
            }
        }
        let m = &self.mcnemar;
        writeln!(f)?;
        writeln!(
            f,
            "McNemar (exact): both right {}, only A right (b) {}, only B right (c) {}, both wrong {}",
            m.both_right, m.b, m.c, m.both_wrong
        )?;
        let p = if m.p_value < 1e-4 {
            format!("{:.3e}", m.p_value)
        } else {
            format!("{:.4}", m.p_value)
        };
        writeln!(
            f,
            "  p = {p}{}",
            if m.p_value < 0.05 {
                "  (significant at 0.05)"
            } else {
                "  (not significant at 0.05)"
            }
        )
    }
}

fn pad(s: &str, width: usize) -> String {
    format!("{s}{}", " ".repeat(width.saturating_sub(s.width())))
}
