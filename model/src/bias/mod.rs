//! Bias evaluation and mitigation.
//!
//! - [`probes`]: the probe file (templates with a slot, groups of interchangeable terms),
//!   parsed with `file:line` errors and expanded into pairs of texts that differ only in
//!   the term;
//! - [`flips`]: flip statistics over the two predictions of each pair (flip rate overall and
//!   per group, mean |Δp| per class, the worst pairs);
//! - [`groups`]: per-group accuracy / macro-F1 on labelled data and the largest gap;
//! - [`report`]: the `tokken-cli bias` report (JSON and a self-contained HTML page);
//! - mitigation at training time ([`Mitigation`]): [`weights`] re-weights examples so each
//!   group has equal total weight, [`counterfactual`] adds term-swapped copies.

pub mod counterfactual;
pub mod flips;
pub mod groups;
pub mod probes;
pub mod report;
pub mod weights;

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::data::Dataset;
use crate::error::Result;

pub use counterfactual::augment_counterfactual;
pub use flips::{flip_stats, FlipStats};
pub use groups::{group_scores, GroupScores};
pub use probes::{ProbePair, ProbeSet};
pub use report::BiasReport;
pub use weights::{group_weight_table, group_weights};

/// Bias mitigation while fine-tuning (part of `train_config.json`, so `--resume` keeps it).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Mitigation {
    /// Re-weight training examples so each value of this data field has the same total
    /// weight ([`group_weights`]).
    #[serde(default)]
    pub group_weights: Option<String>,
    /// Add term-swapped copies of the training examples that contain a term of this probe
    /// file ([`augment_counterfactual`]).
    #[serde(default)]
    pub augment_counterfactual: Option<PathBuf>,
}

impl Mitigation {
    /// The training set with counterfactual copies added (unchanged without a probe file).
    pub fn augment(&self, train: Dataset) -> Result<Dataset> {
        match &self.augment_counterfactual {
            Some(path) => Ok(augment_counterfactual(&train, &ProbeSet::load(path)?)),
            None => Ok(train),
        }
    }

    /// [N] loss weight per training example; empty (all 1) without a group field.
    pub fn example_weights(&self, train: &Dataset) -> Result<Vec<f32>> {
        match &self.group_weights {
            Some(field) => group_weights(train, field),
            None => Ok(Vec::new()),
        }
    }
}
