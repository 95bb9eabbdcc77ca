//! The label tree: parsed from a JSON or YAML file, validated, and laid out in level order.
//!
//! File format (JSON, or YAML when the file ends in `.yaml`/`.yml`; document order is kept
//! and becomes the class order):
//! ```json
//! { "国内": ["政治", "経済", "社会・地方"],
//!   "国際": { "政治": [], "経済": null, "紛争": [] },
//!   "スポーツ": [] }
//! ```
//! The same tree in YAML:
//! ```yaml
//! 国内: [政治, 経済, 社会・地方]
//! 国際:
//!   政治:
//!   経済:
//!   紛争:
//! スポーツ: []
//! ```
//! A node's value lists its children: an array of names (leaves) or of nested objects, an
//! object (name → its children), or `[]` / `{}` / `null` for none. Names are non-empty,
//! have no surrounding spaces, contain no `/` (the path separator) and are unique among
//! siblings.
//!
//! A *path* names a node by its ancestors: `国内/経済`. The *targets* (what a data row may
//! be labelled with) are the leaves: `国内/経済`, and `スポーツ` for a top node without
//! children. Nodes are numbered in level order (all level-1 nodes in file order, then every
//! level-2 node grouped by parent, …); that number is the node's row in the classifier.

use std::fmt;
use std::path::Path;

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};

use crate::error::{ModelError, Result};

/// Separator of the names in a path.
pub const SEP: char = '/';

/// One node of the tree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Node {
    /// The node's own name (`経済`).
    pub name: String,
    /// Its path from the root (`国内/経済`).
    pub path: String,
    pub parent: Option<usize>,
    /// 0 for top nodes (level 1), 1 for their children, …
    pub depth: usize,
    /// Child node indices in file order.
    pub children: Vec<usize>,
}

/// A validated label tree, nodes in level order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hierarchy {
    nodes: Vec<Node>,
    /// Node indices of each level (`levels[0]`: the top nodes).
    levels: Vec<Vec<usize>>,
    /// The leaf nodes (targets), in node order.
    leaves: Vec<usize>,
    /// `paths()[i]` = `nodes[i].path` (the classifier's output names).
    paths: Vec<String>,
    /// Paths of the leaves, in leaf order.
    leaf_paths: Vec<String>,
}

/// Which syntax a tree file is written in (for locating errors).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum TreeSyntax {
    Json,
    Yaml,
}

/// The children of one node as written in the file, in document order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Children(Vec<(String, Children)>);

impl Hierarchy {
    /// Read and validate a tree file (YAML when it ends in `.yaml`/`.yml`, else JSON).
    /// Syntax errors and invalid names name `file:line`.
    pub fn from_file(path: &Path) -> Result<Hierarchy> {
        let text = std::fs::read_to_string(path).map_err(|source| ModelError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let is_yaml = path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| e.eq_ignore_ascii_case("yaml") || e.eq_ignore_ascii_case("yml"));
        if is_yaml {
            Hierarchy::parse_yaml(&text, path)
        } else {
            Hierarchy::parse(&text, path)
        }
    }

    /// Parse and validate JSON tree text; `path` names the source in errors.
    pub fn parse(text: &str, path: &Path) -> Result<Hierarchy> {
        let top: Children = serde_json::from_str(text).map_err(|e| ModelError::Data {
            path: path.to_path_buf(),
            line: e.line().max(1),
            msg: format!("label tree: {e}"),
        })?;
        Hierarchy::validate(&top, text, TreeSyntax::Json, path)
    }

    /// Parse and validate YAML tree text; `path` names the source in errors.
    pub fn parse_yaml(text: &str, path: &Path) -> Result<Hierarchy> {
        let top: Children = serde_yaml::from_str(text).map_err(|e| ModelError::Data {
            path: path.to_path_buf(),
            line: e.location().map_or(1, |l| l.line().max(1)),
            msg: format!("label tree: {e}"),
        })?;
        Hierarchy::validate(&top, text, TreeSyntax::Yaml, path)
    }

    /// Check the parsed tree and lay it out; errors point at the offending line of `text`.
    fn validate(top: &Children, text: &str, syntax: TreeSyntax, path: &Path) -> Result<Hierarchy> {
        if top.0.is_empty() {
            return Err(ModelError::DataFile {
                path: path.to_path_buf(),
                msg: "the label tree is empty: expected an object like {\"国内\": [\"政治\", \"経済\"], \"スポーツ\": []}".into(),
            });
        }
        Hierarchy::build(top).map_err(|e| ModelError::Data {
            path: path.to_path_buf(),
            line: e.line_in(text, syntax),
            msg: e.msg,
        })
    }

    /// Lay out `top` in level order; errors say where the offending name is.
    fn build(top: &Children) -> std::result::Result<Hierarchy, TreeError> {
        let mut nodes: Vec<Node> = Vec::new();
        // Breadth-first: (parent index, its children as written).
        let mut queue: Vec<(Option<usize>, &Children)> = vec![(None, top)];
        let mut head = 0;
        while head < queue.len() {
            let (parent, children) = queue[head];
            head += 1;
            let mut seen: Vec<&str> = Vec::new();
            for (name, grand) in &children.0 {
                let at = |nth: usize, msg: String| TreeError {
                    ancestors: parent.map_or(Vec::new(), |p| {
                        nodes[p].path.split(SEP).map(String::from).collect()
                    }),
                    name: name.clone(),
                    nth,
                    msg,
                };
                if let Some(why) = name_error(name) {
                    let under =
                        parent.map_or(String::new(), |p| format!(" (under {:?})", nodes[p].path));
                    return Err(at(1, format!("label tree: name {name:?}{under} {why}")));
                }
                if seen.contains(&name.as_str()) {
                    let under = parent.map_or("the top level".to_string(), |p| {
                        format!("{:?}", nodes[p].path)
                    });
                    return Err(at(
                        2,
                        format!("label tree: {name:?} appears twice under {under}"),
                    ));
                }
                seen.push(name);
                let (path, depth) = match parent {
                    Some(p) => (format!("{}{SEP}{name}", nodes[p].path), nodes[p].depth + 1),
                    None => (name.clone(), 0),
                };
                let index = nodes.len();
                nodes.push(Node {
                    name: name.clone(),
                    path,
                    parent,
                    depth,
                    children: Vec::new(),
                });
                if let Some(p) = parent {
                    nodes[p].children.push(index);
                }
                queue.push((Some(index), grand));
            }
        }
        Ok(Hierarchy::from_nodes(nodes))
    }

    fn from_nodes(nodes: Vec<Node>) -> Hierarchy {
        let depth = nodes.iter().map(|n| n.depth + 1).max().unwrap_or(0);
        let mut levels = vec![Vec::new(); depth];
        for (i, n) in nodes.iter().enumerate() {
            levels[n.depth].push(i);
        }
        let leaves: Vec<usize> = (0..nodes.len())
            .filter(|&i| nodes[i].children.is_empty())
            .collect();
        let paths = nodes.iter().map(|n| n.path.clone()).collect();
        let leaf_paths = leaves.iter().map(|&i| nodes[i].path.clone()).collect();
        Hierarchy {
            nodes,
            levels,
            leaves,
            paths,
            leaf_paths,
        }
    }

    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    /// Node indices per level.
    pub fn levels(&self) -> &[Vec<usize>] {
        &self.levels
    }

    /// Number of levels (the deepest leaf's depth + 1).
    pub fn depth(&self) -> usize {
        self.levels.len()
    }

    /// The node paths in node order: the classifier's output names (`labels.json`).
    pub fn paths(&self) -> &[String] {
        &self.paths
    }

    /// The leaf nodes (valid targets), in node order.
    pub fn leaves(&self) -> &[usize] {
        &self.leaves
    }

    /// The leaf paths, in leaf order: what a prediction or a data label names.
    pub fn leaf_paths(&self) -> &[String] {
        &self.leaf_paths
    }

    /// The node with this path.
    pub fn node_of(&self, path: &str) -> Option<usize> {
        self.paths.iter().position(|p| p == path)
    }

    /// The leaf index (into [`Hierarchy::leaves`]) of a target path; `None` when `path`
    /// is not a leaf of the tree.
    pub fn leaf_of(&self, path: &str) -> Option<usize> {
        self.leaf_paths.iter().position(|p| p == path)
    }

    /// The nodes from the top down to `node` (`ancestors(leaf)[d]` is its level-d node).
    pub fn lineage(&self, node: usize) -> Vec<usize> {
        let mut out = vec![node];
        let mut cur = node;
        while let Some(p) = self.nodes[cur].parent {
            out.push(p);
            cur = p;
        }
        out.reverse();
        out
    }

    /// The siblings of `node` including itself (the set its level's softmax runs over):
    /// the parent's children, or the top nodes.
    pub fn siblings(&self, node: usize) -> &[usize] {
        match self.nodes[node].parent {
            Some(p) => &self.nodes[p].children,
            None => &self.levels[0],
        }
    }

    /// Why `label` is not a target, or `None` when it is one.
    pub fn target_error(&self, label: &str) -> Option<String> {
        if self.leaf_of(label).is_some() {
            return None;
        }
        let hint = match self.node_of(label) {
            Some(n) => format!(
                "{label:?} is an inner node of the label tree; label a row with a full path down to a leaf, one of [{}]",
                self.nodes[n]
                    .children
                    .iter()
                    .map(|&c| self.nodes[c].path.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            None => format!(
                "{label:?} is not a path of the label tree; expected one of [{}]",
                self.leaf_paths.join(", ")
            ),
        };
        Some(hint)
    }

    /// The tree in the file format (children as name lists where they are leaves).
    fn children_of(&self, parent: Option<usize>) -> Children {
        let ids: &[usize] = match parent {
            Some(p) => &self.nodes[p].children,
            None => &self.levels[0],
        };
        Children(
            ids.iter()
                .map(|&i| (self.nodes[i].name.clone(), self.children_of(Some(i))))
                .collect(),
        )
    }

    /// The tree as pretty JSON in the file format (round-trips through [`Hierarchy::parse`]).
    pub fn to_json(&self) -> String {
        // Serializing strings, lists and maps cannot fail.
        serde_json::to_string_pretty(&self.children_of(None)).unwrap_or_default()
    }
}

/// Why `name` cannot be a node name, if it cannot.
fn name_error(name: &str) -> Option<&'static str> {
    if name.trim().is_empty() {
        Some("is empty")
    } else if name.trim() != name {
        Some("has leading or trailing spaces")
    } else if name.contains(SEP) {
        Some("contains '/', the path separator")
    } else {
        None
    }
}

/// A tree validation error and where its name is written.
struct TreeError {
    /// Names of the offending node's ancestors, top first.
    ancestors: Vec<String>,
    name: String,
    /// Which occurrence of `name` below its parent (2 for the second of a duplicate).
    nth: usize,
    msg: String,
}

impl TreeError {
    /// 1-based line of the name in `text`: each ancestor's key is found after the previous
    /// one, then the `nth` occurrence of the name (line 1 when not found).
    fn line_in(&self, text: &str, syntax: TreeSyntax) -> usize {
        // JSON names are always quoted (searching the quoted form avoids matching inside a
        // longer name); YAML names are usually bare.
        let quoted = |s: &str| match syntax {
            TreeSyntax::Json => serde_json::to_string(s).unwrap_or_default(),
            TreeSyntax::Yaml => s.to_string(),
        };
        let mut pos = 0;
        for a in &self.ancestors {
            if let Some(p) = text[pos..].find(&quoted(a)) {
                pos += p;
            }
        }
        let q = quoted(&self.name);
        for i in 0..self.nth {
            match text[pos..].find(&q) {
                Some(p) => pos += p + if i + 1 < self.nth { q.len() } else { 0 },
                None => break,
            }
        }
        text[..pos].matches('\n').count() + 1
    }
}

impl Serialize for Children {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        if self.0.iter().all(|(_, c)| c.0.is_empty()) {
            // leaves only: a plain list of names
            let names: Vec<&String> = self.0.iter().map(|(n, _)| n).collect();
            return names.serialize(s);
        }
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (name, children) in &self.0 {
            map.serialize_entry(name, children)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for Children {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Children, D::Error> {
        d.deserialize_any(ChildrenVisitor)
    }
}

struct ChildrenVisitor;

impl<'de> Visitor<'de> for ChildrenVisitor {
    type Value = Children;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a label tree: an object (name -> children), a list of names, [] or null")
    }

    fn visit_unit<E: de::Error>(self) -> std::result::Result<Children, E> {
        Ok(Children::default())
    }

    fn visit_none<E: de::Error>(self) -> std::result::Result<Children, E> {
        Ok(Children::default())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<Children, A::Error> {
        let mut out = Vec::new();
        while let Some((name, children)) = map.next_entry::<String, Children>()? {
            out.push((name, children));
        }
        Ok(Children(out))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<Children, A::Error> {
        let mut out = Vec::new();
        while let Some(item) = seq.next_element::<Item>()? {
            match item {
                Item::Leaf(name) => out.push((name, Children::default())),
                Item::Nodes(c) => out.extend(c.0),
            }
        }
        Ok(Children(out))
    }
}

/// An element of a children list: a leaf name or an object of named subtrees.
enum Item {
    Leaf(String),
    Nodes(Children),
}

impl<'de> Deserialize<'de> for Item {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Item, D::Error> {
        struct ItemVisitor;
        impl<'de> Visitor<'de> for ItemVisitor {
            type Value = Item;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a child name or an object (name -> children)")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> std::result::Result<Item, E> {
                Ok(Item::Leaf(v.to_string()))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> std::result::Result<Item, A::Error> {
                ChildrenVisitor.visit_map(map).map(Item::Nodes)
            }
        }
        d.deserialize_any(ItemVisitor)
    }
}

/// Serialized as the file format (in `train_config.json`), so a resumed run has its tree.
impl Serialize for Hierarchy {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        self.children_of(None).serialize(s)
    }
}

impl<'de> Deserialize<'de> for Hierarchy {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Hierarchy, D::Error> {
        let top = Children::deserialize(d)?;
        if top.0.is_empty() {
            return Err(de::Error::custom("the label tree is empty"));
        }
        Hierarchy::build(&top).map_err(|e| de::Error::custom(e.msg))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Hierarchy> {
        Hierarchy::parse(text, Path::new("h.json"))
    }

    const TREE: &str = r#"{
  "国内": ["政治", "経済", "社会・地方"],
  "国際": {"政治": [], "経済": null, "紛争": {}},
  "スポーツ": []
}"#;

    #[test]
    fn level_order_paths_and_leaves() {
        let h = parse(TREE).unwrap();
        assert_eq!(
            h.paths(),
            [
                "国内",
                "国際",
                "スポーツ",
                "国内/政治",
                "国内/経済",
                "国内/社会・地方",
                "国際/政治",
                "国際/経済",
                "国際/紛争"
            ]
        );
        assert_eq!(h.depth(), 2);
        assert_eq!(h.levels()[0], vec![0, 1, 2]);
        assert_eq!(h.leaf_paths()[0], "スポーツ");
        assert_eq!(h.leaf_paths().len(), 7);
        assert_eq!(h.lineage(h.node_of("国際/経済").unwrap()), vec![1, 7]);
        assert_eq!(h.siblings(7), &[6, 7, 8]);
        assert_eq!(h.siblings(2), &[0, 1, 2]);
        assert!(h.target_error("国際/経済").is_none());
        assert!(h.target_error("スポーツ").is_none());
        assert!(h.target_error("国内").unwrap().contains("inner node"));
        assert!(h.target_error("国内/紛争").unwrap().contains("not a path"));
    }

    #[test]
    fn round_trips_through_json_and_serde() {
        let h = parse(TREE).unwrap();
        let again = parse(&h.to_json()).unwrap();
        assert_eq!(h, again);
        let via_serde: Hierarchy =
            serde_json::from_str(&serde_json::to_string(&h).unwrap()).unwrap();
        assert_eq!(h, via_serde);
    }

    #[test]
    fn yaml_gives_the_same_tree_and_errors_name_lines() {
        let yaml = "国内: [政治, 経済, 社会・地方]\n国際:\n  政治:\n  経済: []\n  紛争: {}\nスポーツ: []\n";
        let h = Hierarchy::parse_yaml(yaml, Path::new("h.yaml")).unwrap();
        assert_eq!(h, parse(TREE).unwrap());

        let dup = "国内: [政治]\n国際:\n  - 経済\n  - 経済\n";
        let e = Hierarchy::parse_yaml(dup, Path::new("h.yaml"))
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("h.yaml:4:"), "{e}");
        assert!(e.contains("appears twice under \"国際\""), "{e}");

        let syntax = "国内: [政治\n国際: []\n";
        let e = Hierarchy::parse_yaml(syntax, Path::new("h.yaml"))
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("h.yaml:"), "{e}");
    }

    #[test]
    fn from_file_picks_the_syntax_by_extension() {
        let dir = tempfile::Builder::new()
            .prefix("tokken-tree-")
            .tempdir()
            .unwrap();
        let yaml = dir.path().join("tree.yml");
        std::fs::write(&yaml, "a: [b, c]\nd:\n").unwrap();
        let json = dir.path().join("tree.json");
        std::fs::write(&json, r#"{"a": ["b", "c"], "d": null}"#).unwrap();
        let from_yaml = Hierarchy::from_file(&yaml).unwrap();
        assert_eq!(from_yaml, Hierarchy::from_file(&json).unwrap());
        assert_eq!(from_yaml.leaf_paths(), ["d", "a/b", "a/c"]);
    }

    #[test]
    fn deeper_trees_and_mixed_lists() {
        let h = parse(r#"{"a": [{"b": ["c", "d"]}, "e"], "f": null}"#).unwrap();
        assert_eq!(h.paths(), ["a", "f", "a/b", "a/e", "a/b/c", "a/b/d"]);
        assert_eq!(h.depth(), 3);
        assert_eq!(h.leaf_paths(), ["f", "a/e", "a/b/c", "a/b/d"]);
    }

    #[test]
    fn errors_name_file_and_line() {
        let dup = "{\n  \"国内\": [\"政治\"],\n  \"国際\": [\"経済\",\n    \"経済\"]\n}";
        let e = parse(dup).unwrap_err().to_string();
        assert!(e.starts_with("h.json:4:"), "{e}");
        assert!(e.contains("appears twice under \"国際\""), "{e}");

        let slash = "{\n  \"国内\": [],\n  \"a/b\": []\n}";
        let e = parse(slash).unwrap_err().to_string();
        assert!(
            e.starts_with("h.json:3:") && e.contains("path separator"),
            "{e}"
        );

        let syntax = "{\n  \"国内\": [\"政治\",]\n}";
        let e = parse(syntax).unwrap_err().to_string();
        assert!(e.starts_with("h.json:2:"), "{e}");

        let number = "{\n \"a\": [1]\n}";
        let e = parse(number).unwrap_err().to_string();
        assert!(e.starts_with("h.json:2:"), "{e}");

        assert!(parse("{}").unwrap_err().to_string().contains("empty"));
        assert!(parse("{\" a\": []}")
            .unwrap_err()
            .to_string()
            .contains("spaces"));
    }
}
