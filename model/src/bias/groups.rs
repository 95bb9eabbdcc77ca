//! Per-group scores on labelled data: accuracy and macro-F1 for each value of a group field
//! (the subsets `eval --slice-by` uses) and the largest gap between two groups.

use serde::Serialize;

use crate::data::Example;
use crate::error::{ModelError, Result};
use crate::metrics::SliceMetrics;
use crate::report::slices::{field_slices, score_slices};

/// The difference between the best and the worst group on one score.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Gap {
    /// best − worst.
    pub gap: f64,
    pub best_group: String,
    pub best: f64,
    pub worst_group: String,
    pub worst: f64,
}

/// Scores per group of a field and the largest gaps.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct GroupScores {
    /// The data field the groups come from.
    pub field: String,
    /// One entry per value (sorted; `(none)` for examples without the field).
    pub groups: Vec<SliceMetrics>,
    pub accuracy_gap: Gap,
    pub macro_f1_gap: Gap,
}

fn gap(groups: &[SliceMetrics], score: fn(&SliceMetrics) -> f64) -> Gap {
    let best = groups
        .iter()
        .max_by(|a, b| score(a).total_cmp(&score(b)))
        .expect("at least one group");
    let worst = groups
        .iter()
        .min_by(|a, b| score(a).total_cmp(&score(b)))
        .expect("at least one group");
    Gap {
        gap: score(best) - score(worst),
        best_group: best.value.clone(),
        best: score(best),
        worst_group: worst.value.clone(),
        worst: score(worst),
    }
}

/// Accuracy and macro-F1 per value of `field`; `y_true[i]`, `y_pred[i]` belong to
/// `examples[i]`. Errors when no example has the field.
pub fn group_scores(
    examples: &[Example],
    y_true: &[usize],
    y_pred: &[usize],
    labels: &[String],
    field: &str,
) -> Result<GroupScores> {
    if !examples.iter().any(|e| e.extra.contains_key(field)) {
        return Err(ModelError::Input(format!(
            "--group-field {field}: no example of the data has a field {field:?}"
        )));
    }
    let slices = field_slices(examples, field);
    let groups = score_slices(&slices, y_true, y_pred, labels)?;
    Ok(GroupScores {
        field: field.to_string(),
        accuracy_gap: gap(&groups, |g| g.accuracy),
        macro_f1_gap: gap(&groups, |g| g.macro_f1),
        groups,
    })
}
