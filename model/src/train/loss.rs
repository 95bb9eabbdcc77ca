//! Losses on the logits with their gradients (torch semantics, kernels in `xent`):
//! single-label cross-entropy with optional class weights (weighted mean) and label
//! smoothing; multi-label sigmoid BCE (mean over B·NL), as HF `BertForSequenceClassification`.
//! Optional per-example weights (group re-weighting) multiply each example's loss.

use tokken_kernels::cpu::xent::{
    bce_with_logits_weighted, cross_entropy_weighted, CrossEntropyOptions, Reduction,
};

use super::{LossConfig, Targets};
use crate::error::{ModelError, Result};

/// The mean loss of `logits` `[B, NL]`; `dlogits` `[B, NL]` = d loss / d logits (overwritten).
/// Targets are checked (count, class range, multi-label shape) before any work.
pub fn loss_forward_backward(
    dlogits: &mut [f32],
    logits: &[f32],
    targets: &Targets<'_>,
    cfg: &LossConfig,
    b: usize,
    labels: usize,
) -> Result<f32> {
    loss_forward_backward_weighted(dlogits, logits, targets, None, cfg, b, labels)
}

/// [`loss_forward_backward`] with per-example weights `[B]` (`None`: all 1): example i's
/// loss and gradient are multiplied by `s_i`, the normaliser is unchanged (see
/// [`cross_entropy_weighted`] and [`bce_with_logits_weighted`]). Weights must be finite and
/// non-negative.
pub fn loss_forward_backward_weighted(
    dlogits: &mut [f32],
    logits: &[f32],
    targets: &Targets<'_>,
    example_weights: Option<&[f32]>,
    cfg: &LossConfig,
    b: usize,
    labels: usize,
) -> Result<f32> {
    if let Some(s) = example_weights {
        if s.len() != b {
            return Err(ModelError::Input(format!(
                "{} example weights for a batch of {b}",
                s.len()
            )));
        }
        if let Some((i, w)) = s
            .iter()
            .enumerate()
            .find(|(_, w)| !(w.is_finite() && **w >= 0.0))
        {
            return Err(ModelError::Input(format!(
                "example weight {w} of example {i} is not a finite non-negative number"
            )));
        }
    }
    if let (Some(h), Targets::Single(y), false) = (&cfg.hierarchy, targets, cfg.multi_label) {
        return crate::hierarchy::loss::hierarchical_loss(
            dlogits,
            logits,
            y,
            example_weights,
            h,
            b,
            labels,
        );
    }
    match (targets, cfg.multi_label) {
        (Targets::Single(y), false) => {
            if y.len() != b {
                return Err(ModelError::Input(format!(
                    "{} targets for a batch of {b}",
                    y.len()
                )));
            }
            if let Some((i, &bad)) = y
                .iter()
                .enumerate()
                .find(|(_, &v)| v < 0 || v as usize >= labels)
            {
                return Err(ModelError::Input(format!(
                    "target {bad} of example {i} is not a class in 0..{labels}"
                )));
            }
            let opts = CrossEntropyOptions {
                weight: cfg.class_weights.as_deref(),
                label_smoothing: cfg.label_smoothing,
                ignore_index: None,
                reduction: Reduction::Mean,
            };
            Ok(cross_entropy_weighted(
                dlogits,
                logits,
                y,
                example_weights,
                b,
                labels,
                &opts,
            ))
        }
        (Targets::Multi(y), true) => {
            if y.len() != b * labels {
                return Err(ModelError::Input(format!(
                    "multi-label targets hold {} values, expected B x NL = {b} x {labels}",
                    y.len()
                )));
            }
            if let Some((i, v)) = y
                .iter()
                .enumerate()
                .find(|(_, v)| !(0.0..=1.0).contains(*v))
            {
                return Err(ModelError::Input(format!(
                    "multi-label target {v} (example {}, label {}) is not in [0, 1]",
                    i / labels,
                    i % labels
                )));
            }
            Ok(bce_with_logits_weighted(
                dlogits,
                logits,
                y,
                None,
                example_weights,
                b,
                labels,
                Reduction::Mean,
            ))
        }
        (Targets::Single(_), true) => Err(ModelError::Input(
            "multi-label loss needs Targets::Multi ([B, NL] 0/1)".into(),
        )),
        (Targets::Multi(_), false) => Err(ModelError::Input(
            "single-label loss needs Targets::Single ([B] class indices)".into(),
        )),
    }
}
