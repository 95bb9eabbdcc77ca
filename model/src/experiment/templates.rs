//! Template experiment: does giving BERT the reasoning steps help? Each template trained on
//! the same training file with the same budget (epochs / steps, batch size, schedule, mode,
//! learning rate) for each seed, each scored on the same test set
//! ([`super::cells::train_and_score`]). Summary: mean ± sample standard deviation of
//! accuracy and macro-F1 per template.
//!
//! Out dir layout (every file written atomically, so a killed run resumes cleanly):
//! - `experiment.json`: the settings ([`Settings`]); a rerun may add templates and seeds, but
//!   other data or budget, or a template of the same name with other steps, is refused;
//! - `seed-{s}/{template}.json`: one finished cell ([`TemplateCell`]); a rerun skips it;
//! - `seed-{s}/{template}-run/`: the run dir while training (resumed from its checkpoint if
//!   the process died; deleted after the cell is saved unless `keep_runs`);
//! - `results.json` ([`TemplatesResults`]) and `results.md` (the table).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::cells::{cell_config, check_test_labels, mean, mkdir, sample_std, train_and_score};
use crate::data::{read_examples, ReadOptions};
use crate::error::{ModelError, Result};
use crate::report::write_text;
use crate::run_dir::{read_json, write_json_atomically};
use crate::template::{Template, TemplateMode};
use crate::trainer::TrainConfig;

/// What to run.
#[derive(Clone, Debug)]
pub struct TemplatesConfig {
    /// Labelled training file (every cell trains on all of it).
    pub train: PathBuf,
    /// Labelled test set every cell is scored on.
    pub test: PathBuf,
    /// Fields of both files.
    pub read: ReadOptions,
    /// The templates to compare (distinct names).
    pub templates: Vec<Template>,
    pub seeds: Vec<u64>,
    /// Every run's settings: base model, mode, LoRA/loss/dropouts, budget, learning rate,
    /// batch size, schedule, max length, dictionary. `train`, `eval`, fields, `labels`,
    /// `seed` and `template` are set per cell.
    pub base: TrainConfig,
    pub out: PathBuf,
    /// Keep each cell's run dir (default: deleted once the cell is scored).
    pub keep_runs: bool,
}

/// One (seed, template) result.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TemplateCell {
    pub seed: u64,
    pub template: String,
    pub train_examples: usize,
    pub steps: u64,
    pub accuracy: f64,
    pub macro_f1: f64,
    pub seconds: f64,
}

/// Mean ± std over seeds of one template.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TemplateSummary {
    pub template: String,
    pub mode: TemplateMode,
    pub runs: usize,
    pub accuracy_mean: f64,
    /// Sample standard deviation (n − 1); 0 for a single run.
    pub accuracy_std: f64,
    pub macro_f1_mean: f64,
    pub macro_f1_std: f64,
}

/// `results.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TemplatesResults {
    pub seeds: Vec<u64>,
    /// The templates as applied (`{levels}` expanded).
    pub templates: Vec<Template>,
    pub train_examples: usize,
    pub test_examples: usize,
    pub cells: Vec<TemplateCell>,
    pub summary: Vec<TemplateSummary>,
}

/// `experiment.json`: what must match for a rerun to reuse finished cells.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Settings {
    pub train: PathBuf,
    pub test: PathBuf,
    /// The per-run settings as JSON (`train_config.json`'s form).
    pub base: serde_json::Value,
    /// Every template run in this dir so far.
    pub templates: Vec<Template>,
}

/// Run (or resume) the experiment; `log` receives one line per event.
pub fn run_templates(
    config: &TemplatesConfig,
    log: &mut dyn FnMut(&str),
) -> Result<TemplatesResults> {
    if config.seeds.is_empty() || config.templates.is_empty() {
        return Err(ModelError::Input(
            "the template experiment needs at least one seed and one template".into(),
        ));
    }
    for (i, t) in config.templates.iter().enumerate() {
        if config.templates[..i].iter().any(|o| o.name == t.name) {
            return Err(ModelError::Input(format!(
                "template name `{}` is given twice; names must differ (they name the result files)",
                t.name
            )));
        }
    }
    let train = read_examples(&config.train, &config.read)?;
    let test = read_examples(&config.test, &config.read)?;
    let labels = train.label_set();
    let source = format!("the training file {}", config.train.display());
    check_test_labels(&test, &config.test, &labels, &source)?;
    // `{levels}` now, so a resumed run's saved config equals the one asked for.
    let templates: Vec<Template> = config
        .templates
        .iter()
        .map(|t| {
            let mut t = t.clone();
            t.expand_levels_from_labels(&labels);
            t
        })
        .collect();
    mkdir(&config.out)?;
    check_settings(config, &templates)?;
    let mut cells = Vec::new();
    for &seed in &config.seeds {
        let dir = config.out.join(format!("seed-{seed}"));
        mkdir(&dir)?;
        for t in &templates {
            let cell_path = dir.join(format!("{}.json", t.name));
            if cell_path.is_file() {
                let cell: TemplateCell = read_json(&cell_path)?;
                log(&format!(
                    "seed {seed} {}: done before (accuracy {:.4}, macro-F1 {:.4})",
                    t.name, cell.accuracy, cell.macro_f1
                ));
                cells.push(cell);
                continue;
            }
            log(&format!(
                "seed {seed} {}: training on {} examples",
                t.name,
                train.examples.len()
            ));
            let mut run = cell_config(&config.base, &config.train, &config.read, &labels, seed);
            run.template = Some(t.clone());
            let run_dir = dir.join(format!("{}-run", t.name));
            let scored = train_and_score(run, &run_dir, &test, config.keep_runs)?;
            let cell = TemplateCell {
                seed,
                template: t.name.clone(),
                train_examples: scored.train_examples,
                steps: scored.steps,
                accuracy: scored.accuracy,
                macro_f1: scored.macro_f1,
                seconds: scored.seconds,
            };
            write_json_atomically(&cell_path, &cell)?;
            log(&format!(
                "seed {seed} {}: accuracy {:.4}, macro-F1 {:.4} ({} steps, {:.1} s)",
                t.name, cell.accuracy, cell.macro_f1, cell.steps, cell.seconds
            ));
            cells.push(cell);
        }
    }
    let results = TemplatesResults {
        seeds: config.seeds.clone(),
        summary: summarize(&cells, &templates),
        templates,
        train_examples: train.examples.len(),
        test_examples: test.examples.len(),
        cells,
    };
    write_json_atomically(&config.out.join("results.json"), &results)?;
    write_text(&config.out.join("results.md"), &results.to_markdown())?;
    Ok(results)
}

/// Refuse to mix cells of other data, budget or template text in one out dir; new
/// templates and seeds are added.
fn check_settings(config: &TemplatesConfig, templates: &[Template]) -> Result<()> {
    let settings = Settings {
        train: config.train.clone(),
        test: config.test.clone(),
        base: serde_json::to_value(&config.base).map_err(|e| ModelError::Other(e.to_string()))?,
        templates: templates.to_vec(),
    };
    let path = config.out.join("experiment.json");
    if !path.is_file() {
        return write_json_atomically(&path, &settings);
    }
    let mut old: Settings = read_json(&path)?;
    if old.train != settings.train || old.test != settings.test || old.base != settings.base {
        return Err(ModelError::Input(format!(
            "{} holds an experiment with other settings (data files or training budget); use another --out",
            config.out.display()
        )));
    }
    for t in templates {
        match old.templates.iter().find(|o| o.name == t.name) {
            Some(o) if o != t => {
                return Err(ModelError::Input(format!(
                    "{} already has results for a template named `{}` with other steps; rename the template or use another --out",
                    config.out.display(),
                    t.name
                )))
            }
            Some(_) => {}
            None => old.templates.push(t.clone()),
        }
    }
    write_json_atomically(&path, &old)
}

/// Mean and sample std per template, in the templates' order.
fn summarize(cells: &[TemplateCell], templates: &[Template]) -> Vec<TemplateSummary> {
    templates
        .iter()
        .map(|t| {
            let of: Vec<&TemplateCell> = cells.iter().filter(|c| c.template == t.name).collect();
            let acc: Vec<f64> = of.iter().map(|c| c.accuracy).collect();
            let f1: Vec<f64> = of.iter().map(|c| c.macro_f1).collect();
            TemplateSummary {
                template: t.name.clone(),
                mode: t.mode,
                runs: of.len(),
                accuracy_mean: mean(&acc),
                accuracy_std: sample_std(&acc),
                macro_f1_mean: mean(&f1),
                macro_f1_std: sample_std(&f1),
            }
        })
        .collect()
}

impl TemplatesResults {
    /// The summary as a markdown table.
    pub fn to_markdown(&self) -> String {
        let mut s = format!(
            "Templates: {} seeds ({}), {} training / {} test examples\n\n\
             | template | mode | runs | accuracy (mean ± std) | macro-F1 (mean ± std) |\n\
             |---|---|---:|---:|---:|\n",
            self.seeds.len(),
            self.seeds
                .iter()
                .map(|s| s.to_string())
                .collect::<Vec<_>>()
                .join(", "),
            self.train_examples,
            self.test_examples
        );
        for m in &self.summary {
            let mode = match m.mode {
                TemplateMode::Pair => "pair",
                TemplateMode::Prefix => "prefix",
            };
            s.push_str(&format!(
                "| {} | {mode} | {} | {:.4} ± {:.4} | {:.4} ± {:.4} |\n",
                m.template,
                m.runs,
                m.accuracy_mean,
                m.accuracy_std,
                m.macro_f1_mean,
                m.macro_f1_std
            ));
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::template::builtin::builtin;

    fn cell(seed: u64, template: &str, accuracy: f64) -> TemplateCell {
        TemplateCell {
            seed,
            template: template.into(),
            train_examples: 10,
            steps: 2,
            accuracy,
            macro_f1: accuracy / 2.0,
            seconds: 0.0,
        }
    }

    #[test]
    fn summary_is_mean_and_sample_std_per_template_in_order() {
        let templates = [builtin("cot-ja").unwrap(), builtin("none").unwrap()];
        let cells = [
            cell(0, "none", 0.5),
            cell(0, "cot-ja", 0.6),
            cell(1, "none", 0.7),
            cell(1, "cot-ja", 0.6),
        ];
        let s = summarize(&cells, &templates);
        assert_eq!(s[0].template, "cot-ja");
        assert_eq!(
            (s[0].runs, s[0].accuracy_mean, s[0].accuracy_std),
            (2, 0.6, 0.0)
        );
        assert!((s[1].accuracy_mean - 0.6).abs() < 1e-12);
        // std of [0.5, 0.7] with n − 1: 0.1414…
        assert!((s[1].accuracy_std - 0.02f64.sqrt()).abs() < 1e-12);
        assert!((s[1].macro_f1_std - 0.005f64.sqrt()).abs() < 1e-12);
    }
}
