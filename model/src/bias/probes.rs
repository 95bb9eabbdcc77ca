//! The bias probe file: templates with a slot and groups of interchangeable terms.
//!
//! JSON Lines, one object per line (blank lines and lines starting with `#` are skipped).
//! Two kinds of lines, in any order:
//!
//! - a term group: `{"group": "gender", "terms": [["男性", "女性"], ["夫", "妻"]]}` — each
//!   inner list is a set of two or more terms that can replace each other (`["日本人",
//!   "中国人", "韓国人", "米国人"]` is one set of four);
//! - a template: `{"template": "{X}社長が辞任", "group": "gender", "label": "経済"}` — the
//!   slot `{X}` (another name with `"slot": "Y"`; every occurrence is filled) takes each
//!   term of each of the group's sets. `"terms"` on a template replaces the group's sets for
//!   that template (a list of sets, or one flat list of strings for a single set), for
//!   templates that only read well with some terms. `"label"` is the label the headline
//!   should get whatever the term (optional; reported, never needed for the flip rate).
//!
//! Unknown fields are errors (they are usually typos). Every error names `file:line`.
//!
//! Expansion ([`ProbeSet::pairs`]): for each template, each of its sets and each unordered
//! pair of terms `(a, b)` of the set (in set order), the two texts with the slot filled by
//! `a` and by `b` — the texts differ only in that term.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use crate::error::{ModelError, Result};

/// A named group of term sets (`gender`, `age`, …).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TermGroup {
    pub name: String,
    /// Sets of interchangeable terms, each with at least two distinct terms.
    pub sets: Vec<Vec<String>>,
    /// Line of the definition.
    pub line: usize,
}

/// One template with its term sets resolved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Template {
    /// The text with the slot, e.g. `{X}社長が辞任`.
    pub text: String,
    /// The slot's name (`X` for `{X}`).
    pub slot: String,
    /// The group it probes.
    pub group: String,
    /// The label the text should get whatever the term, if given.
    pub label: Option<String>,
    /// The term sets that fill the slot.
    pub sets: Vec<Vec<String>>,
    /// Line in the probe file.
    pub line: usize,
}

impl Template {
    /// The template with every occurrence of its slot replaced by `term`.
    pub fn fill(&self, term: &str) -> String {
        self.text.replace(&format!("{{{}}}", self.slot), term)
    }
}

/// Two texts that differ only in one term.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProbePair {
    /// Index of the template in [`ProbeSet::templates`].
    pub template: usize,
    /// Line of the template in the probe file.
    pub line: usize,
    pub group: String,
    /// The two terms, in set order.
    pub terms: [String; 2],
    /// The template filled with each term.
    pub texts: [String; 2],
    /// The template's expected label, if any.
    pub label: Option<String>,
}

/// A parsed probe file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProbeSet {
    pub path: PathBuf,
    /// Term groups in file order.
    pub groups: Vec<TermGroup>,
    /// Templates in file order.
    pub templates: Vec<Template>,
}

impl ProbeSet {
    /// Read and check a probe file.
    pub fn load(path: &Path) -> Result<ProbeSet> {
        let text = std::fs::read_to_string(path).map_err(|source| ModelError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        ProbeSet::parse(path, &text)
    }

    /// Parse probe-file text; `path` names the file in errors.
    pub fn parse(path: &Path, text: &str) -> Result<ProbeSet> {
        let err = |line: usize, msg: String| ModelError::Data {
            path: path.to_path_buf(),
            line,
            msg,
        };
        let mut groups: Vec<TermGroup> = Vec::new();
        // Templates before their sets are resolved: (template, own sets, line).
        let mut raw: Vec<(Template, Option<Vec<Vec<String>>>)> = Vec::new();
        for (i, line) in text.trim_start_matches('\u{feff}').lines().enumerate() {
            let n = i + 1;
            let trimmed = line.trim();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            let value: Value = serde_json::from_str(trimmed)
                .map_err(|e| err(n, format!("expected a JSON object: {e}")))?;
            let Value::Object(obj) = value else {
                return Err(err(n, "expected a JSON object".into()));
            };
            if obj.contains_key("template") {
                raw.push(parse_template(&obj, n).map_err(|m| err(n, m))?);
            } else if obj.contains_key("terms") {
                let group = parse_group(&obj, n).map_err(|m| err(n, m))?;
                if let Some(prev) = groups.iter().find(|g| g.name == group.name) {
                    return Err(err(
                        n,
                        format!(
                            "group {:?} is already defined at line {}",
                            group.name, prev.line
                        ),
                    ));
                }
                groups.push(group);
            } else {
                return Err(err(
                    n,
                    "expected a template line ({\"template\": .., \"group\": ..}) or a term group line ({\"group\": .., \"terms\": [[..], ..]})".into(),
                ));
            }
        }
        let by_name: BTreeMap<&str, &TermGroup> =
            groups.iter().map(|g| (g.name.as_str(), g)).collect();
        let mut templates = Vec::with_capacity(raw.len());
        for (mut t, own) in raw {
            t.sets = match own {
                Some(sets) => sets,
                None => match by_name.get(t.group.as_str()) {
                    Some(g) => g.sets.clone(),
                    None => {
                        return Err(err(
                            t.line,
                            format!(
                            "group {:?} has no term group line and the template gives no \"terms\"",
                            t.group
                        ),
                        ))
                    }
                },
            };
            templates.push(t);
        }
        if templates.is_empty() {
            return Err(ModelError::DataFile {
                path: path.to_path_buf(),
                msg: "no templates (a probe file needs {\"template\": ..} lines)".into(),
            });
        }
        Ok(ProbeSet {
            path: path.to_path_buf(),
            groups,
            templates,
        })
    }

    /// Every pair of texts, template by template (see the module docs).
    pub fn pairs(&self) -> Vec<ProbePair> {
        let mut out = Vec::new();
        for (ti, t) in self.templates.iter().enumerate() {
            for set in &t.sets {
                for a in 0..set.len() {
                    for b in a + 1..set.len() {
                        out.push(ProbePair {
                            template: ti,
                            line: t.line,
                            group: t.group.clone(),
                            terms: [set[a].clone(), set[b].clone()],
                            texts: [t.fill(&set[a]), t.fill(&set[b])],
                            label: t.label.clone(),
                        });
                    }
                }
            }
        }
        out
    }

    /// Group names in first-use order: groups that templates use, then defined ones unused.
    pub fn group_names(&self) -> Vec<String> {
        let mut names: Vec<String> = Vec::new();
        let groups = self.templates.iter().map(|t| &t.group);
        for g in groups.chain(self.groups.iter().map(|g| &g.name)) {
            if !names.contains(g) {
                names.push(g.clone());
            }
        }
        names
    }

    /// Every term set of the file, each once (group definitions first, then sets given on
    /// templates), with its group name.
    pub fn all_sets(&self) -> Vec<(String, Vec<String>)> {
        let mut out: Vec<(String, Vec<String>)> = Vec::new();
        let defined = self
            .groups
            .iter()
            .flat_map(|g| g.sets.iter().map(move |s| (&g.name, s)));
        let inline = self
            .templates
            .iter()
            .flat_map(|t| t.sets.iter().map(move |s| (&t.group, s)));
        for (g, s) in defined.chain(inline) {
            if !out.iter().any(|(og, os)| og == g && os == s) {
                out.push((g.clone(), s.clone()));
            }
        }
        out
    }
}

fn check_fields(obj: &Map<String, Value>, allowed: &[&str]) -> std::result::Result<(), String> {
    match obj.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(k) => Err(format!(
            "unknown field {k:?} (expected {})",
            allowed.join(", ")
        )),
        None => Ok(()),
    }
}

fn string_field(
    obj: &Map<String, Value>,
    key: &str,
) -> std::result::Result<Option<String>, String> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if !s.trim().is_empty() => Ok(Some(s.trim().to_string())),
        Some(v) => Err(format!(
            "field {key:?}: expected a non-empty string, found {v}"
        )),
    }
}

/// `"terms"`: a list of sets (lists of strings) or one flat list of strings (one set).
fn parse_sets(v: &Value) -> std::result::Result<Vec<Vec<String>>, String> {
    let items = v
        .as_array()
        .ok_or_else(|| format!("field \"terms\": expected a list of term lists, found {v}"))?;
    let nested = items.iter().any(Value::is_array);
    let raw_sets: Vec<&Value> = if nested {
        items.iter().collect()
    } else {
        vec![v]
    };
    let mut sets = Vec::with_capacity(raw_sets.len());
    for (si, set) in raw_sets.iter().enumerate() {
        let list = set.as_array().ok_or_else(|| {
            format!("field \"terms\": set {si}: expected a list of strings, found {set}")
        })?;
        let mut terms: Vec<String> = Vec::with_capacity(list.len());
        for t in list {
            let t = t
                .as_str()
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .ok_or_else(|| {
                    format!("field \"terms\": set {si}: expected non-empty strings, found {t}")
                })?;
            if terms.iter().any(|x| x == t) {
                return Err(format!(
                    "field \"terms\": set {si}: term {t:?} is given twice"
                ));
            }
            terms.push(t.to_string());
        }
        if terms.len() < 2 {
            return Err(format!(
                "field \"terms\": set {si} has {} term(s); a set needs at least two interchangeable terms",
                terms.len()
            ));
        }
        sets.push(terms);
    }
    if sets.is_empty() {
        return Err("field \"terms\": expected at least one set of terms".into());
    }
    Ok(sets)
}

fn parse_group(obj: &Map<String, Value>, line: usize) -> std::result::Result<TermGroup, String> {
    check_fields(obj, &["group", "terms"])?;
    let name = string_field(obj, "group")?.ok_or("a term group line needs a \"group\" name")?;
    let sets = parse_sets(&obj["terms"])?;
    Ok(TermGroup { name, sets, line })
}

type RawTemplate = (Template, Option<Vec<Vec<String>>>);

fn parse_template(
    obj: &Map<String, Value>,
    line: usize,
) -> std::result::Result<RawTemplate, String> {
    check_fields(obj, &["template", "group", "label", "slot", "terms"])?;
    let text = string_field(obj, "template")?.ok_or("field \"template\": expected a string")?;
    let group = string_field(obj, "group")?.ok_or("a template needs a \"group\"")?;
    let slot = string_field(obj, "slot")?.unwrap_or_else(|| "X".to_string());
    if !text.contains(&format!("{{{slot}}}")) {
        return Err(format!("template {text:?} has no slot {{{slot}}}"));
    }
    let label = string_field(obj, "label")?;
    let own = obj.get("terms").map(parse_sets).transpose()?;
    Ok((
        Template {
            text,
            slot,
            group,
            label,
            sets: Vec::new(),
            line,
        },
        own,
    ))
}
