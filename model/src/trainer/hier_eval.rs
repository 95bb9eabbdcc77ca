//! Eval of a hierarchical run during training: every eval row decoded to its most probable
//! path ([`crate::hierarchy::decode`]). The [`MetricsReport`] scores the leaf paths as
//! classes (so `accuracy` is the exact-path accuracy and the best run is kept by macro-F1
//! over paths) and carries the per-level and hierarchical metrics in `hierarchy`.

use super::batching::{EncodedSet, PaddedBatch};
use super::Trainer;
use crate::error::{ModelError, Result};
use crate::hierarchy::loss::hierarchical_loss;
use crate::hierarchy::metrics::hierarchy_metrics;
use crate::hierarchy::{decode, HierarchyLoss};
use crate::metrics::{MetricsInput, MetricsReport};

impl Trainer {
    /// Mean hierarchical loss and metrics on the eval set (dropout off).
    pub(super) fn evaluate_hierarchical(
        &mut self,
        h: &HierarchyLoss,
        eval: &EncodedSet,
    ) -> Result<(f64, MetricsReport)> {
        let tree = &h.tree;
        let pad = self.tokenizer.pad_id();
        let nl = eval.num_labels;
        let leaves = tree.leaves().len();
        let leaf_of_node = |node: i32| tree.leaves().iter().position(|&l| l as i32 == node);
        let mut y_true = Vec::with_capacity(eval.len());
        for &c in &eval.classes {
            y_true.push(leaf_of_node(c).ok_or_else(|| {
                ModelError::Input(format!("eval class {c} is not a leaf of the label tree"))
            })?);
        }
        let mut y_pred = vec![0usize; eval.len()];
        let mut probs = vec![0f64; eval.len() * leaves];
        let mut loss = 0.0f64;
        let mut scratch = Vec::new();
        let rows: Vec<usize> = (0..eval.len()).collect();
        for chunk in rows.chunks(self.config.batch_size.max(1) * 2) {
            let batch = PaddedBatch::gather(eval, chunk, pad);
            let logits = self.eval_logits(&batch.input())?;
            scratch.resize(logits.len(), 0.0);
            let l = hierarchical_loss(&mut scratch, &logits, &batch.classes, None, h, batch.b, nl)?;
            loss += l as f64 * batch.b as f64;
            for (r, &i) in chunk.iter().enumerate() {
                let p = decode(tree, &logits[r * nl..(r + 1) * nl]);
                y_pred[i] = p.leaf;
                for (dst, &src) in probs[i * leaves..(i + 1) * leaves]
                    .iter_mut()
                    .zip(&p.leaf_probs)
                {
                    *dst = src as f64;
                }
            }
        }
        let mut report = MetricsReport::compute(MetricsInput {
            labels: tree.leaf_paths(),
            y_true: &y_true,
            y_pred: &y_pred,
            probs: Some(&probs),
            top_k: None,
            calibration_bins: 10,
        })?;
        report.hierarchy = Some(hierarchy_metrics(tree, &y_true, &y_pred)?);
        Ok((loss / eval.len().max(1) as f64, report))
    }
}
