//! A synthetic evaluation report for the report tests: Japanese labels and texts (with
//! characters that need HTML escaping), slices, calibration, and a run dir with a
//! `train_log.jsonl`, so every section and figure of the page is present.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::Path;

use tokken_model::data::{Example, LabelTarget};
use tokken_model::evaluate::ExampleResult;
use tokken_model::metrics::{MetricsInput, MetricsReport};
use tokken_model::report::slices::{all_slices, score_slices};
use tokken_model::report::{EvalReport, ReportOptions};
use tokken_model::run_dir::{EvalEntry, TrainEntry, TrainLog, TrainLogEntry, TRAIN_LOG};

/// A fresh, empty temp dir for one test, named `tokken-<name>-…`; removed when the
/// returned guard drops (also when the test panics), so keep it alive for the whole test.
pub fn scratch(name: &str) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(&format!("tokken-{name}-"))
        .tempdir()
        .unwrap()
}

pub fn labels() -> Vec<String> {
    ["政治", "経済", "国際", "スポーツ"]
        .map(String::from)
        .to_vec()
}

/// 40 examples: true class i % 4, predicted right except every 3rd (shifted by one class).
pub fn report(run_dir: &Path) -> EvalReport {
    write_train_log(run_dir);
    let labels = labels();
    let kinds = ["boundary", "omitted_subject", "very_short"];
    let mut examples = Vec::new();
    let mut results = Vec::new();
    let mut probs_all = Vec::new();
    for i in 0..40usize {
        let t = i % 4;
        let p = if i % 3 == 0 { (t + 1) % 4 } else { t };
        let text = match i % 5 {
            0 => format!("首相が<b>会見</b> & \"発言\" 'x' {i}"),
            1 => "短い".to_string(),
            2 => format!("日銀、追加利上げを見送り　円相場は{i}円台で推移する見通し"),
            _ => format!("米大統領選の結果受け東証が大幅高 {i}"),
        };
        let mut extra = BTreeMap::new();
        extra.insert("kind".to_string(), kinds[i % 3].to_string());
        examples.push(Example {
            text,
            text_pair: None,
            label: LabelTarget::Single(labels[t].clone()),
            extra,
            line: i + 1,
        });
        let conf = 0.4 + 0.5 * ((i * 7) % 10) as f32 / 10.0;
        let mut probs = vec![(1.0 - conf) / 3.0; 4];
        probs[p] = conf;
        probs_all.extend(probs.iter().map(|&x| x as f64));
        results.push(ExampleResult {
            line: i + 1,
            true_index: t,
            pred_index: p,
            score: conf,
            probs,
        });
    }
    let y_true: Vec<usize> = results.iter().map(|r| r.true_index).collect();
    let y_pred: Vec<usize> = results.iter().map(|r| r.pred_index).collect();
    let mut metrics = MetricsReport::compute(MetricsInput {
        labels: &labels,
        y_true: &y_true,
        y_pred: &y_pred,
        probs: Some(&probs_all),
        top_k: Some(2),
        calibration_bins: 10,
    })
    .unwrap();
    let slices = all_slices(&examples, &[10, 20], &["kind".to_string()]);
    metrics.slices = score_slices(&slices, &y_true, &y_pred, &labels).unwrap();
    EvalReport::new(
        run_dir,
        Path::new("data/hard/hard.jsonl"),
        metrics,
        &examples,
        &results,
        &ReportOptions::default(),
    )
    .unwrap()
}

fn write_train_log(run_dir: &Path) {
    std::fs::create_dir_all(run_dir).unwrap();
    let mut log = TrainLog::create(&run_dir.join(TRAIN_LOG)).unwrap();
    for step in 1..=30usize {
        log.log(&TrainLogEntry::Train(TrainEntry {
            step,
            epoch: step as f64 / 10.0,
            loss: 2.0 / (1.0 + step as f64 * 0.2),
            lr: 1e-3,
            grad_norm: 1.0,
            tokens_per_s: 1000.0,
        }))
        .unwrap();
        if step % 10 == 0 {
            log.log(&TrainLogEntry::Eval(EvalEntry {
                step,
                epoch: step as f64 / 10.0,
                loss: Some(1.0),
                accuracy: 0.3 + step as f64 / 100.0,
                macro_f1: 0.25 + step as f64 / 100.0,
                weighted_f1: None,
            }))
            .unwrap();
        }
    }
}
