//! Eval metrics of a multi-label model: each label is a yes/no decision, `probability >=
//! threshold` (per-label thresholds from [`super::thresholds`], 0.5 by default). Reported
//! as a [`MetricsReport`]: `accuracy` is the subset (exact-match) accuracy, per-label
//! precision / recall / F1 with macro, micro and support-weighted averages, and
//! [`MultiLabelMetrics`] adds the Hamming loss and the thresholds used; there is no
//! confusion matrix.

use serde::Serialize;

use crate::classifier::Classifier;
use crate::data::{Dataset, LabelTarget};
use crate::error::{ModelError, Result};
use crate::evaluate::{EvalOptions, Evaluation};
use crate::metrics::{Averages, ClassMetrics, MetricsReport};

/// The multi-label summary (also in [`MetricsReport::multi_label`]).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MultiLabelMetrics {
    /// Examples whose predicted label set equals the gold set.
    pub subset_accuracy: f64,
    /// Wrong decisions / (examples × labels).
    pub hamming_loss: f64,
    pub micro_f1: f64,
    /// Over the labels present in the gold or predicted sets.
    pub macro_f1: f64,
    /// The probability threshold of each label.
    pub thresholds: Vec<f32>,
    /// Where the thresholds come from: `tuned on the eval set`, `thresholds.json` or
    /// `default 0.5`.
    pub thresholds_from: String,
}

impl std::fmt::Display for MultiLabelMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "multi-label: subset accuracy {:.4}  Hamming loss {:.4}  micro-F1 {:.4}  macro-F1 {:.4}  (thresholds: {})",
            self.subset_accuracy, self.hamming_loss, self.micro_f1, self.macro_f1, self.thresholds_from
        )
    }
}

/// `targets`, `logits`: [N, NL] row-major; decisions at logit 0 (probability 0.5).
pub fn multi_label_report(labels: &[String], targets: &[f32], logits: &[f32]) -> MetricsReport {
    let probs: Vec<f32> = logits.iter().map(|&z| sigmoid(z)).collect();
    let thresholds = vec![super::thresholds::DEFAULT_THRESHOLD; labels.len()];
    multi_label_report_at(labels, targets, &probs, &thresholds, "default 0.5")
}

/// `targets`, `logits`: [N, NL] row-major; each label's threshold tuned on these rows
/// ([`super::thresholds::tune_thresholds`]), so the figures are optimistic for this set.
pub fn tuned_report(labels: &[String], targets: &[f32], logits: &[f32]) -> MetricsReport {
    let probs: Vec<f32> = logits.iter().map(|&z| sigmoid(z)).collect();
    let thresholds = super::thresholds::tune_thresholds(&probs, targets, labels.len());
    multi_label_report_at(
        labels,
        targets,
        &probs,
        &thresholds,
        "tuned on the eval set",
    )
}

pub fn sigmoid(z: f32) -> f32 {
    1.0 / (1.0 + (-z).exp())
}

/// `targets`, `probs`: [N, NL] row-major; label `c` is predicted when
/// `probs[c] >= thresholds[c]`.
pub fn multi_label_report_at(
    labels: &[String],
    targets: &[f32],
    probs: &[f32],
    thresholds: &[f32],
    thresholds_from: &str,
) -> MetricsReport {
    let nl = labels.len();
    let n = targets.len() / nl.max(1);
    let (mut tp, mut fp, mut fn_) = (vec![0u64; nl], vec![0u64; nl], vec![0u64; nl]);
    let mut exact = 0usize;
    for (t, p) in targets.chunks_exact(nl).zip(probs.chunks_exact(nl)) {
        let mut all = true;
        for c in 0..nl {
            let (gold, pred) = (t[c] > 0.5, p[c] >= thresholds[c]);
            match (gold, pred) {
                (true, true) => tp[c] += 1,
                (false, true) => fp[c] += 1,
                (true, false) => fn_[c] += 1,
                (false, false) => {}
            }
            all &= gold == pred;
        }
        exact += usize::from(all);
    }
    let ratio = |a: f64, b: f64| if b == 0.0 { 0.0 } else { a / b };
    let per_class: Vec<ClassMetrics> = (0..nl)
        .map(|c| {
            let precision = ratio(tp[c] as f64, (tp[c] + fp[c]) as f64);
            let recall = ratio(tp[c] as f64, (tp[c] + fn_[c]) as f64);
            ClassMetrics {
                label: labels[c].clone(),
                precision,
                recall,
                f1: ratio(2.0 * precision * recall, precision + recall),
                support: tp[c] + fn_[c],
                predicted: tp[c] + fp[c],
            }
        })
        .collect();
    let present: Vec<&ClassMetrics> = per_class
        .iter()
        .filter(|c| c.support > 0 || c.predicted > 0)
        .collect();
    let mean = |f: fn(&ClassMetrics) -> f64| {
        ratio(present.iter().map(|c| f(c)).sum(), present.len() as f64)
    };
    let total: u64 = per_class.iter().map(|c| c.support).sum();
    let weighted = |f: fn(&ClassMetrics) -> f64| {
        ratio(
            per_class.iter().map(|c| f(c) * c.support as f64).sum(),
            total as f64,
        )
    };
    let (stp, sfp, sfn) = (
        tp.iter().sum::<u64>() as f64,
        fp.iter().sum::<u64>() as f64,
        fn_.iter().sum::<u64>() as f64,
    );
    let averages = Averages {
        macro_precision: mean(|c| c.precision),
        macro_recall: mean(|c| c.recall),
        macro_f1: mean(|c| c.f1),
        micro_f1: ratio(2.0 * stp, 2.0 * stp + sfp + sfn),
        weighted_precision: weighted(|c| c.precision),
        weighted_recall: weighted(|c| c.recall),
        weighted_f1: weighted(|c| c.f1),
    };
    let summary = MultiLabelMetrics {
        subset_accuracy: ratio(exact as f64, n as f64),
        hamming_loss: ratio(sfp + sfn, (n * nl) as f64),
        micro_f1: averages.micro_f1,
        macro_f1: averages.macro_f1,
        thresholds: thresholds.to_vec(),
        thresholds_from: thresholds_from.to_string(),
    };
    MetricsReport {
        n,
        labels: labels.to_vec(),
        accuracy: summary.subset_accuracy,
        macro_f1: averages.macro_f1,
        micro_f1: averages.micro_f1,
        weighted_f1: averages.weighted_f1,
        averages,
        per_class,
        confusion_matrix: Vec::new(),
        top_k: None,
        calibration: None,
        slices: Vec::new(),
        hierarchy: None,
        multi_label: Some(summary),
    }
}

/// Score a multi-label classifier on multi-label data (`labels: [..]` rows) with its own
/// thresholds. `results` stays empty: a multi-label row has no single predicted class.
pub fn evaluate_multi_label(
    classifier: &Classifier,
    data: &Dataset,
    options: &EvalOptions,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<Evaluation> {
    let labels = classifier.labels().to_vec();
    let nl = labels.len();
    data.check_labels(&labels)?;
    let mut targets = vec![0f32; data.examples.len() * nl];
    for (row, e) in targets.chunks_exact_mut(nl).zip(&data.examples) {
        let LabelTarget::Multi(ls) = &e.label else {
            return Err(ModelError::Data {
                path: data.path.clone(),
                line: e.line,
                msg: "the model is multi-label: expected a list of labels (`labels`)".into(),
            });
        };
        for l in ls {
            if let Some(c) = labels.iter().position(|x| x == l) {
                row[c] = 1.0;
            }
        }
    }
    let total = data.examples.len();
    let mut probs = Vec::with_capacity(total * nl);
    for chunk in data.examples.chunks(options.chunk.max(1)) {
        let encodings = crate::evaluate::encode(classifier, chunk)?;
        for p in classifier.predict_encoded(&encodings)? {
            probs.extend_from_slice(&p.probs);
        }
        progress(probs.len() / nl.max(1), total);
    }
    let (thresholds, from) = match classifier.thresholds() {
        Some(t) => (t.to_vec(), super::thresholds::THRESHOLDS_FILE),
        None => (
            vec![super::thresholds::DEFAULT_THRESHOLD; nl],
            "default 0.5",
        ),
    };
    let report = multi_label_report_at(&labels, &targets, &probs, &thresholds, from);
    Ok(Evaluation {
        report,
        results: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_counts() {
        let labels = vec!["a".to_string(), "b".to_string()];
        // rows: {a}, {a,b}, {} ; predictions: {a}, {a}, {b}
        let targets = [1.0, 0.0, 1.0, 1.0, 0.0, 0.0];
        let logits = [2.0, -1.0, 0.5, -0.5, -3.0, 0.1];
        let r = multi_label_report(&labels, &targets, &logits);
        assert_eq!(r.n, 3);
        assert!((r.accuracy - 1.0 / 3.0).abs() < 1e-12);
        // a: tp 2, fp 0, fn 0 -> f1 1; b: tp 0, fp 1, fn 1 -> f1 0
        assert!((r.macro_f1 - 0.5).abs() < 1e-12);
        // micro: tp 2, fp 1, fn 1 -> 4 / 6
        assert!((r.micro_f1 - 4.0 / 6.0).abs() < 1e-12);
        let m = r.multi_label.as_ref().unwrap();
        // wrong decisions: row 2 b (fn), row 3 b (fp) -> 2 of 6
        assert!((m.hamming_loss - 2.0 / 6.0).abs() < 1e-12);
        assert!((m.subset_accuracy - 1.0 / 3.0).abs() < 1e-12);
    }

    #[test]
    fn thresholds_change_the_decisions() {
        let labels = vec!["a".to_string(), "b".to_string()];
        let targets = [1.0, 0.0, 1.0, 1.0, 0.0, 0.0];
        let probs = [0.9, 0.2, 0.6, 0.4, 0.1, 0.55];
        // b at 0.3: row 2 b predicted (tp), row 1 b at 0.2 no, row 3 b at .55 (fp)
        let r = multi_label_report_at(&labels, &targets, &probs, &[0.5, 0.3], "test");
        let m = r.multi_label.unwrap();
        assert!((m.hamming_loss - 1.0 / 6.0).abs() < 1e-12);
        assert!((m.subset_accuracy - 2.0 / 3.0).abs() < 1e-12);
        assert_eq!(m.thresholds, vec![0.5, 0.3]);
    }
}
