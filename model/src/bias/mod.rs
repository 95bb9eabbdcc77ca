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

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Bias mitigation while fine-tuning (part of `train_config.json`, so `--resume` keeps it).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Mitigation {
    /// Re-weight training examples so each value of this data field has the same total
    /// weight (`weights::group_weights`).
    #[serde(default)]
    pub group_weights: Option<String>,
    /// Add a term-swapped copy of each training example that contains a term of this probe
    /// file (`counterfactual::augment_counterfactual`).
    #[serde(default)]
    pub augment_counterfactual: Option<PathBuf>,
}
