//! Evaluation reports: everything `tokken-cli eval` knows about one model on one data set,
//! as JSON ([`EvalReport::to_json`]) and as one self-contained HTML page ([`html`]).
//!
//! The JSON keeps [`MetricsReport`]'s keys at the top level (so `--json` readers of the plain
//! metrics keep working) and adds `model`, `data`, `misclassified_total`, `misclassified`
//! and, for a run dir with `train_log.jsonl`, `training`.
//!
//! Layout: [`slices`] cuts examples into subsets (length buckets, data fields), [`svg`]
//! draws the figures as inline SVG, [`html`] assembles the page.

pub mod html;
pub mod slices;
pub mod svg;

use std::path::Path;

use serde::Serialize;

use crate::data::Example;
use serde_json::Value;

use crate::error::{ModelError, Result};
use crate::evaluate::ExampleResult;
use crate::metrics::MetricsReport;
use crate::run_dir::TRAIN_LOG;

/// One wrongly classified example.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Misclassified {
    /// Line of the example in its data file.
    pub line: usize,
    pub text: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text_pair: Option<String>,
    pub true_label: String,
    pub predicted_label: String,
    /// Probability of the predicted class.
    pub score: f64,
    /// Probability the model gave the true class.
    pub true_score: f64,
}

/// A logged training step (loss curve point).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TrainPoint {
    pub step: usize,
    pub epoch: f64,
    /// `null` in JSON when the loss was not finite.
    pub loss: Option<f64>,
    pub lr: f64,
}

/// An evaluation during training.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct EvalPoint {
    pub step: usize,
    pub epoch: f64,
    pub loss: Option<f64>,
    pub accuracy: f64,
    pub macro_f1: f64,
}

/// Training curves from a run dir's `train_log.jsonl`.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct TrainingCurves {
    pub train: Vec<TrainPoint>,
    pub eval: Vec<EvalPoint>,
}

impl TrainingCurves {
    /// The curves of `run_dir/train_log.jsonl`; `None` when there is no such file.
    ///
    /// Reads both line formats in use: the trainer's (`{"step", "epoch", "loss", "lr", ..}`
    /// per step, `{"step", "epoch", "eval_accuracy", "eval_macro_f1", "eval_loss", ..}` per
    /// evaluation) and [`crate::run_dir::TrainLogEntry`]'s (`"kind": "train" | "eval"`).
    /// Lines of neither shape are skipped; a line that is not JSON is an error naming
    /// `file:line`, except a last line cut short (a run killed mid-write).
    pub fn from_run_dir(run_dir: &Path) -> Result<Option<TrainingCurves>> {
        let path = run_dir.join(TRAIN_LOG);
        if !path.is_file() {
            return Ok(None);
        }
        let text = std::fs::read_to_string(&path).map_err(|source| ModelError::Io {
            path: path.clone(),
            source,
        })?;
        let complete = text.ends_with('\n');
        let lines: Vec<&str> = text.lines().collect();
        let mut curves = TrainingCurves::default();
        for (i, line) in lines.iter().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let v: Value = match serde_json::from_str(line) {
                Ok(v) => v,
                Err(_) if i + 1 == lines.len() && !complete => break,
                Err(e) => {
                    return Err(ModelError::Data {
                        path: path.clone(),
                        line: i + 1,
                        msg: format!("expected a JSON object: {e}"),
                    })
                }
            };
            let num = |k: &str| v.get(k).and_then(Value::as_f64);
            let finite = |k: &str| num(k).filter(|x| x.is_finite());
            let (Some(step), Some(epoch)) = (v.get("step").and_then(Value::as_u64), num("epoch"))
            else {
                continue;
            };
            let step = step as usize;
            let kind = v.get("kind").and_then(Value::as_str);
            let eval = match kind {
                Some("eval") => num("accuracy")
                    .zip(num("macro_f1"))
                    .map(|a| (a, finite("loss"))),
                _ => num("eval_accuracy")
                    .zip(num("eval_macro_f1"))
                    .map(|a| (a, finite("eval_loss"))),
            };
            if let Some(((accuracy, macro_f1), loss)) = eval {
                curves.eval.push(EvalPoint {
                    step,
                    epoch,
                    loss,
                    accuracy,
                    macro_f1,
                });
            } else if kind.is_none_or(|k| k == "train") && v.get("loss").is_some() {
                curves.train.push(TrainPoint {
                    step,
                    epoch,
                    loss: finite("loss"),
                    lr: num("lr").unwrap_or(0.0),
                });
            }
        }
        Ok(Some(curves))
    }
}

/// The full evaluation report.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct EvalReport {
    /// The model (or run) dir evaluated.
    pub model: String,
    /// The data file.
    pub data: String,
    #[serde(flatten)]
    pub metrics: MetricsReport,
    /// All misclassified examples (the list below may be cut short).
    pub misclassified_total: usize,
    /// Misclassified examples, most confident mistakes first, at most
    /// [`ReportOptions::max_misclassified`].
    pub misclassified: Vec<Misclassified>,
    /// Present when the model dir is a run dir with `train_log.jsonl`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub training: Option<TrainingCurves>,
    /// Coverage-vs-accuracy curve and the abstain summary (`eval` sets it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub selective: Option<crate::abstain::Selective>,
}

/// What goes into an [`EvalReport`].
#[derive(Clone, Debug)]
pub struct ReportOptions {
    /// Longest misclassified list kept (the total is always reported).
    pub max_misclassified: usize,
}

impl Default for ReportOptions {
    fn default() -> Self {
        ReportOptions {
            max_misclassified: 200,
        }
    }
}

impl EvalReport {
    /// Bundle metrics, per-example results (`results[i]` belongs to `examples[i]`) and the
    /// training curves of `model_dir` (when it has a `train_log.jsonl`).
    pub fn new(
        model_dir: &Path,
        data_path: &Path,
        metrics: MetricsReport,
        examples: &[Example],
        results: &[ExampleResult],
        options: &ReportOptions,
    ) -> Result<EvalReport> {
        let label = |i: usize| {
            metrics
                .labels
                .get(i)
                .cloned()
                .unwrap_or_else(|| i.to_string())
        };
        let mut wrong: Vec<Misclassified> = examples
            .iter()
            .zip(results)
            .filter(|(_, r)| r.pred_index != r.true_index)
            .map(|(e, r)| Misclassified {
                line: r.line,
                text: e.text.clone(),
                text_pair: e.text_pair.clone(),
                true_label: label(r.true_index),
                predicted_label: label(r.pred_index),
                score: r.score as f64,
                true_score: r.probs.get(r.true_index).map_or(0.0, |&p| p as f64),
            })
            .collect();
        let total = wrong.len();
        // Most confident mistakes first; file order among equal scores.
        wrong.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.line.cmp(&b.line)));
        wrong.truncate(options.max_misclassified);
        Ok(EvalReport {
            model: model_dir.display().to_string(),
            data: data_path.display().to_string(),
            metrics,
            misclassified_total: total,
            misclassified: wrong,
            training: TrainingCurves::from_run_dir(model_dir)?,
            selective: None,
        })
    }

    /// Pretty JSON.
    pub fn to_json(&self) -> String {
        // Plain numbers, strings and vectors: serialization cannot fail.
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// Write the JSON to `path` atomically.
    pub fn write_json(&self, path: &Path) -> Result<()> {
        write_text(path, &(self.to_json() + "\n"))
    }

    /// Write the HTML page to `path` atomically.
    pub fn write_html(&self, path: &Path) -> Result<()> {
        write_text(path, &html::render(self))
    }
}

/// `text` written to `path` atomically (temp file + rename).
pub(crate) fn write_text(path: &Path, text: &str) -> Result<()> {
    tokken_engine::write_file_atomically(path, |w| {
        use std::io::Write;
        w.write_all(text.as_bytes())
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn curves_read_both_log_formats_and_skip_a_cut_last_line() {
        let tmp = tempfile::Builder::new()
            .prefix("tokken-curves-")
            .tempdir()
            .unwrap();
        let dir = tmp.path();
        std::fs::write(
            dir.join(TRAIN_LOG),
            concat!(
                r#"{"epoch":1,"grad_norm":0.6,"loss":1.9,"lr":0.0,"step":1,"tokens_per_s":1.0}"#, "\n",
                r#"{"best":true,"epoch":1,"eval_accuracy":0.3,"eval_loss":1.8,"eval_macro_f1":0.1,"step":1}"#, "\n",
                r#"{"kind":"train","step":2,"epoch":2.0,"loss":null,"lr":1e-3,"grad_norm":1.0,"tokens_per_s":1.0}"#, "\n",
                r#"{"kind":"eval","step":2,"epoch":2.0,"accuracy":0.5,"macro_f1":0.4}"#, "\n",
                r#"{"step":3,"epo"#,
            ),
        )
        .unwrap();
        let c = TrainingCurves::from_run_dir(dir).unwrap().unwrap();
        assert_eq!(c.train.len(), 2);
        assert_eq!((c.train[0].loss, c.train[1].loss), (Some(1.9), None));
        assert_eq!(c.eval.len(), 2);
        assert_eq!((c.eval[0].accuracy, c.eval[0].loss), (0.3, Some(1.8)));
        assert_eq!((c.eval[1].macro_f1, c.eval[1].loss), (0.4, None));
        std::fs::write(dir.join(TRAIN_LOG), "not json\n{}\n").unwrap();
        let err = TrainingCurves::from_run_dir(dir).unwrap_err().to_string();
        assert!(err.contains(":1") || err.contains("line 1"), "{err}");
        assert!(TrainingCurves::from_run_dir(&dir.join("missing"))
            .unwrap()
            .is_none());
    }
}
