//! What every experiment shares: the test set's labels checked against the training labels,
//! one cell's training settings, the cell trained through the [`Trainer`] and scored on a
//! test set (resumed if a previous process was cut short), mean ± sample std over seeds, and
//! the out dir's small file helpers.

use std::path::Path;
use std::time::Instant;

use crate::classifier::Classifier;
use crate::data::{Dataset, ReadOptions};
use crate::error::{ModelError, Result};
use crate::evaluate::{evaluate, EvalOptions};
use crate::trainer::start::CONFIG_FILE;
use crate::trainer::{TrainConfig, Trainer};

/// One trained and scored run.
#[derive(Clone, Debug, PartialEq)]
pub struct Scored {
    pub train_examples: usize,
    pub steps: u64,
    pub accuracy: f64,
    pub macro_f1: f64,
    pub seconds: f64,
}

/// Refuse a test set with a label the training data (`source`, e.g. "the pool data.jsonl")
/// does not have: the error names the test file and line.
pub fn check_test_labels(
    test: &Dataset,
    test_path: &Path,
    labels: &[String],
    source: &str,
) -> Result<()> {
    match test.unknown_labels(labels).first() {
        Some((line, l)) => Err(ModelError::Data {
            path: test_path.to_path_buf(),
            line: *line,
            msg: format!("label {l:?} does not occur in {source}"),
        }),
        None => Ok(()),
    }
}

/// One cell's settings: `base` trained on all of `train` (read with `read`'s text and label
/// fields), single-label over `labels`, no eval data, with `seed`.
pub fn cell_config(
    base: &TrainConfig,
    train: &Path,
    read: &ReadOptions,
    labels: &[String],
    seed: u64,
) -> TrainConfig {
    let mut run = base.clone();
    run.train = train.to_path_buf();
    run.eval = None;
    run.eval_split = None;
    run.text_field = read.text_field.clone();
    run.label_field = read.label_field.clone();
    run.multi_label = false;
    run.labels = labels.to_vec();
    run.seed = seed;
    run
}

/// Train `train` into the run dir `run` and score the result on `test`.
///
/// A run dir left by a killed process with the same configuration is resumed from its
/// checkpoint; anything else there is removed first. The run dir is deleted afterwards
/// unless `keep_run`.
pub fn train_and_score(
    train: TrainConfig,
    run: &Path,
    test: &Dataset,
    keep_run: bool,
) -> Result<Scored> {
    let started = Instant::now();
    let resumed = if run.join(CONFIG_FILE).is_file() && run.join("checkpoint").is_dir() {
        Trainer::resume(run).ok().filter(|t| t.config == train)
    } else {
        None
    };
    let mut trainer = match resumed {
        Some(t) => t,
        None => {
            remove_dir(run)?;
            Trainer::new(train, run)?
        }
    };
    trainer.run(&mut |_| {})?;
    let steps = trainer.state.step;
    let train_examples = trainer.train.len();
    drop(trainer);
    let classifier = Classifier::load(run)?;
    let options = EvalOptions {
        length_bounds: Vec::new(),
        ..EvalOptions::default()
    };
    let evaluation = evaluate(&classifier, test, &options, &mut |_, _| {})?;
    if !keep_run {
        remove_dir(run)?;
    }
    Ok(Scored {
        train_examples,
        steps,
        accuracy: evaluation.report.accuracy,
        macro_f1: evaluation.report.macro_f1,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// Arithmetic mean (0 for no values).
pub fn mean(xs: &[f64]) -> f64 {
    if xs.is_empty() {
        return 0.0;
    }
    xs.iter().sum::<f64>() / xs.len() as f64
}

/// Sample standard deviation (divides by n − 1); 0 for fewer than two values.
pub fn sample_std(xs: &[f64]) -> f64 {
    if xs.len() < 2 {
        return 0.0;
    }
    let m = mean(xs);
    (xs.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (xs.len() - 1) as f64).sqrt()
}

pub fn mkdir(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|source| ModelError::Io {
        path: dir.to_path_buf(),
        source,
    })
}

/// Remove a dir and everything in it; a dir that is not there is fine.
pub fn remove_dir(dir: &Path) -> Result<()> {
    match std::fs::remove_dir_all(dir) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(ModelError::Io {
            path: dir.to_path_buf(),
            source: e,
        }),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sample_std_divides_by_n_minus_one() {
        // numpy.std([1, 2, 3, 4], ddof=1) = 1.2909944487358056
        assert!((sample_std(&[1.0, 2.0, 3.0, 4.0]) - 1.2909944487358056).abs() < 1e-15);
        assert_eq!(sample_std(&[0.5]), 0.0);
        assert_eq!(mean(&[1.0, 2.0, 6.0]), 3.0);
    }
}
