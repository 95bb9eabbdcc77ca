//! Decoding: per-node probabilities from the logits and the most probable full path.
//!
//! Each node's *conditional* probability is a softmax over its siblings (the top nodes, or
//! the children of its parent); a path's probability is the product of the conditionals
//! along it, so the leaf paths form one distribution (they sum to 1). The prediction is the
//! leaf path of highest product — an exact arg-max over whole paths, not a greedy top-down
//! walk (greedy can pick a likely parent whose children are all unlikely). Ties go to the
//! first leaf in tree order. The result is a path of the tree by construction.

use serde::Serialize;

use super::tree::Hierarchy;

/// One level of a predicted path.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LevelChoice {
    /// 1-based level.
    pub level: usize,
    /// The node's own name (`経済`).
    pub label: String,
    /// Its path (`国際/経済`).
    pub path: String,
    /// Probability of this node given its parent (the level's masked softmax).
    pub prob: f32,
}

/// A decoded prediction.
#[derive(Clone, Debug, PartialEq)]
pub struct PathPrediction {
    /// Index into [`Hierarchy::leaf_paths`].
    pub leaf: usize,
    /// The leaf's path.
    pub path: String,
    /// The path's probability (product of its levels' probabilities).
    pub prob: f32,
    /// The chosen node of each level, top first.
    pub levels: Vec<LevelChoice>,
    /// [leaves] probability of every leaf path.
    pub leaf_probs: Vec<f32>,
}

/// `(conditional, joint)` probabilities of every node `[NL]` from one row of logits `[NL]`.
pub fn node_probabilities(tree: &Hierarchy, logits: &[f32]) -> (Vec<f64>, Vec<f64>) {
    let n = tree.nodes().len();
    let mut conditional = vec![0.0f64; n];
    // sibling groups: the top level, then each node's children
    let mut groups: Vec<&[usize]> = vec![&tree.levels()[0]];
    groups.extend(
        tree.nodes()
            .iter()
            .filter(|node| !node.children.is_empty())
            .map(|node| node.children.as_slice()),
    );
    for g in groups {
        let max = g
            .iter()
            .map(|&j| logits[j] as f64)
            .fold(f64::NEG_INFINITY, f64::max);
        let sum: f64 = g.iter().map(|&j| (logits[j] as f64 - max).exp()).sum();
        for &j in g {
            conditional[j] = (logits[j] as f64 - max).exp() / sum;
        }
    }
    // level order: a parent's joint is known before its children's
    let mut joint = vec![0.0f64; n];
    for (i, node) in tree.nodes().iter().enumerate() {
        joint[i] = conditional[i] * node.parent.map_or(1.0, |p| joint[p]);
    }
    (conditional, joint)
}

/// The most probable leaf path of one row of logits `[NL]` (NL = nodes of `tree`).
pub fn decode(tree: &Hierarchy, logits: &[f32]) -> PathPrediction {
    let (conditional, joint) = node_probabilities(tree, logits);
    let leaf_probs: Vec<f32> = tree.leaves().iter().map(|&i| joint[i] as f32).collect();
    let mut leaf = 0;
    for (k, &i) in tree.leaves().iter().enumerate() {
        if joint[i] > joint[tree.leaves()[leaf]] {
            leaf = k;
        }
    }
    let node = tree.leaves()[leaf];
    let levels = tree
        .lineage(node)
        .into_iter()
        .enumerate()
        .map(|(d, i)| LevelChoice {
            level: d + 1,
            label: tree.nodes()[i].name.clone(),
            path: tree.nodes()[i].path.clone(),
            prob: conditional[i] as f32,
        })
        .collect();
    PathPrediction {
        leaf,
        path: tree.leaf_paths()[leaf].clone(),
        prob: joint[node] as f32,
        levels,
        leaf_probs,
    }
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
    fn exact_path_argmax_beats_greedy() {
        let h = tree();
        // level 1: 国内 0.45, 国際 0.40, スポーツ 0.15 (greedy takes 国内)
        // 国内's children split 50/50, 国際's are 95% 紛争: 国際/紛争 wins (0.38 > 0.225)
        let l1 = [0.45f64.ln(), 0.40f64.ln(), 0.15f64.ln()];
        let logits = [
            l1[0] as f32,
            l1[1] as f32,
            l1[2] as f32,
            0.0,
            0.0,
            0.0,
            0.0,
            (0.95f64 / 0.025).ln() as f32,
        ];
        let p = decode(&h, &logits);
        assert_eq!(p.path, "国際/紛争");
        assert!((p.prob - 0.40 * 0.95).abs() < 1e-5);
        assert_eq!(p.levels.len(), 2);
        assert_eq!(p.levels[0].label, "国際");
        assert!((p.levels[0].prob - 0.40).abs() < 1e-5);
        assert_eq!(p.levels[1].path, "国際/紛争");
        let sum: f32 = p.leaf_probs.iter().sum();
        assert!((sum - 1.0).abs() < 1e-5);
    }

    #[test]
    fn every_decoded_path_is_a_leaf_of_the_tree() {
        let h = tree();
        let mut x = 12345u64;
        for _ in 0..500 {
            let logits: Vec<f32> = (0..8)
                .map(|_| {
                    x = x
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    ((x >> 33) as f32 / (1u64 << 31) as f32 - 0.5) * 8.0
                })
                .collect();
            let p = decode(&h, &logits);
            assert!(h.target_error(&p.path).is_none(), "{}", p.path);
            let lineage: Vec<String> = p.levels.iter().map(|l| l.path.clone()).collect();
            let leaf_node = h.node_of(&p.path).unwrap();
            let want: Vec<String> = h
                .lineage(leaf_node)
                .iter()
                .map(|&i| h.paths()[i].clone())
                .collect();
            assert_eq!(lineage, want);
            let best = p.leaf_probs.iter().cloned().fold(0.0f32, f32::max);
            assert_eq!(p.prob, best);
        }
    }

    #[test]
    fn leafless_top_node_is_a_whole_path() {
        let h = tree();
        let p = decode(&h, &[-5.0, -5.0, 5.0, 0.0, 0.0, 0.0, 0.0, 0.0]);
        assert_eq!(p.path, "スポーツ");
        assert_eq!(p.levels.len(), 1);
    }
}
