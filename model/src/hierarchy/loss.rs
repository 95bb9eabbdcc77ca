//! The hierarchical loss: for an example whose gold path is `a₀ → a₁ → … → a_k` (a leaf),
//! level `d` contributes the cross-entropy of `a_d` under a softmax over the siblings of
//! `a_d` only (the children of the gold parent `a_{d-1}`; the top nodes for level 0):
//!
//! `loss = (1/B) Σ_i Σ_{d ≤ k_i} w_d · (logsumexp(z_i[sib(a_d)]) − z_i[a_d])`
//!
//! Rows of other nodes of that level get no gradient (they are masked out), and an example
//! whose path stops at level 1 (`スポーツ`) adds nothing at level 2. Dividing by B (not by
//! the number of examples that reach a level) keeps micro-batch accumulation exact.

use serde::{Deserialize, Serialize};

use super::tree::Hierarchy;
use crate::error::{ModelError, Result};

/// The hierarchical loss's settings (part of the training setup's loss).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HierarchyLoss {
    pub tree: Hierarchy,
    /// One weight per level, `w_0` first.
    pub level_weights: Vec<f32>,
}

impl HierarchyLoss {
    /// Level weights all 1.
    pub fn new(tree: Hierarchy) -> HierarchyLoss {
        let level_weights = vec![1.0; tree.depth()];
        HierarchyLoss {
            tree,
            level_weights,
        }
    }

    /// The setup is usable with `labels` classifier outputs.
    pub fn check(&self, labels: usize) -> Result<()> {
        let bad = |msg: String| Err(ModelError::Other(format!("training setup: {msg}")));
        if self.level_weights.len() != self.tree.depth() {
            return bad(format!(
                "{} level weights for a label tree of {} levels",
                self.level_weights.len(),
                self.tree.depth()
            ));
        }
        if self
            .level_weights
            .iter()
            .any(|w| !w.is_finite() || *w < 0.0)
        {
            return bad(format!(
                "level weights must be finite and >= 0: {:?}",
                self.level_weights
            ));
        }
        if labels != self.tree.nodes().len() {
            return bad(format!(
                "the classifier has {labels} outputs but the label tree has {} nodes",
                self.tree.nodes().len()
            ));
        }
        Ok(())
    }
}

/// The hierarchical loss replaces the flat cross-entropy: it takes no class weights, no
/// label smoothing and no multi-label targets.
pub fn check_setup(
    h: &HierarchyLoss,
    loss: &crate::train::LossConfig,
    labels: usize,
) -> Result<()> {
    let refuse = |what: &str| {
        Err(ModelError::Other(format!(
            "training setup: {what} cannot be combined with a label hierarchy"
        )))
    };
    if loss.multi_label {
        return refuse("multi-label training");
    }
    if loss.class_weights.is_some() {
        return refuse("class weights");
    }
    if loss.label_smoothing > 0.0 {
        return refuse("label smoothing");
    }
    h.check(labels)
}

/// Mean hierarchical loss of `logits` `[B, NL]` (NL = nodes of the tree) for `targets`
/// `[B]` (leaf node indices); `dlogits` `[B, NL]` = d loss / d logits (overwritten).
/// `example_weights` `[B]` (checked by the caller) multiply each example's loss and
/// gradient; the normaliser stays B.
pub fn hierarchical_loss(
    dlogits: &mut [f32],
    logits: &[f32],
    targets: &[i32],
    example_weights: Option<&[f32]>,
    cfg: &HierarchyLoss,
    b: usize,
    nl: usize,
) -> Result<f32> {
    let tree = &cfg.tree;
    cfg.check(nl)?;
    if targets.len() != b || logits.len() != b * nl || dlogits.len() != b * nl {
        return Err(ModelError::Input(format!(
            "hierarchical loss: {} targets, {} logits for B x NL = {b} x {nl}",
            targets.len(),
            logits.len()
        )));
    }
    let leaf = |t: i32| -> Option<usize> {
        let t = usize::try_from(t).ok()?;
        (t < nl && tree.nodes()[t].children.is_empty()).then_some(t)
    };
    if let Some((i, &bad)) = targets.iter().enumerate().find(|(_, &t)| leaf(t).is_none()) {
        return Err(ModelError::Input(format!(
            "target {bad} of example {i} is not a leaf of the label tree"
        )));
    }
    dlogits.fill(0.0);
    let inv_b = 1.0 / b as f64;
    let mut total = 0.0f64;
    for (i, ((z, dz), &t)) in logits
        .chunks_exact(nl)
        .zip(dlogits.chunks_exact_mut(nl))
        .zip(targets)
        .enumerate()
    {
        let s = example_weights.map_or(1.0, |w| w[i] as f64);
        for (d, &gold) in tree.lineage(t as usize).iter().enumerate() {
            let w = s * cfg.level_weights[d] as f64;
            let sib = tree.siblings(gold);
            let max = sib
                .iter()
                .map(|&j| z[j] as f64)
                .fold(f64::NEG_INFINITY, f64::max);
            let sum: f64 = sib.iter().map(|&j| (z[j] as f64 - max).exp()).sum();
            let lse = max + sum.ln();
            total += w * (lse - z[gold] as f64);
            for &j in sib {
                let p = (z[j] as f64 - lse).exp();
                let y = if j == gold { 1.0 } else { 0.0 };
                dz[j] += (w * inv_b * (p - y)) as f32;
            }
        }
    }
    Ok((total * inv_b) as f32)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn tree() -> Hierarchy {
        Hierarchy::parse(
            r#"{"国内": ["政治", "経済"], "国際": ["政治", "経済", "紛争"], "スポーツ": []}"#,
            Path::new("t.json"),
        )
        .unwrap()
    }

    #[test]
    fn hand_computed_loss_and_masked_gradient() {
        let h = HierarchyLoss {
            tree: tree(),
            level_weights: vec![1.0, 0.5],
        };
        // nodes: 0 国内, 1 国際, 2 スポーツ, 3 国内/政治, 4 国内/経済, 5 国際/政治, 6 国際/経済, 7 国際/紛争
        let z = [1.0f32, 0.0, -1.0, 0.5, -0.5, 2.0, 0.0, 1.0];
        let mut logits = z.to_vec();
        logits.extend_from_slice(&z);
        let mut d = vec![9.0f32; 16];
        let loss = hierarchical_loss(&mut d, &logits, &[6, 2], None, &h, 2, 8).unwrap();
        let lse = |xs: &[f64]| xs.iter().map(|x| x.exp()).sum::<f64>().ln();
        let l1 = lse(&[1.0, 0.0, -1.0]);
        let want = ((l1 - 0.0) + 0.5 * (lse(&[2.0, 0.0, 1.0]) - 0.0) + (l1 + 1.0)) / 2.0;
        assert!((loss as f64 - want).abs() < 1e-6, "{loss} vs {want}");
        // example 0 (国際/経済): 国内 children get no gradient, 国際 children do
        assert_eq!(&d[3..5], &[0.0, 0.0]);
        let p = (0.0f64 - lse(&[2.0, 0.0, 1.0])).exp();
        assert!((d[6] as f64 - 0.25 * (p - 1.0)).abs() < 1e-6);
        // example 1 (スポーツ): no level-2 gradient at all
        assert!(d[8 + 3..16].iter().all(|&g| g == 0.0));
        // each level's gradient sums to zero over its siblings
        assert!((d[0] + d[1] + d[2]).abs() < 1e-6);
        assert!((d[5] + d[6] + d[7]).abs() < 1e-6);
    }

    #[test]
    fn finite_differences() {
        let h = HierarchyLoss {
            tree: tree(),
            level_weights: vec![0.7, 1.3],
        };
        let (b, nl) = (3, 8);
        let logits: Vec<f32> = (0..b * nl)
            .map(|i| ((i * 7 % 11) as f32 - 5.0) * 0.3)
            .collect();
        let targets = [4, 7, 2];
        let mut d = vec![0.0; b * nl];
        hierarchical_loss(&mut d, &logits, &targets, None, &h, b, nl).unwrap();
        let mut scratch = vec![0.0; b * nl];
        for i in 0..b * nl {
            let eps = 1e-2f32;
            let mut up = logits.clone();
            up[i] += eps;
            let mut down = logits.clone();
            down[i] -= eps;
            let fd = (hierarchical_loss(&mut scratch, &up, &targets, None, &h, b, nl).unwrap()
                - hierarchical_loss(&mut scratch, &down, &targets, None, &h, b, nl).unwrap())
                / (2.0 * eps);
            assert!((fd - d[i]).abs() < 2e-3, "logit {i}: fd {fd} vs {}", d[i]);
        }
    }

    #[test]
    fn rejects_inner_nodes_and_bad_weights() {
        let h = HierarchyLoss::new(tree());
        let mut d = vec![0.0; 8];
        let e = hierarchical_loss(&mut d, &[0.0; 8], &[1], None, &h, 1, 8).unwrap_err();
        assert!(e.to_string().contains("not a leaf"), "{e}");
        let bad = HierarchyLoss {
            tree: tree(),
            level_weights: vec![1.0],
        };
        assert!(bad.check(8).is_err());
        assert!(h.check(7).is_err());
    }
}
