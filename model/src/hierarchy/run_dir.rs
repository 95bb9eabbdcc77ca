//! A hierarchical run on disk: `hierarchy.json` (the tree, in the input file format) next
//! to `labels.json` (the node paths in classifier order), and data checks.

use std::path::Path;

use super::tree::Hierarchy;
use crate::data::{Dataset, LabelTarget};
use crate::error::{ModelError, Result};
use crate::init::write_atomic;

/// The tree's file in a run dir (its presence makes the run dir hierarchical).
pub const HIERARCHY_FILE: &str = "hierarchy.json";

/// Write `dir/hierarchy.json` atomically.
pub fn write_hierarchy(dir: &Path, tree: &Hierarchy) -> Result<()> {
    let mut text = tree.to_json();
    text.push('\n');
    write_atomic(&dir.join(HIERARCHY_FILE), text.as_bytes())
}

/// The tree of a run dir, checked against the classifier's output names (`labels`);
/// `None` when the dir has no `hierarchy.json`.
pub fn read_hierarchy(dir: &Path, labels: &[String]) -> Result<Option<Hierarchy>> {
    let path = dir.join(HIERARCHY_FILE);
    if !path.is_file() {
        return Ok(None);
    }
    let tree = Hierarchy::from_file(&path)?;
    if tree.paths() != labels {
        return Err(ModelError::DataFile {
            path,
            msg: format!(
                "the tree's nodes [{}] are not the model's labels [{}] in order",
                tree.paths().join(", "),
                labels.join(", ")
            ),
        });
    }
    Ok(Some(tree))
}

/// Every label of `data` must be a leaf path of `tree`: the first that is not is an error
/// naming `file:line`.
pub fn check_targets(tree: &Hierarchy, data: &Dataset) -> Result<()> {
    for e in &data.examples {
        let label = match &e.label {
            LabelTarget::Single(l) => l,
            LabelTarget::Multi(_) => {
                return Err(ModelError::Data {
                    path: data.path.clone(),
                    line: e.line,
                    msg: "hierarchical labels are one path per row, found a list".into(),
                })
            }
        };
        if let Some(msg) = tree.target_error(label) {
            return Err(ModelError::Data {
                path: data.path.clone(),
                line: e.line,
                msg,
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Example;
    use std::collections::BTreeMap;

    fn tree() -> Hierarchy {
        Hierarchy::parse(
            r#"{"国内": ["政治", "経済"], "スポーツ": []}"#,
            Path::new("t.json"),
        )
        .unwrap()
    }

    fn data(labels: &[&str]) -> Dataset {
        Dataset {
            path: "d.jsonl".into(),
            examples: labels
                .iter()
                .enumerate()
                .map(|(i, l)| Example {
                    text: format!("t{i}"),
                    text_pair: None,
                    label: LabelTarget::Single(l.to_string()),
                    extra: BTreeMap::new(),
                    line: i + 1,
                })
                .collect(),
            multi_label: false,
        }
    }

    #[test]
    fn run_dir_round_trip_checks_the_labels() {
        let tmp = tempfile::Builder::new()
            .prefix("tokken-hier-rd-")
            .tempdir()
            .unwrap();
        let dir = tmp.path().to_path_buf();
        let h = tree();
        write_hierarchy(&dir, &h).unwrap();
        assert_eq!(read_hierarchy(&dir, h.paths()).unwrap(), Some(h.clone()));
        let e = read_hierarchy(&dir, &["国内".to_string()]).unwrap_err();
        assert!(e.to_string().contains("not the model's labels"), "{e}");
        tmp.close().unwrap();
        assert_eq!(read_hierarchy(&dir, h.paths()).unwrap(), None);
    }

    #[test]
    fn data_labels_must_be_leaf_paths() {
        let h = tree();
        check_targets(&h, &data(&["国内/経済", "スポーツ"])).unwrap();
        let e = check_targets(&h, &data(&["国内/経済", "国内/政治", "国内"])).unwrap_err();
        assert!(e.to_string().starts_with("d.jsonl:3: "), "{e}");
        let e = check_targets(&h, &data(&["経済"])).unwrap_err();
        assert!(
            e.to_string().contains("d.jsonl:1: \"経済\" is not a path"),
            "{e}"
        );
    }
}
