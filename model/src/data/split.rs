//! Seeded stratified train/eval split (`--eval-split 0.1`) and few-shot samples.
//!
//! Examples are grouped by stratum (the label; the first label for multi-label, none for
//! an empty list), each group is shuffled with a SplitMix64-driven Fisher–Yates shuffle from
//! the seed, and the eval set takes `round(fraction · N)` examples shared among groups by
//! largest remainder (ties to the earlier group in label order), never taking a group's last
//! example. The same data, fraction and seed give the same split on every machine.

use std::collections::BTreeMap;

use super::Example;
use crate::error::{ModelError, Result};
use crate::rng::SplitMix64;

/// Indices into the example list, each ascending (file order).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Split {
    pub train: Vec<usize>,
    pub eval: Vec<usize>,
}

/// Split `examples` so that about `eval_fraction` of each label goes to the eval set.
pub fn stratified_split(examples: &[Example], eval_fraction: f64, seed: u64) -> Result<Split> {
    if !(eval_fraction > 0.0 && eval_fraction < 1.0) {
        return Err(ModelError::Input(format!(
            "eval split {eval_fraction} must be between 0 and 1 (exclusive)"
        )));
    }
    let n = examples.len();
    let n_eval = (eval_fraction * n as f64).round() as usize;
    if n_eval == 0 || n_eval >= n {
        return Err(ModelError::Input(format!(
            "eval split {eval_fraction} of {n} examples leaves an empty train or eval set"
        )));
    }
    let groups = shuffled_groups(examples, seed);
    // Each label keeps at least one train example.
    let quotas = quotas(&groups, eval_fraction, n_eval, |g| {
        g.len().saturating_sub(1)
    });
    let mut split = Split {
        train: Vec::with_capacity(n - n_eval),
        eval: Vec::with_capacity(n_eval),
    };
    for (g, q) in groups.iter().zip(quotas) {
        split.eval.extend_from_slice(&g[..q]);
        split.train.extend_from_slice(&g[q..]);
    }
    if split.eval.is_empty() {
        return Err(ModelError::Input(format!(
            "eval split {eval_fraction}: every label has a single example, so none can be held out"
        )));
    }
    split.train.sort_unstable();
    split.eval.sort_unstable();
    Ok(split)
}

/// A seeded stratified sample of the examples (few-shot pools): `shots` examples in all,
/// shared among labels in proportion to their counts (largest remainder, as the split), or
/// with `per_class` `shots` of each label (every example of a label that has fewer).
/// Indices ascending (file order); the same data, shots and seed give the same sample.
pub fn stratified_sample(
    examples: &[Example],
    shots: usize,
    per_class: bool,
    seed: u64,
) -> Result<Vec<usize>> {
    let n = examples.len();
    if shots == 0 {
        return Err(ModelError::Input("shots must be at least 1".into()));
    }
    if !per_class && shots > n {
        return Err(ModelError::Input(format!(
            "asked for {shots} examples but the pool has only {n}"
        )));
    }
    let groups = shuffled_groups(examples, seed);
    let quotas: Vec<usize> = if per_class {
        groups.iter().map(|g| g.len().min(shots)).collect()
    } else {
        quotas(&groups, shots as f64 / n as f64, shots, |g| g.len())
    };
    let mut out: Vec<usize> = groups
        .iter()
        .zip(quotas)
        .flat_map(|(g, q)| g[..q].iter().copied())
        .collect();
    out.sort_unstable();
    Ok(out)
}

/// Indices grouped by stratum (groups in label order), each group shuffled from `seed`.
fn shuffled_groups(examples: &[Example], seed: u64) -> Vec<Vec<usize>> {
    let mut groups: BTreeMap<Option<&str>, Vec<usize>> = BTreeMap::new();
    for (i, e) in examples.iter().enumerate() {
        let key = e.label.as_slice().first().map(String::as_str);
        groups.entry(key).or_default().push(i);
    }
    let mut groups: Vec<Vec<usize>> = groups.into_values().collect();
    let mut rng = SplitMix64::new(seed);
    for g in &mut groups {
        rng.shuffle(g);
    }
    groups
}

/// Examples taken per group: `floor(f · n_g)` then the remainder by largest fractional part
/// until `target` is reached, never more than `cap(group)`.
fn quotas(
    groups: &[Vec<usize>],
    fraction: f64,
    target: usize,
    cap: impl Fn(&Vec<usize>) -> usize,
) -> Vec<usize> {
    let mut q: Vec<usize> = groups
        .iter()
        .map(|g| ((fraction * g.len() as f64).floor() as usize).min(cap(g)))
        .collect();
    let mut order: Vec<usize> = (0..groups.len()).collect();
    let frac = |i: usize| fraction * groups[i].len() as f64 - q[i] as f64;
    order.sort_by(|&a, &b| frac(b).total_cmp(&frac(a)).then(a.cmp(&b)));
    let mut assigned: usize = q.iter().sum();
    // Round-robin over the remainder order until the total is reached or no group has room.
    while assigned < target {
        let mut progressed = false;
        for &i in &order {
            if assigned == target {
                break;
            }
            if q[i] < cap(&groups[i]) {
                q[i] += 1;
                assigned += 1;
                progressed = true;
            }
        }
        if !progressed {
            break;
        }
    }
    q
}
