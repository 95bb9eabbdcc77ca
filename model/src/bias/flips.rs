//! Flip statistics: how the predictions of the two texts of each probe pair differ.
//!
//! For a pair with class probabilities p (term a) and q (term b):
//! - it *flips* when the argmax differs (first index wins ties, as [`crate::Classifier`]);
//! - `|Δp_c| = |p_c − q_c|` per class, and the pair's shift is `max_c |Δp_c|`.
//!
//! Reported: the flip rate (flips / pairs) overall, per group and per term pair; the mean
//! |Δp| per class; the mean shift; the pairs with the largest shift; and, for templates
//! whose expected label is one of the model's labels, the accuracy over both texts.

use std::collections::BTreeMap;

use serde::Serialize;

use super::probes::ProbePair;
use crate::error::{ModelError, Result};

/// One pair's outcome.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PairOutcome {
    /// Line of the template in the probe file.
    pub line: usize,
    pub group: String,
    pub terms: [String; 2],
    pub texts: [String; 2],
    /// Predicted label of each text.
    pub predicted: [String; 2],
    /// Probability of each text's predicted label.
    pub scores: [f64; 2],
    pub flipped: bool,
    /// `max_c |p_c − q_c|`.
    pub max_abs_dp: f64,
    /// The class where that maximum is.
    pub max_abs_dp_label: String,
    /// The template's expected label, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected: Option<String>,
}

/// Flip counts of a subset of the pairs (a group, or a term pair).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FlipCount {
    pub group: String,
    /// The term pair (absent for a whole group).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub terms: Option<[String; 2]>,
    pub pairs: usize,
    pub flips: usize,
    pub flip_rate: f64,
    /// Mean of the pairs' `max_c |Δp_c|`.
    pub mean_max_abs_dp: f64,
}

/// One class's probability shift over all pairs.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ClassShift {
    pub label: String,
    /// Mean over pairs of `|p_c − q_c|`.
    pub mean_abs_dp: f64,
    pub max_abs_dp: f64,
}

/// Everything [`flip_stats`] computes.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FlipStats {
    pub pairs: usize,
    pub flips: usize,
    /// flips / pairs.
    pub flip_rate: f64,
    /// Mean of the pairs' `max_c |Δp_c|`.
    pub mean_max_abs_dp: f64,
    /// Per group, in first-appearance order.
    pub per_group: Vec<FlipCount>,
    /// Per (group, term pair), most flips first.
    pub per_term_pair: Vec<FlipCount>,
    /// Per class, in label order.
    pub per_class: Vec<ClassShift>,
    /// Accuracy over both texts of the pairs whose template has an expected label that is
    /// one of the model's labels (absent when there is none).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected_label_accuracy: Option<f64>,
    /// The pairs with the largest shift (flips first among equal shifts), at most the
    /// number asked for.
    pub worst_pairs: Vec<PairOutcome>,
}

/// First index of the largest value.
fn argmax(p: &[f32]) -> usize {
    let mut best = 0;
    for (i, &x) in p.iter().enumerate() {
        if x > p[best] {
            best = i;
        }
    }
    best
}

fn count(group: &str, terms: Option<[String; 2]>, members: &[&PairOutcome]) -> FlipCount {
    let pairs = members.len();
    let flips = members.iter().filter(|o| o.flipped).count();
    let ratio = |a: f64| if pairs == 0 { 0.0 } else { a / pairs as f64 };
    FlipCount {
        group: group.to_string(),
        terms,
        pairs,
        flips,
        flip_rate: ratio(flips as f64),
        mean_max_abs_dp: ratio(members.iter().map(|o| o.max_abs_dp).sum()),
    }
}

/// Flip statistics of `pairs`; `probs[i]` holds the two `[NL]` probability rows of pair i
/// (term a, term b). `worst` caps the list of worst pairs.
pub fn flip_stats(
    pairs: &[ProbePair],
    probs: &[[Vec<f32>; 2]],
    labels: &[String],
    worst: usize,
) -> Result<FlipStats> {
    if pairs.len() != probs.len() {
        return Err(ModelError::Input(format!(
            "{} probe pairs but {} prediction pairs",
            pairs.len(),
            probs.len()
        )));
    }
    if pairs.is_empty() {
        return Err(ModelError::Input("no probe pairs to score".into()));
    }
    let nl = labels.len();
    if let Some(bad) = probs.iter().flatten().find(|p| p.len() != nl) {
        return Err(ModelError::Input(format!(
            "a prediction has {} probabilities for {nl} labels",
            bad.len()
        )));
    }
    let mut sum_dp = vec![0.0f64; nl];
    let mut max_dp = vec![0.0f64; nl];
    let (mut expected_hits, mut expected_total) = (0usize, 0usize);
    let outcomes: Vec<PairOutcome> = pairs
        .iter()
        .zip(probs)
        .map(|(pair, [p, q])| {
            let (a, b) = (argmax(p), argmax(q));
            let mut worst_c = 0;
            for c in 0..nl {
                let d = (p[c] as f64 - q[c] as f64).abs();
                sum_dp[c] += d;
                max_dp[c] = max_dp[c].max(d);
                if d > (p[worst_c] as f64 - q[worst_c] as f64).abs() {
                    worst_c = c;
                }
            }
            // Only labels the model has count (a probe set may serve other label sets).
            if let Some(l) = pair.label.as_ref().filter(|l| labels.contains(l)) {
                expected_total += 2;
                expected_hits += usize::from(&labels[a] == l) + usize::from(&labels[b] == l);
            }
            PairOutcome {
                line: pair.line,
                group: pair.group.clone(),
                terms: pair.terms.clone(),
                texts: pair.texts.clone(),
                predicted: [labels[a].clone(), labels[b].clone()],
                scores: [p[a] as f64, q[b] as f64],
                flipped: a != b,
                max_abs_dp: (p[worst_c] as f64 - q[worst_c] as f64).abs(),
                max_abs_dp_label: labels[worst_c].clone(),
                expected: pair.label.clone(),
            }
        })
        .collect();
    let all: Vec<&PairOutcome> = outcomes.iter().collect();
    let total = count("all", None, &all);

    let mut group_order: Vec<&str> = Vec::new();
    let mut by_group: BTreeMap<&str, Vec<&PairOutcome>> = BTreeMap::new();
    let mut by_terms: BTreeMap<(&str, &[String; 2]), Vec<&PairOutcome>> = BTreeMap::new();
    for o in &outcomes {
        if !group_order.contains(&o.group.as_str()) {
            group_order.push(&o.group);
        }
        by_group.entry(&o.group).or_default().push(o);
        by_terms.entry((&o.group, &o.terms)).or_default().push(o);
    }
    let per_group = group_order
        .iter()
        .map(|g| count(g, None, &by_group[g]))
        .collect();
    let mut per_term_pair: Vec<FlipCount> = by_terms
        .iter()
        .map(|((g, t), m)| count(g, Some((*t).clone()), m))
        .collect();
    per_term_pair.sort_by(|a, b| {
        b.flips
            .cmp(&a.flips)
            .then(b.mean_max_abs_dp.total_cmp(&a.mean_max_abs_dp))
    });
    let n = outcomes.len() as f64;
    let per_class = labels
        .iter()
        .enumerate()
        .map(|(c, l)| ClassShift {
            label: l.clone(),
            mean_abs_dp: sum_dp[c] / n,
            max_abs_dp: max_dp[c],
        })
        .collect();
    let mut worst_pairs = outcomes;
    worst_pairs.sort_by(|a, b| {
        b.max_abs_dp
            .total_cmp(&a.max_abs_dp)
            .then(b.flipped.cmp(&a.flipped))
            .then(a.line.cmp(&b.line))
    });
    worst_pairs.truncate(worst);
    Ok(FlipStats {
        pairs: total.pairs,
        flips: total.flips,
        flip_rate: total.flip_rate,
        mean_max_abs_dp: total.mean_max_abs_dp,
        per_group,
        per_term_pair,
        per_class,
        expected_label_accuracy: (expected_total > 0)
            .then(|| expected_hits as f64 / expected_total as f64),
        worst_pairs,
    })
}
