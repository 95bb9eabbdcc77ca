//! Reasoning-step templates ("CoT" input format): BERT cannot write out the steps a person
//! takes to classify a headline, so we give them to it as input.
//!
//! A [`Template`] is a name, a [`TemplateMode`] and the steps text:
//! - `pair`: the steps are segment A and the headline segment B (`[CLS] steps [SEP] text
//!   [SEP]`, type ids 0 / 1);
//! - `prefix`: one sequence, the headline substituted into the `{text}` slot of the steps.
//!
//! A `{levels}` placeholder in the steps is replaced by the levels of the label hierarchy in
//! use ([`levels`]) when training starts, so the stored template is self-contained.
//!
//! Built-ins ([`builtin`]): `none` (identity), `cot-ja`, `cot-ja-prefix`, `cot-hier`. Files:
//! [`file`]. Encoding with truncation that cuts the steps before the headline: [`encode`].
//! The run dir keeps the template as `template.json` and predict / eval apply it again
//! ([`select`]).

pub mod builtin;
pub mod encode;
pub mod file;
pub mod levels;

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{ModelError, Result};

pub use encode::{check_no_pairs, TemplateEncoder};
pub use levels::LabelTree;

/// The slot the headline goes into (prefix mode).
pub const TEXT_SLOT: &str = "{text}";
/// Replaced by the hierarchy's levels when training starts.
pub const LEVELS_SLOT: &str = "{levels}";
/// The template file in a run dir.
pub const TEMPLATE_FILE: &str = "template.json";

/// How the steps and the headline are combined.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TemplateMode {
    /// Steps as segment A, the headline as segment B.
    Pair,
    /// One sequence: the headline substituted into the steps' `{text}` slot.
    Prefix,
}

/// A reasoning-step template. Serializes as its file format ([`file`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "file::TemplateFile", into = "file::TemplateFile")]
pub struct Template {
    /// A file-name-safe name (`cot-ja`), used for experiment cells and messages.
    pub name: String,
    pub mode: TemplateMode,
    /// Pair: segment A (no `{text}`). Prefix: the sequence, with exactly one `{text}`.
    pub steps: String,
}

impl Template {
    /// A built-in by name, else a template file at `spec`.
    pub fn load(spec: &str) -> Result<Template> {
        if let Some(t) = builtin::builtin(spec) {
            return Ok(t);
        }
        let path = Path::new(spec);
        if path.is_file() {
            return file::read_template(path);
        }
        Err(ModelError::Input(format!(
            "unknown template {spec:?}: expected one of {} or a template JSON file \
             ({{\"name\", \"mode\": \"pair\"|\"prefix\", \"steps\" or \"template\"}}), and no such file exists",
            builtin::NAMES.join(", ")
        )))
    }

    /// True when encoding with this template gives the plain encoding (`none`).
    pub fn is_identity(&self) -> bool {
        self.mode == TemplateMode::Prefix && self.steps == TEXT_SLOT
    }

    /// Prefix mode: the steps before and after the `{text}` slot.
    pub fn prefix_parts(&self) -> (&str, &str) {
        self.steps
            .split_once(TEXT_SLOT)
            .unwrap_or((&self.steps, ""))
    }

    /// Replace `{levels}` with the levels of `tree` (no-op without the placeholder).
    pub fn expand_levels(&mut self, tree: &LabelTree) {
        if self.steps.contains(LEVELS_SLOT) {
            self.steps = self.steps.replace(LEVELS_SLOT, &tree.describe());
        }
    }

    /// [`Template::expand_levels`] with the tree of `labels` (paths `国内/政治` make levels;
    /// flat labels are one level).
    pub fn expand_levels_from_labels(&mut self, labels: &[String]) {
        if self.steps.contains(LEVELS_SLOT) {
            self.expand_levels(&LabelTree::from_labels(labels));
        }
    }

    /// Same mode and steps: encodes every input alike (the name does not matter).
    pub fn same_input(&self, other: &Template) -> bool {
        self.mode == other.mode && self.steps == other.steps
    }

    /// Write as `template.json` into the run dir `dir` (atomically), with the max length
    /// training cut inputs to.
    pub fn write_to_dir(&self, dir: &Path, max_length: Option<usize>) -> Result<()> {
        let mut file = file::TemplateFile::from(self.clone());
        file.max_length = max_length;
        crate::run_dir::write_json_atomically(&dir.join(TEMPLATE_FILE), &file)
    }
}

/// The template a model dir was trained with (`template.json`), if it has one.
pub fn stored(dir: &Path) -> Result<Option<Template>> {
    let path = dir.join(TEMPLATE_FILE);
    if !path.is_file() {
        return Ok(None);
    }
    file::read_template(&path).map(Some)
}

/// The template to apply to inputs of the model in `dir`, given the one asked for
/// (`--template`, with `{levels}` expanded from `labels`):
/// - the dir stores one: it is used; a different one asked for is an error (inputs would be
///   encoded otherwise than in training);
/// - a training run dir (`train_config.json`) without `template.json` was trained without a
///   template: asking for one other than `none` is an error;
/// - any other model dir (e.g. merged, or trained elsewhere): the one asked for.
pub fn select(
    dir: &Path,
    requested: Option<Template>,
    labels: &[String],
) -> Result<Option<Template>> {
    let requested = requested.map(|mut t| {
        t.expand_levels_from_labels(labels);
        t
    });
    match (stored(dir)?, requested) {
        (Some(s), Some(r)) if !s.same_input(&r) => Err(ModelError::Input(format!(
            "{} was trained with template `{}` ({}); --template `{}` differs from it, so inputs \
             would not be encoded as in training: leave out --template (the stored one is applied)",
            dir.display(),
            s.name,
            dir.join(TEMPLATE_FILE).display(),
            r.name
        ))),
        (Some(s), _) => Ok(Some(s)),
        (None, Some(r)) if !r.is_identity() && is_training_run(dir) => {
            Err(ModelError::Input(format!(
                "{} was trained without a template (no {TEMPLATE_FILE}); --template `{}` would \
                 encode inputs otherwise than in training: leave out --template",
                dir.display(),
                r.name
            )))
        }
        (None, r) => Ok(r.filter(|t| !t.is_identity())),
    }
}

/// Set `options` up for the model in `dir` ([`Classifier`](crate::Classifier) loading):
/// the template by [`select`] (`options.template` is the one asked for), and, for a model
/// trained with a template and no `max_length` asked for, the training max length stored
/// with it — so the steps are cut exactly as they were in training.
pub fn configure(
    dir: &Path,
    options: &mut crate::classifier::ClassifierOptions,
    labels: &[String],
) -> Result<()> {
    options.template = select(dir, options.template.take(), labels)?;
    if options.template.is_some() && options.max_length.is_none() {
        options.max_length = stored_max_length(dir)?;
    }
    Ok(())
}

/// The training max length in `dir`'s `template.json`, if it has one.
pub fn stored_max_length(dir: &Path) -> Result<Option<usize>> {
    let path = dir.join(TEMPLATE_FILE);
    if !path.is_file() {
        return Ok(None);
    }
    file::read_template_file(&path).map(|(_, m)| m)
}

fn is_training_run(dir: &Path) -> bool {
    dir.join(crate::trainer::start::CONFIG_FILE).is_file() || crate::run_dir::is_run_dir(dir)
}
