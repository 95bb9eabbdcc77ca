//! `labels.json` of a run dir: the class names in index order and HF's problem type.
//!
//! Read forms (all run dirs ever written load):
//! - `{"labels": [..], "problem_type": ..}` (what [`LabelsFile::write`] writes);
//! - the trainer's `{"id2label": {"0": ..}, "label2id": {..}, "labels": [..]}` (plus
//!   `"problem_type"` for multi-label runs);
//! - `id2label` alone (HF's form): the labels by index.

use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{read_json, write_json_atomically};
use crate::error::{ModelError, Result};

/// HF's `problem_type` values for sequence classification.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProblemType {
    SingleLabelClassification,
    MultiLabelClassification,
    Regression,
}

impl ProblemType {
    /// The name in `config.json` / `labels.json`.
    pub fn as_str(self) -> &'static str {
        match self {
            ProblemType::SingleLabelClassification => "single_label_classification",
            ProblemType::MultiLabelClassification => "multi_label_classification",
            ProblemType::Regression => "regression",
        }
    }
}

/// `labels.json`: the class names in index order and the problem type (`None` when the file
/// names none: single-label). Other fields are ignored.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LabelsFile {
    pub labels: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem_type: Option<ProblemType>,
}

impl LabelsFile {
    /// Read and check `path`: at least one label, none empty or repeated; errors name the
    /// file.
    pub fn read(path: &Path) -> Result<LabelsFile> {
        let v: Value = read_json(path)?;
        let bad = |msg: String| ModelError::DataFile {
            path: path.to_path_buf(),
            msg,
        };
        let labels = match (v.get("labels").and_then(Value::as_array), v.get("id2label")) {
            (Some(list), _) => list
                .iter()
                .map(|x| x.as_str().map(String::from))
                .collect::<Option<Vec<String>>>()
                .ok_or_else(|| bad("`labels` must be a list of strings".into()))?,
            (None, Some(map)) => by_index(map).map_err(bad)?,
            (None, None) => return Err(bad("expected `labels` or `id2label`".into())),
        };
        let problem_type = match v.get("problem_type") {
            None | Some(Value::Null) => None,
            Some(p) => Some(serde_json::from_value(p.clone()).map_err(|_| {
                bad(format!(
                    "\"problem_type\": {p} is not one of single_label_classification, multi_label_classification, regression"
                ))
            })?),
        };
        if labels.is_empty() {
            return Err(bad("expected at least one label in \"labels\"".into()));
        }
        for (i, l) in labels.iter().enumerate() {
            if l.is_empty() || labels[..i].contains(l) {
                return Err(bad(format!("\"labels\": label {l:?} is empty or repeated")));
            }
        }
        Ok(LabelsFile {
            labels,
            problem_type,
        })
    }

    /// The labels file of the run dir `dir`.
    pub fn read_dir(dir: &Path) -> Result<LabelsFile> {
        LabelsFile::read(&dir.join(super::LABELS))
    }

    pub fn write(&self, path: &Path) -> Result<()> {
        write_json_atomically(path, self)
    }
}

/// `id2label` (`{"0": "a", "1": "b"}`) as the list of labels by index.
fn by_index(map: &Value) -> std::result::Result<Vec<String>, String> {
    let map = map
        .as_object()
        .ok_or("`id2label` must be an object {\"0\": label, ..}")?;
    let mut labels = vec![String::new(); map.len()];
    for (k, l) in map {
        let i: usize = k
            .parse()
            .ok()
            .filter(|&i| i < labels.len())
            .ok_or_else(|| format!("id2label key {k:?} is not an index below {}", map.len()))?;
        labels[i] = l
            .as_str()
            .ok_or_else(|| format!("id2label {k:?}: expected a string, found {l}"))?
            .to_string();
    }
    Ok(labels)
}
