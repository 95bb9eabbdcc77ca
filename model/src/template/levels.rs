//! The label tree a `{levels}` placeholder names: from the labels themselves (paths
//! `国内/政治` make levels; flat labels are a single level) or from a parsed hierarchy file
//! ([`Hierarchy`], whose node paths are such labels).

use crate::hierarchy::Hierarchy;

/// One node and its children, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LabelNode {
    pub name: String,
    pub children: Vec<LabelNode>,
}

/// A forest of labels, top level first.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LabelTree {
    pub roots: Vec<LabelNode>,
}

impl LabelTree {
    /// The tree of `labels`, each split on `/` (order of first appearance).
    pub fn from_labels(labels: &[String]) -> LabelTree {
        let mut tree = LabelTree::default();
        for l in labels {
            let mut level = &mut tree.roots;
            for part in l.split('/').filter(|p| !p.is_empty()) {
                let i = match level.iter().position(|n| n.name == part) {
                    Some(i) => i,
                    None => {
                        level.push(LabelNode {
                            name: part.to_string(),
                            children: Vec::new(),
                        });
                        level.len() - 1
                    }
                };
                level = &mut level[i].children;
            }
        }
        tree
    }

    /// The tree of a label hierarchy (its node paths, level by level, in file order).
    pub fn from_hierarchy(h: &Hierarchy) -> LabelTree {
        LabelTree::from_labels(h.paths())
    }

    /// Levels below the roots, counting the roots (0 for an empty tree).
    pub fn depth(&self) -> usize {
        fn depth(nodes: &[LabelNode]) -> usize {
            nodes
                .iter()
                .map(|n| 1 + depth(&n.children))
                .max()
                .unwrap_or(0)
        }
        depth(&self.roots)
    }

    /// The levels in Japanese, what `{levels}` becomes. One level: `分類（a、b）`; several:
    /// `第1階層（国内、国際） → 第2階層（国内: 政治、経済／国際: 紛争）`. Names are joined with
    /// `、` because label names may contain `・`.
    pub fn describe(&self) -> String {
        if self.depth() <= 1 {
            return format!("分類（{}）", names(&self.roots));
        }
        let mut parts = vec![format!("第1階層（{}）", names(&self.roots))];
        // Each level: the parents (by path) that have children, with their children.
        let mut frontier: Vec<(String, &LabelNode)> =
            self.roots.iter().map(|n| (n.name.clone(), n)).collect();
        for level in 2..=self.depth() {
            let groups: Vec<String> = frontier
                .iter()
                .filter(|(_, n)| !n.children.is_empty())
                .map(|(path, n)| format!("{path}: {}", names(&n.children)))
                .collect();
            parts.push(format!("第{level}階層（{}）", groups.join("／")));
            frontier = frontier
                .iter()
                .flat_map(|(path, n)| {
                    n.children
                        .iter()
                        .map(move |c| (format!("{path}/{}", c.name), c))
                })
                .collect();
        }
        parts.join(" → ")
    }
}

fn names(nodes: &[LabelNode]) -> String {
    nodes
        .iter()
        .map(|n| n.name.as_str())
        .collect::<Vec<_>>()
        .join("、")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn flat_labels_are_one_level() {
        let t = LabelTree::from_labels(&s(&["政治", "経済", "IT・科学"]));
        assert_eq!(t.depth(), 1);
        assert_eq!(t.describe(), "分類（政治、経済、IT・科学）");
    }

    #[test]
    fn paths_make_levels() {
        let t = LabelTree::from_labels(&s(&["国内/政治", "国内/経済", "国際/紛争", "スポーツ"]));
        assert_eq!(t.depth(), 2);
        assert_eq!(
            t.describe(),
            "第1階層（国内、国際、スポーツ） → 第2階層（国内: 政治、経済／国際: 紛争）"
        );
    }

    #[test]
    fn three_levels_name_parents_by_path() {
        let t = LabelTree::from_labels(&s(&["a/b/c", "a/b/d", "a/e", "f"]));
        assert_eq!(
            t.describe(),
            "第1階層（a、f） → 第2階層（a: b、e） → 第3階層（a/b: c、d）"
        );
    }

    #[test]
    fn a_hierarchy_file_gives_its_tree_in_file_order() {
        let text = r#"{"国内": ["政治", "経済"], "スポーツ": [], "a": {"b": ["c"]}}"#;
        let h = Hierarchy::parse(text, std::path::Path::new("h.json")).unwrap();
        let t = LabelTree::from_hierarchy(&h);
        assert_eq!(t.depth(), 3);
        assert_eq!(
            t.describe(),
            "第1階層（国内、スポーツ、a） → 第2階層（国内: 政治、経済／a: b） → 第3階層（a/b: c）"
        );
    }
}
