//! The label tree a `{levels}` placeholder names: from a hierarchy file
//! (`data/hierarchy.json`: `{"国内": ["政治", …], "スポーツ": [], …}`) or from the labels
//! themselves (paths `国内/政治` make levels; flat labels are a single level).

use std::path::Path;

use serde_json::Value;

use crate::error::{ModelError, Result};

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

    /// A hierarchy file: an object mapping each node to its children, given as a list of
    /// names (`[]` for a leaf) or as a nested object.
    pub fn from_hierarchy_file(path: &Path) -> Result<LabelTree> {
        let text = std::fs::read_to_string(path).map_err(|source| ModelError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let value: Value = serde_json::from_str(&text).map_err(|source| ModelError::Json {
            path: path.to_path_buf(),
            source,
        })?;
        let roots = nodes(&value).map_err(|msg| ModelError::DataFile {
            path: path.to_path_buf(),
            msg,
        })?;
        Ok(LabelTree { roots })
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

fn nodes(value: &Value) -> std::result::Result<Vec<LabelNode>, String> {
    match value {
        Value::Object(map) => map
            .iter()
            .map(|(name, children)| {
                Ok(LabelNode {
                    name: name.clone(),
                    children: nodes(children)?,
                })
            })
            .collect(),
        Value::Array(items) => items
            .iter()
            .map(|item| match item {
                Value::String(s) => Ok(LabelNode {
                    name: s.clone(),
                    children: Vec::new(),
                }),
                other => Err(format!(
                    "expected a label name (string) in a list of children, found {other}"
                )),
            })
            .collect(),
        other => Err(format!(
            "expected an object {{\"parent\": [children]}} or a list of names, found {other}"
        )),
    }
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
    fn hierarchy_json_lists_and_nested_objects() {
        let v: Value =
            serde_json::from_str(r#"{"国内": ["政治", "経済"], "スポーツ": []}"#).unwrap();
        let roots = nodes(&v).unwrap();
        assert_eq!(roots.len(), 2);
        assert_eq!(roots[0].children.len() + roots[1].children.len(), 2);
        let nested: Value = serde_json::from_str(r#"{"a": {"b": ["c"]}}"#).unwrap();
        assert_eq!(
            LabelTree {
                roots: nodes(&nested).unwrap()
            }
            .depth(),
            3
        );
        let bad: Value = serde_json::from_str(r#"{"a": [1]}"#).unwrap();
        assert!(nodes(&bad).unwrap_err().contains("label name"));
    }
}
