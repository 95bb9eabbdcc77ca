//! Metrics of path predictions: per level, exact path, and hierarchical precision / recall
//! / F1 (Kiritchenko et al. 2005: each path is augmented with its ancestors, and the
//! overlaps are summed over all examples before dividing — micro-averaged).
//!
//! Level `d` is scored on the examples whose gold path reaches level `d` (a gold `スポーツ`
//! is not scored at level 2). A prediction whose path stops above level `d` counts as the
//! extra class [`STOPS_ABOVE`] there (always wrong). Macro-F1 follows
//! [`crate::metrics`]: over the classes present in the gold or predicted labels.

use serde::Serialize;

use super::tree::Hierarchy;
use crate::error::{ModelError, Result};
use crate::metrics::{averages, confusion_matrix, per_class, ClassMetrics};

/// The class a level-`d` prediction gets when the predicted path ends above level `d`.
pub const STOPS_ABOVE: &str = "(path ends above)";

/// Scores at one level of the tree.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LevelMetrics {
    /// 1-based level.
    pub level: usize,
    /// Examples whose gold path reaches this level.
    pub n: usize,
    pub accuracy: f64,
    pub macro_f1: f64,
    /// Per node of this level (by path), plus [`STOPS_ABOVE`] below level 1.
    pub per_class: Vec<ClassMetrics>,
}

/// Everything `eval` reports about a hierarchical model.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct HierarchyMetrics {
    pub levels: Vec<LevelMetrics>,
    /// Predicted path == gold path.
    pub exact_path_accuracy: f64,
    /// Σ|P̂ ∩ P| / Σ|P̂| over ancestor-augmented node sets.
    pub hierarchical_precision: f64,
    /// Σ|P̂ ∩ P| / Σ|P|.
    pub hierarchical_recall: f64,
    pub hierarchical_f1: f64,
}

impl std::fmt::Display for HierarchyMetrics {
    /// One summary line, then one line per level.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "hierarchy: exact path {:.4}  hierarchical P {:.4}  R {:.4}  F1 {:.4}",
            self.exact_path_accuracy,
            self.hierarchical_precision,
            self.hierarchical_recall,
            self.hierarchical_f1
        )?;
        for l in &self.levels {
            writeln!(
                f,
                "  level {}: n {}  accuracy {:.4}  macro-F1 {:.4}",
                l.level, l.n, l.accuracy, l.macro_f1
            )?;
        }
        Ok(())
    }
}

fn ratio(a: f64, b: f64) -> f64 {
    if b == 0.0 {
        0.0
    } else {
        a / b
    }
}

/// Score leaf predictions: `y_true`, `y_pred` are indices into [`Hierarchy::leaf_paths`].
pub fn hierarchy_metrics(
    tree: &Hierarchy,
    y_true: &[usize],
    y_pred: &[usize],
) -> Result<HierarchyMetrics> {
    let leaves = tree.leaves().len();
    if y_true.len() != y_pred.len() || y_true.is_empty() {
        return Err(ModelError::Metrics(format!(
            "{} gold and {} predicted paths (need the same, non-zero count)",
            y_true.len(),
            y_pred.len()
        )));
    }
    if let Some(bad) = y_true.iter().chain(y_pred).find(|&&i| i >= leaves) {
        return Err(ModelError::Metrics(format!(
            "leaf index {bad} out of range (the tree has {leaves} leaves)"
        )));
    }
    let lineage = |leaf: usize| tree.lineage(tree.leaves()[leaf]);
    let gold: Vec<Vec<usize>> = y_true.iter().map(|&l| lineage(l)).collect();
    let pred: Vec<Vec<usize>> = y_pred.iter().map(|&l| lineage(l)).collect();

    let mut levels = Vec::new();
    for (d, nodes) in tree.levels().iter().enumerate() {
        let mut labels: Vec<String> = nodes.iter().map(|&i| tree.paths()[i].clone()).collect();
        let stops = labels.len();
        if d > 0 {
            labels.push(STOPS_ABOVE.to_string());
        }
        let class = |node: usize| nodes.iter().position(|&i| i == node).unwrap_or(stops);
        let (mut t, mut p) = (Vec::new(), Vec::new());
        for (g, q) in gold.iter().zip(&pred) {
            if let Some(&gn) = g.get(d) {
                t.push(class(gn));
                p.push(q.get(d).map_or(stops, |&qn| class(qn)));
            }
        }
        if t.is_empty() {
            continue;
        }
        let confusion = confusion_matrix(&t, &p, labels.len())?;
        let classes = per_class(&confusion, &labels);
        let correct = t.iter().zip(&p).filter(|(a, b)| a == b).count();
        levels.push(LevelMetrics {
            level: d + 1,
            n: t.len(),
            accuracy: ratio(correct as f64, t.len() as f64),
            macro_f1: averages(&confusion, &classes).macro_f1,
            per_class: classes,
        });
    }

    let (mut overlap, mut predicted, mut true_size) = (0usize, 0usize, 0usize);
    for (g, q) in gold.iter().zip(&pred) {
        overlap += q.iter().filter(|n| g.contains(n)).count();
        predicted += q.len();
        true_size += g.len();
    }
    let hp = ratio(overlap as f64, predicted as f64);
    let hr = ratio(overlap as f64, true_size as f64);
    let exact = y_true.iter().zip(y_pred).filter(|(a, b)| a == b).count();
    Ok(HierarchyMetrics {
        levels,
        exact_path_accuracy: ratio(exact as f64, y_true.len() as f64),
        hierarchical_precision: hp,
        hierarchical_recall: hr,
        hierarchical_f1: ratio(2.0 * hp * hr, hp + hr),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn hand_computed_case() {
        let h = Hierarchy::parse(
            r#"{"国内": ["政治", "経済"], "国際": ["政治", "経済"], "スポーツ": []}"#,
            Path::new("t.json"),
        )
        .unwrap();
        let leaf = |p: &str| h.leaf_of(p).unwrap();
        // gold → predicted:
        //   国内/経済 → 国内/経済  (exact: overlap 2, |P̂| 2, |P| 2)
        //   国内/政治 → 国際/政治  (overlap 0, 2, 2)
        //   国際/経済 → 国際/政治  (overlap 1, 2, 2)
        //   スポーツ  → 国内/経済  (overlap 0, 2, 1)
        //   国際/経済 → スポーツ   (overlap 0, 1, 2)
        let y_true = [
            leaf("国内/経済"),
            leaf("国内/政治"),
            leaf("国際/経済"),
            leaf("スポーツ"),
            leaf("国際/経済"),
        ];
        let y_pred = [
            leaf("国内/経済"),
            leaf("国際/政治"),
            leaf("国際/政治"),
            leaf("国内/経済"),
            leaf("スポーツ"),
        ];
        let m = hierarchy_metrics(&h, &y_true, &y_pred).unwrap();
        assert!((m.exact_path_accuracy - 0.2).abs() < 1e-12);
        // hP = 3/9, hR = 3/9, hF = 1/3
        assert!((m.hierarchical_precision - 3.0 / 9.0).abs() < 1e-12);
        assert!((m.hierarchical_recall - 3.0 / 9.0).abs() < 1e-12);
        assert!((m.hierarchical_f1 - 1.0 / 3.0).abs() < 1e-12);
        // level 1: gold 国内 国内 国際 スポーツ 国際, pred 国内 国際 国際 国内 スポーツ → 2/5
        let l1 = &m.levels[0];
        assert_eq!((l1.level, l1.n), (1, 5));
        assert!((l1.accuracy - 0.4).abs() < 1e-12);
        // 国内: tp1 fp1 fn1 → F1 .5; 国際: tp1 fp1 fn1 → .5; スポーツ: tp0 fp1 fn1 → 0
        assert!((l1.macro_f1 - 1.0 / 3.0).abs() < 1e-12);
        // level 2 (4 gold paths reach it): 国内/経済 ✓, 国内/政治 ✗, 国際/経済 ✗, 国際/経済 → stops ✗
        let l2 = &m.levels[1];
        assert_eq!(l2.n, 4);
        assert!((l2.accuracy - 0.25).abs() < 1e-12);
        let stops = l2
            .per_class
            .iter()
            .find(|c| c.label == STOPS_ABOVE)
            .unwrap();
        assert_eq!((stops.support, stops.predicted), (0, 1));
        // present: 国内/政治 (F1 0), 国内/経済 (1), 国際/政治 (0), 国際/経済 (0), stops (0)
        assert!((l2.macro_f1 - 0.2).abs() < 1e-12);
    }
}
