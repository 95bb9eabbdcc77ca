//! Eval metrics of a multi-label run: each label is a yes/no decision (sigmoid > 0.5, i.e.
//! logit > 0). Reported as a [`MetricsReport`]: `accuracy` is the exact-match (subset)
//! accuracy, per-label precision / recall / F1 with macro, micro and support-weighted
//! averages; there is no confusion matrix.

use crate::metrics::{Averages, ClassMetrics, MetricsReport};

/// `targets`, `logits`: [N, NL] row-major.
pub fn multi_label_report(labels: &[String], targets: &[f32], logits: &[f32]) -> MetricsReport {
    let nl = labels.len();
    let n = targets.len() / nl.max(1);
    let (mut tp, mut fp, mut fn_) = (vec![0u64; nl], vec![0u64; nl], vec![0u64; nl]);
    let mut exact = 0usize;
    for (t, z) in targets.chunks_exact(nl).zip(logits.chunks_exact(nl)) {
        let mut all = true;
        for c in 0..nl {
            let (gold, pred) = (t[c] > 0.5, z[c] > 0.0);
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
    MetricsReport {
        n,
        labels: labels.to_vec(),
        accuracy: ratio(exact as f64, n as f64),
        macro_f1: averages.macro_f1,
        micro_f1: averages.micro_f1,
        weighted_f1: averages.weighted_f1,
        averages,
        per_class,
        confusion_matrix: Vec::new(),
        top_k: None,
        calibration: None,
        slices: Vec::new(),
    }
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
    }
}
