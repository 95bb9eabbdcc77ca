//! Group re-weighting: per-example loss weights that give every group of a data field the
//! same total weight.
//!
//! With N examples in G groups (the values of the field; examples without it form the
//! group `(none)`) and n_g examples in group g, example i of group g(i) gets
//!
//! `s_i = N / (G · n_{g(i)})`
//!
//! so every group sums to N / G and all weights sum to N (mean 1: the loss keeps its scale,
//! and a batch's expected loss is the group-balanced loss). It is scikit-learn's
//! `compute_sample_weight("balanced", groups)`. The weights multiply each example's loss
//! (class weights, if any, still apply on top; see
//! [`crate::train::loss::loss_forward_backward_weighted`]).

use std::collections::BTreeMap;

use crate::data::{Dataset, Example};
use crate::error::{ModelError, Result};

/// The value of `field` that groups `e` (`(none)` when absent).
fn group_of<'a>(e: &'a Example, field: &str) -> &'a str {
    e.extra.get(field).map_or("(none)", |v| v.as_str())
}

/// One group's size and weight.
#[derive(Clone, Debug, PartialEq)]
pub struct GroupWeight {
    pub group: String,
    pub count: usize,
    /// `N / (G · count)`.
    pub weight: f64,
}

/// The groups of `field` in `data` (sorted by value) with their weights.
///
/// Errors when no example has the field (a typo in the field name would otherwise give
/// every example weight 1 silently).
pub fn group_weight_table(data: &Dataset, field: &str) -> Result<Vec<GroupWeight>> {
    if !data.examples.iter().any(|e| e.extra.contains_key(field)) {
        return Err(ModelError::DataFile {
            path: data.path.clone(),
            msg: format!("--group-weights {field}: no example has a field {field:?}"),
        });
    }
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for e in &data.examples {
        *counts.entry(group_of(e, field)).or_default() += 1;
    }
    let n = data.examples.len() as f64;
    let g = counts.len() as f64;
    Ok(counts
        .into_iter()
        .map(|(group, count)| GroupWeight {
            group: group.to_string(),
            count,
            weight: n / (g * count as f64),
        })
        .collect())
}

/// [N] weight of each example of `data` (see the module docs).
pub fn group_weights(data: &Dataset, field: &str) -> Result<Vec<f32>> {
    let table = group_weight_table(data, field)?;
    let by_group: BTreeMap<&str, f64> =
        table.iter().map(|g| (g.group.as_str(), g.weight)).collect();
    Ok(data
        .examples
        .iter()
        .map(|e| by_group[group_of(e, field)] as f32)
        .collect())
}
