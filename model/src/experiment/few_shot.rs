//! Few-shot stability experiment: for each seed, a stratified sample of the pool
//! ([`stratified_sample`]); each training mode trained on it with the same budget (same
//! epochs / steps, batch size, schedule) and evaluated on the test set
//! ([`super::cells::train_and_score`]). Summary: mean ± sample standard deviation of
//! accuracy and macro-F1 per mode.
//!
//! Out dir layout (every file written atomically, so a killed run resumes cleanly):
//! - `experiment.json`: the settings; a rerun with other settings is refused;
//! - `seed-{s}/sample.jsonl`: the training sample (`text`, `text_pair`, `label`);
//! - `seed-{s}/{mode}.json`: one finished cell ([`Cell`]); a rerun skips it;
//! - `seed-{s}/{mode}-run/`: the run dir while training (resumed from its checkpoint if
//!   the process died; deleted after the cell is saved unless `keep_runs`);
//! - `results.json` ([`FewShotResults`]) and `results.md` (the table).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use super::cells::sample_std;
use super::cells::{cell_config, check_test_labels, mean, mkdir, train_and_score};
use super::sampling::stratified_sample;
use crate::data::{read_examples, Dataset, ReadOptions};
use crate::error::{ModelError, Result};
use crate::report::write_text;
use crate::run_dir::{read_json, write_json_atomically};
use crate::train::TrainMode;
use crate::trainer::TrainConfig;

/// What to run.
#[derive(Clone, Debug)]
pub struct FewShotConfig {
    /// Labelled pool the samples are drawn from.
    pub pool: PathBuf,
    /// Labelled test set every cell is scored on.
    pub test: PathBuf,
    /// Fields of the pool and test files.
    pub read: ReadOptions,
    /// Examples in all (or per class with `per_class`).
    pub shots: usize,
    pub per_class: bool,
    pub seeds: Vec<u64>,
    /// Modes with their peak learning rates.
    pub modes: Vec<(TrainMode, f64)>,
    /// Template of every run: base model, LoRA/loss/dropouts, budget (epochs / max_steps),
    /// batch size, schedule, max length, dictionary. `train`, `eval`, `labels`,
    /// `setup.mode`, `lr` and `seed` are set per cell.
    pub template: TrainConfig,
    pub out: PathBuf,
    /// Keep each cell's run dir (default: deleted once the cell is scored).
    pub keep_runs: bool,
}

/// One (seed, mode) result.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Cell {
    pub seed: u64,
    pub mode: String,
    pub train_examples: usize,
    pub steps: u64,
    pub accuracy: f64,
    pub macro_f1: f64,
    pub seconds: f64,
}

/// Mean ± std over seeds of one mode.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModeSummary {
    pub mode: String,
    pub runs: usize,
    pub accuracy_mean: f64,
    /// Sample standard deviation (n − 1); 0 for a single run.
    pub accuracy_std: f64,
    pub macro_f1_mean: f64,
    pub macro_f1_std: f64,
}

/// `results.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FewShotResults {
    pub shots: usize,
    pub per_class: bool,
    pub seeds: Vec<u64>,
    pub modes: Vec<String>,
    pub test_examples: usize,
    pub cells: Vec<Cell>,
    pub summary: Vec<ModeSummary>,
}

/// The CLI's name of a mode (`head`, `lora`, `full`).
pub fn mode_name(mode: TrainMode) -> &'static str {
    match mode {
        TrainMode::Lora => "lora",
        TrainMode::Full => "full",
        TrainMode::HeadOnly => "head",
    }
}

/// Parse `head`, `lora` or `full`.
pub fn parse_mode(name: &str) -> Result<TrainMode> {
    match name.trim() {
        "lora" => Ok(TrainMode::Lora),
        "full" => Ok(TrainMode::Full),
        "head" => Ok(TrainMode::HeadOnly),
        other => Err(ModelError::Input(format!(
            "unknown mode {other:?}: expected head, lora or full"
        ))),
    }
}

/// Settings that must match for a rerun to reuse finished cells.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Settings {
    pool: PathBuf,
    test: PathBuf,
    shots: usize,
    per_class: bool,
    modes: Vec<(String, f64)>,
    template: serde_json::Value,
}

/// Run (or resume) the experiment; `log` receives one line per event.
pub fn run_few_shot(config: &FewShotConfig, log: &mut dyn FnMut(&str)) -> Result<FewShotResults> {
    if config.seeds.is_empty() || config.modes.is_empty() {
        return Err(ModelError::Input(
            "few-shot needs at least one seed and one mode".into(),
        ));
    }
    mkdir(&config.out)?;
    check_settings(config)?;
    let pool = read_examples(&config.pool, &config.read)?;
    let test = read_examples(&config.test, &config.read)?;
    let labels = pool.label_set();
    let source = format!("the pool {}", config.pool.display());
    check_test_labels(&test, &config.test, &labels, &source)?;
    let mut cells = Vec::new();
    for &seed in &config.seeds {
        let dir = config.out.join(format!("seed-{seed}"));
        mkdir(&dir)?;
        let sample_path = dir.join("sample.jsonl");
        let sample = stratified_sample(&pool.examples, config.shots, config.per_class, seed)?;
        write_sample(&sample_path, &pool, &sample)?;
        for &(mode, lr) in &config.modes {
            let name = mode_name(mode);
            let cell_path = dir.join(format!("{name}.json"));
            if cell_path.is_file() {
                let cell: Cell = read_json(&cell_path)?;
                log(&format!(
                    "seed {seed} {name}: done before (accuracy {:.4}, macro-F1 {:.4})",
                    cell.accuracy, cell.macro_f1
                ));
                cells.push(cell);
                continue;
            }
            log(&format!(
                "seed {seed} {name}: training on {} examples",
                sample.len()
            ));
            let cell = run_cell(config, &labels, &test, &dir, &sample_path, seed, mode, lr)?;
            write_json_atomically(&cell_path, &cell)?;
            log(&format!(
                "seed {seed} {name}: accuracy {:.4}, macro-F1 {:.4} ({} steps, {:.1} s)",
                cell.accuracy, cell.macro_f1, cell.steps, cell.seconds
            ));
            cells.push(cell);
        }
    }
    let results = FewShotResults {
        shots: config.shots,
        per_class: config.per_class,
        seeds: config.seeds.clone(),
        modes: config
            .modes
            .iter()
            .map(|m| mode_name(m.0).to_string())
            .collect(),
        test_examples: test.examples.len(),
        summary: summarize(&cells, &config.modes),
        cells,
    };
    write_json_atomically(&config.out.join("results.json"), &results)?;
    write_text(&config.out.join("results.md"), &results.to_markdown())?;
    Ok(results)
}

/// Train one mode on one sample and score it on the test set.
#[allow(clippy::too_many_arguments)]
fn run_cell(
    config: &FewShotConfig,
    labels: &[String],
    test: &Dataset,
    dir: &Path,
    sample_path: &Path,
    seed: u64,
    mode: TrainMode,
    lr: f64,
) -> Result<Cell> {
    let run = dir.join(format!("{}-run", mode_name(mode)));
    // The sample file has the standard field names.
    let read = ReadOptions::default();
    let mut train = cell_config(&config.template, sample_path, &read, labels, seed);
    train.setup.mode = mode;
    train.lr = lr;
    let scored = train_and_score(train, &run, test, config.keep_runs)?;
    Ok(Cell {
        seed,
        mode: mode_name(mode).into(),
        train_examples: scored.train_examples,
        steps: scored.steps,
        accuracy: scored.accuracy,
        macro_f1: scored.macro_f1,
        seconds: scored.seconds,
    })
}

/// Refuse to mix cells of different settings in one out dir.
fn check_settings(config: &FewShotConfig) -> Result<()> {
    let settings = Settings {
        pool: config.pool.clone(),
        test: config.test.clone(),
        shots: config.shots,
        per_class: config.per_class,
        modes: config
            .modes
            .iter()
            .map(|(m, lr)| (mode_name(*m).to_string(), *lr))
            .collect(),
        template: serde_json::to_value(&config.template)
            .map_err(|e| ModelError::Other(e.to_string()))?,
    };
    let path = config.out.join("experiment.json");
    if path.is_file() {
        let old: Settings = read_json(&path)?;
        // New seeds or modes may be added; everything else must match.
        let same_mode_lrs = settings
            .modes
            .iter()
            .all(|m| old.modes.iter().all(|o| o.0 != m.0 || o.1 == m.1));
        if old.pool != settings.pool
            || old.test != settings.test
            || old.shots != settings.shots
            || old.per_class != settings.per_class
            || old.template != settings.template
            || !same_mode_lrs
        {
            return Err(ModelError::Input(format!(
                "{} holds an experiment with other settings (data, shots, modes' learning rates or training budget); use another --out",
                config.out.display()
            )));
        }
        let mut merged = old;
        for m in settings.modes {
            if !merged.modes.iter().any(|o| o.0 == m.0) {
                merged.modes.push(m);
            }
        }
        return write_json_atomically(&path, &merged);
    }
    write_json_atomically(&path, &settings)
}

/// The sampled examples as JSONL with the standard field names.
fn write_sample(path: &Path, pool: &Dataset, sample: &[usize]) -> Result<()> {
    let mut text = String::new();
    for &i in sample {
        let e = &pool.examples[i];
        let mut obj = serde_json::Map::new();
        obj.insert("text".into(), e.text.clone().into());
        if let Some(p) = &e.text_pair {
            obj.insert("text_pair".into(), p.clone().into());
        }
        obj.insert(
            "label".into(),
            e.label
                .as_slice()
                .first()
                .cloned()
                .unwrap_or_default()
                .into(),
        );
        text.push_str(&serde_json::Value::Object(obj).to_string());
        text.push('\n');
    }
    write_text(path, &text)
}

/// Mean and sample std per mode, in the modes' order.
fn summarize(cells: &[Cell], modes: &[(TrainMode, f64)]) -> Vec<ModeSummary> {
    modes
        .iter()
        .map(|(m, _)| {
            let name = mode_name(*m);
            let of: Vec<&Cell> = cells.iter().filter(|c| c.mode == name).collect();
            let acc: Vec<f64> = of.iter().map(|c| c.accuracy).collect();
            let f1: Vec<f64> = of.iter().map(|c| c.macro_f1).collect();
            ModeSummary {
                mode: name.into(),
                runs: of.len(),
                accuracy_mean: mean(&acc),
                accuracy_std: sample_std(&acc),
                macro_f1_mean: mean(&f1),
                macro_f1_std: sample_std(&f1),
            }
        })
        .collect()
}

impl FewShotResults {
    /// The summary as a markdown table.
    pub fn to_markdown(&self) -> String {
        let mut s = format!(
            "Few-shot: {} shots{}, {} seeds ({}), {} test examples\n\n\
             | mode | runs | accuracy (mean ± std) | macro-F1 (mean ± std) |\n|---|---:|---:|---:|\n",
            self.shots,
            if self.per_class { " per class" } else { " in total" },
            self.seeds.len(),
            self.seeds
                .iter()
                .map(|s| s.to_string())
                .collect::<Vec<_>>()
                .join(", "),
            self.test_examples
        );
        for m in &self.summary {
            s.push_str(&format!(
                "| {} | {} | {:.4} ± {:.4} | {:.4} ± {:.4} |\n",
                m.mode, m.runs, m.accuracy_mean, m.accuracy_std, m.macro_f1_mean, m.macro_f1_std
            ));
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_round_trip() {
        for m in ["head", "lora", "full"] {
            assert_eq!(mode_name(parse_mode(m).unwrap()), m);
        }
        assert!(parse_mode("adapter").is_err());
    }
}
