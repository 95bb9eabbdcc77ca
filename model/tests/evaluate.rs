//! `evaluate` on the tiny-BERT fixture: predictions equal `Classifier::predict`, counts add
//! up, unknown gold labels are named by file and line, text pairs are encoded as pairs.

mod common;

use std::path::{Path, PathBuf};

use tokken_model::data::{read_examples, ReadOptions};
use tokken_model::evaluate::{evaluate, EvalOptions};
use tokken_model::{Classifier, ClassifierOptions};

fn tiny_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tiny-bert")
}

fn load() -> Option<Classifier> {
    match Classifier::load_with(
        &tiny_dir(),
        ClassifierOptions {
            batch_size: 3,
            ..ClassifierOptions::default()
        },
    ) {
        Ok(c) => Some(c),
        Err(tokken_model::ModelError::Tokenizer(e)) => {
            eprintln!("skipping: no MeCab dictionary ({e})");
            None
        }
        Err(e) => panic!("tiny-bert classifier loads: {e}"),
    }
}

const DATA: &str = "{\"text\": \"すぽーつのしあい\", \"label\": \"スポーツ\"}\n\
{\"text\": \"けいざいがよい\", \"label\": \"経済\"}\n\
\n\
{\"text\": \"えいがをみる\", \"label\": \"映画\"}\n\
{\"text\": \"サッカー\", \"label\": \"スポーツ\"}\n\
{\"text\": \"かぶかがあがる\", \"label\": \"経済\"}\n\
{\"text\": \"あ\", \"label\": \"経済\"}\n\
{\"text\": \"ほんをよむひと\", \"label\": \"映画\"}\n";

#[test]
fn predictions_match_the_classifier_and_counts_add_up() {
    let Some(clf) = load() else { return };
    let (_tmp, path) = common::scratch_file("evaluate", "eval.jsonl", DATA);
    let data = read_examples(&path, &ReadOptions::default()).unwrap();
    let mut calls = Vec::new();
    let options = EvalOptions {
        top_k: Some(2),
        chunk: 3,
        ..EvalOptions::default()
    };
    let ev = evaluate(&clf, &data, &options, &mut |done, total| {
        calls.push((done, total))
    })
    .unwrap();
    assert_eq!(calls, vec![(3, 7), (6, 7), (7, 7)]);
    let texts: Vec<&str> = data.examples.iter().map(|e| e.text.as_str()).collect();
    let direct = clf.predict(&texts).unwrap();
    assert_eq!(ev.results.len(), 7);
    for (r, p) in ev.results.iter().zip(&direct) {
        assert_eq!(r.pred_index, p.index);
        assert_eq!(r.probs, p.probs);
    }
    let lines: Vec<usize> = ev.results.iter().map(|r| r.line).collect();
    assert_eq!(lines, vec![1, 2, 4, 5, 6, 7, 8]);
    // Gold indices follow the model's id2label: 経済 0, スポーツ 1, 映画 2.
    let gold: Vec<usize> = ev.results.iter().map(|r| r.true_index).collect();
    assert_eq!(gold, vec![1, 0, 2, 1, 0, 0, 2]);
    let r = &ev.report;
    assert_eq!(r.n, 7);
    assert_eq!(r.labels, clf.labels());
    let cm_total: u64 = r.confusion_matrix.iter().flatten().sum();
    assert_eq!(cm_total, 7);
    let correct = ev
        .results
        .iter()
        .filter(|x| x.pred_index == x.true_index)
        .count();
    assert_eq!(r.accuracy, correct as f64 / 7.0);
    let support: Vec<u64> = r.per_class.iter().map(|c| c.support).collect();
    assert_eq!(support, vec![3, 2, 2]);
    assert_eq!(r.top_k.as_ref().unwrap().k, 2);
    let bins = &r.calibration.as_ref().unwrap().bins;
    assert_eq!(bins.iter().map(|b| b.count).sum::<u64>(), 7);
}

#[test]
fn unknown_gold_labels_are_named_with_file_and_line() {
    let Some(clf) = load() else { return };
    let body = "{\"text\": \"あ\", \"label\": \"経済\"}\n{\"text\": \"い\", \"label\": \"天気\"}\n\
                {\"text\": \"う\", \"label\": \"政治\"}\n";
    let (_tmp, path) = common::scratch_file("evaluate", "unknown.jsonl", body);
    let data = read_examples(&path, &ReadOptions::default()).unwrap();
    let err = evaluate(&clf, &data, &EvalOptions::default(), &mut |_, _| {})
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        format!(
            "{}:2: label \"天気\" is not one of the 3 known labels [経済, スポーツ, 映画]; 2 lines \
             have unknown labels: \"天気\" (first at line 2), \"政治\" (first at line 3)",
            path.display()
        )
    );
}

#[test]
fn text_pairs_are_encoded_as_pairs() {
    let Some(clf) = load() else { return };
    let body = "text\ttext_pair\tlabel\nあいう\tかきく\t経済\nさしす\t\t映画\n";
    let (_tmp, path) = common::scratch_file("evaluate", "pairs.tsv", body);
    let data = read_examples(&path, &ReadOptions::default()).unwrap();
    let ev = evaluate(&clf, &data, &EvalOptions::default(), &mut |_, _| {}).unwrap();
    let opts = tokken_tokenizer::encoder::EncodeOptions {
        truncation: tokken_tokenizer::encoder::Truncation::LongestFirst,
        max_length: Some(64),
        ..Default::default()
    };
    let pair = clf.tokenizer().encode_pair("あいう", "かきく", &opts);
    assert!(pair.type_ids.contains(&1), "the pair has segment B");
    let want = clf.predict_encoded(&[pair]).unwrap();
    assert_eq!(ev.results[0].probs, want[0].probs);
    let single = clf.predict(&["さしす"]).unwrap();
    assert_eq!(ev.results[1].probs, single[0].probs);
    assert_ne!(
        ev.results[0].probs,
        clf.predict(&["あいう"]).unwrap()[0].probs,
        "the second text changes the result"
    );
}

#[test]
fn slices_by_length_and_field() {
    let Some(clf) = load() else { return };
    // Lengths 8, 7, 6, 4, 7, 1, 7 characters; `kind` on three lines.
    let body = DATA
        .replace("しあい\", ", "しあい\", \"kind\": \"x\", ")
        .replace("みる\", ", "みる\", \"kind\": \"y\", ")
        .replace("\"あ\", ", "\"あ\", \"kind\": \"x\", ");
    let (_tmp, path) = common::scratch_file("evaluate", "slices.jsonl", &body);
    let data = read_examples(&path, &ReadOptions::default()).unwrap();
    let options = EvalOptions {
        length_bounds: vec![6, 4],
        slice_by: vec!["kind".into()],
        ..EvalOptions::default()
    };
    let ev = evaluate(&clf, &data, &options, &mut |_, _| {}).unwrap();
    let got: Vec<(String, String, usize)> = ev
        .report
        .slices
        .iter()
        .map(|s| (s.by.clone(), s.value.clone(), s.n))
        .collect();
    let want = [
        ("length", "≤ 4", 2),
        ("length", "5–6", 1),
        ("length", "> 6", 4),
        ("kind", "(none)", 4),
        ("kind", "x", 2),
        ("kind", "y", 1),
    ];
    let want: Vec<(String, String, usize)> = want
        .iter()
        .map(|(a, b, n)| (a.to_string(), b.to_string(), *n))
        .collect();
    assert_eq!(got, want);
    // Each slice's accuracy is that of its members.
    let x_members = [0usize, 5];
    let correct = x_members
        .iter()
        .filter(|&&i| ev.results[i].pred_index == ev.results[i].true_index)
        .count();
    assert_eq!(ev.report.slices[4].accuracy, correct as f64 / 2.0);
    assert!(ev.report.to_string().contains("kind (none)"));
}
