//! The template file (and `template.json` in a run dir):
//!
//! ```json
//! {"name": "my-steps", "mode": "pair", "steps": "手順: 1. …"}
//! {"name": "my-prefix", "mode": "prefix", "template": "手順: … 見出し: {text}"}
//! ```
//!
//! `pair` takes `steps` (segment A, no `{text}`); `prefix` takes `template` with exactly one
//! `{text}` slot. `name` defaults to the file's stem. Unknown fields are refused (a typo
//! would otherwise silently change the input). A run dir's copy also holds `max_length`, the
//! training max length (see [`super::stored_max_length`]).

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::{Template, TemplateMode, TEXT_SLOT};
use crate::error::{ModelError, Result};

/// The JSON form of a [`Template`].
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TemplateFile {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub mode: Option<TemplateMode>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub steps: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<String>,
    /// Written into a run dir's `template.json` by training: the max length the steps were
    /// cut to, so predict / eval cut them the same way. Not part of the template itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_length: Option<usize>,
}

impl From<Template> for TemplateFile {
    fn from(t: Template) -> TemplateFile {
        let (steps, template) = match t.mode {
            TemplateMode::Pair => (Some(t.steps), None),
            TemplateMode::Prefix => (None, Some(t.steps)),
        };
        TemplateFile {
            name: Some(t.name),
            mode: Some(t.mode),
            steps,
            template,
            max_length: None,
        }
    }
}

impl TryFrom<TemplateFile> for Template {
    type Error = String;

    fn try_from(f: TemplateFile) -> std::result::Result<Template, String> {
        validate(f, None)
    }
}

/// Read and check a template file; errors name the file and what is wrong.
pub fn read_template(path: &Path) -> Result<Template> {
    read_template_file(path).map(|(t, _)| t)
}

/// [`read_template`] plus the file's `max_length` (run dirs).
pub fn read_template_file(path: &Path) -> Result<(Template, Option<usize>)> {
    let text = std::fs::read_to_string(path).map_err(|source| ModelError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let bad = |msg: String| ModelError::DataFile {
        path: path.to_path_buf(),
        msg,
    };
    let file: TemplateFile = serde_json::from_str(&text).map_err(|e| {
        bad(format!(
            "not a template ({e}); expected {{\"name\", \"mode\": \"pair\"|\"prefix\", \"steps\" (pair) or \"template\" (prefix)}}"
        ))
    })?;
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let max_length = file.max_length;
    let template = validate(file, Some(&stem)).map_err(bad)?;
    Ok((template, max_length))
}

/// The rules of the file format; `default_name` is used when `name` is absent.
fn validate(f: TemplateFile, default_name: Option<&str>) -> std::result::Result<Template, String> {
    let name = match (f.name, default_name) {
        (Some(n), _) => n,
        (None, Some(d)) => d.to_string(),
        (None, None) => return Err("missing \"name\"".into()),
    };
    check_name(&name)?;
    let mode = f
        .mode
        .ok_or("missing \"mode\": expected \"pair\" or \"prefix\"")?;
    let steps = match mode {
        TemplateMode::Pair => {
            if f.template.is_some() {
                return Err("mode \"pair\" takes \"steps\" (segment A; the text is segment B), not \"template\"".into());
            }
            let steps = f.steps.ok_or("mode \"pair\" needs \"steps\" (segment A)")?;
            if steps.contains(TEXT_SLOT) {
                return Err(format!(
                    "mode \"pair\": \"steps\" must not contain {TEXT_SLOT} (the text is segment B); use mode \"prefix\" to place the text inside the steps"
                ));
            }
            if steps.trim().is_empty() {
                return Err("mode \"pair\": \"steps\" is empty".into());
            }
            steps
        }
        TemplateMode::Prefix => {
            if f.steps.is_some() {
                return Err(format!(
                    "mode \"prefix\" takes \"template\" (the steps with a {TEXT_SLOT} slot), not \"steps\""
                ));
            }
            let template = f.template.ok_or(format!(
                "mode \"prefix\" needs \"template\" with a {TEXT_SLOT} slot"
            ))?;
            match template.matches(TEXT_SLOT).count() {
                1 => template,
                0 => {
                    return Err(format!(
                        "mode \"prefix\": \"template\" has no {TEXT_SLOT} slot for the headline"
                    ))
                }
                n => {
                    return Err(format!(
                        "mode \"prefix\": \"template\" has {n} {TEXT_SLOT} slots; exactly one is allowed"
                    ))
                }
            }
        }
    };
    Ok(Template { name, mode, steps })
}

/// Names become file names of experiment cells: no separators, not hidden, not empty.
fn check_name(name: &str) -> std::result::Result<(), String> {
    if name.is_empty()
        || name.starts_with('.')
        || name
            .chars()
            .any(|c| c == '/' || c == '\\' || c == ',' || c.is_control() || c.is_whitespace())
    {
        return Err(format!(
            "\"name\" {name:?} must be non-empty, not start with '.', and have no '/', '\\', ',' or spaces"
        ));
    }
    Ok(())
}
