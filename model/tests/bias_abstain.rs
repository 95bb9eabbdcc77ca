//! The safety filter: the coverage-vs-accuracy curve (monotone on a case where confidence
//! ranks correctness; coverage never rises with the threshold), and `evaluate` with a minimum
//! confidence scores only the covered examples while the coverage counts the abstained ones.

mod common;

use std::path::{Path, PathBuf};

use tokken_model::abstain::{coverage_curve, Selective, DEFAULT_ABSTAIN_LABEL};
use tokken_model::data::{read_examples, ReadOptions};
use tokken_model::evaluate::{evaluate, EvalOptions};
use tokken_model::rng::SplitMix64;
use tokken_model::{Classifier, ClassifierOptions};

#[test]
fn curve_is_monotone_when_confidence_ranks_correctness() {
    // 20 examples, confidence 0.30 .. 0.965; the 8 least confident are wrong, so raising
    // the threshold only ever drops wrong examples until none is left.
    let n = 20;
    let scores: Vec<f32> = (0..n).map(|i| 0.30 + 0.035 * i as f32).collect();
    let y_true = vec![0usize; n];
    let wrong: Vec<usize> = (0..8).collect();
    let y_pred: Vec<usize> = (0..n).map(|i| usize::from(wrong.contains(&i))).collect();
    let curve = coverage_curve(&y_true, &y_pred, &scores, 2, 20).unwrap();
    assert_eq!(curve.len(), 21);
    assert_eq!(curve[0].covered, n);
    assert!((curve[0].accuracy.unwrap() - 12.0 / 20.0).abs() < 1e-12);
    let last = curve.last().unwrap();
    assert!(last.covered >= 1 && last.accuracy == Some(1.0));
    for w in curve.windows(2) {
        assert!(w[1].threshold > w[0].threshold);
        assert!(w[1].coverage <= w[0].coverage, "{w:?}");
        assert!(
            w[1].accuracy.unwrap() >= w[0].accuracy.unwrap(),
            "accuracy fell: {w:?}"
        );
    }
    // Coverage at each threshold is the share of scores at or above it.
    for p in &curve {
        let k = scores.iter().filter(|&&s| s as f64 >= p.threshold).count();
        assert_eq!(p.covered, k);
        assert!((p.coverage - k as f64 / n as f64).abs() < 1e-12);
    }
}

#[test]
fn coverage_never_rises_with_the_threshold() {
    let mut rng = SplitMix64::new(9);
    let n = 200;
    let scores: Vec<f32> = (0..n)
        .map(|_| 0.2 + 0.8 * (rng.below(1000) as f32 / 1000.0))
        .collect();
    let y_true: Vec<usize> = (0..n).map(|_| rng.below(3) as usize).collect();
    let y_pred: Vec<usize> = (0..n).map(|_| rng.below(3) as usize).collect();
    let curve = coverage_curve(&y_true, &y_pred, &scores, 3, 20).unwrap();
    assert!(curve.windows(2).all(|w| w[1].covered <= w[0].covered));
    assert_eq!(curve[0].covered, n);
}

fn tiny_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tiny-bert")
}

const DATA: &str = "{\"text\": \"すぽーつのしあい\", \"label\": \"スポーツ\"}\n\
{\"text\": \"けいざいがよい\", \"label\": \"経済\"}\n\
{\"text\": \"えいがをみる\", \"label\": \"映画\"}\n\
{\"text\": \"サッカー\", \"label\": \"スポーツ\"}\n\
{\"text\": \"かぶかがあがる\", \"label\": \"経済\"}\n\
{\"text\": \"あ\", \"label\": \"経済\"}\n\
{\"text\": \"ほんをよむひと\", \"label\": \"映画\"}\n\
{\"text\": \"しあいにかつ\", \"label\": \"スポーツ\"}\n";

#[test]
fn evaluate_scores_only_covered_examples_and_reports_coverage() {
    let clf = match Classifier::load_with(&tiny_dir(), ClassifierOptions::default()) {
        Ok(c) => c,
        Err(tokken_model::ModelError::Tokenizer(e)) => {
            eprintln!("skipping: no MeCab dictionary ({e})");
            return;
        }
        Err(e) => panic!("{e}"),
    };
    let dir = common::scratch("abstain");
    let path = dir.path().join("data.jsonl");
    std::fs::write(&path, DATA).unwrap();
    let data = read_examples(&path, &ReadOptions::default()).unwrap();
    let all = evaluate(&clf, &data, &EvalOptions::default(), &mut |_, _| {}).unwrap();
    // A threshold between the 4th and 5th lowest confidence: 4 examples abstain.
    let mut scores: Vec<f32> = all.results.iter().map(|r| r.score).collect();
    scores.sort_by(f32::total_cmp);
    assert!(
        scores[3] < scores[4],
        "distinct confidences expected: {scores:?}"
    );
    let p = (scores[3] + scores[4]) / 2.0;
    let options = EvalOptions {
        min_confidence: Some(p),
        ..EvalOptions::default()
    };
    let filtered = evaluate(&clf, &data, &options, &mut |_, _| {}).unwrap();
    let covered: Vec<_> = all.results.iter().filter(|r| r.score >= p).collect();
    assert_eq!(covered.len(), 4);
    assert_eq!(filtered.report.n, 4, "abstained examples are not scored");
    let correct = covered
        .iter()
        .filter(|r| r.pred_index == r.true_index)
        .count();
    assert!((filtered.report.accuracy - correct as f64 / 4.0).abs() < 1e-12);
    let support: u64 = filtered.report.per_class.iter().map(|c| c.support).sum();
    assert_eq!(support, 4);
    // Results still hold every example; the coverage counts the abstained ones.
    assert_eq!(filtered.results.len(), 8);
    let s = Selective::from_results(&filtered.results, 3, Some(p), DEFAULT_ABSTAIN_LABEL).unwrap();
    let a = s.abstain.unwrap();
    assert_eq!((a.n, a.covered, a.abstained), (8, 4, 4));
    assert!((a.coverage - 0.5).abs() < 1e-12);
    assert_eq!(a.accuracy, Some(filtered.report.accuracy));
    assert_eq!(a.abstain_label, "未分類");
    assert_eq!(s.coverage_curve[0].covered, 8);
    // Nothing covered: a clear error instead of empty metrics.
    let options = EvalOptions {
        min_confidence: Some(1.0),
        ..EvalOptions::default()
    };
    let err = evaluate(&clf, &data, &options, &mut |_, _| {})
        .unwrap_err()
        .to_string();
    assert!(err.contains("every example abstains"), "{err}");
}
