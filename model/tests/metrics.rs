//! Metrics against scikit-learn (fixture from scripts/reference/make_metrics_fixture.py) and
//! hand-computed small cases.

mod common;

use std::path::Path;

use serde_json::Value;
use tokken_model::metrics::{
    accuracy, calibration, confusion_matrix, top_k_accuracy, MetricsInput, MetricsReport,
    SliceMetrics,
};

const TOL: f64 = 1e-9;

fn close(got: f64, want: f64, what: &str) {
    assert!(
        (got - want).abs() <= TOL,
        "{what}: got {got}, want {want} (diff {:e})",
        (got - want).abs()
    );
}

fn f64s(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

fn usizes(v: &Value) -> Vec<usize> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as usize)
        .collect()
}

fn names(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("c{i}")).collect()
}

#[test]
fn matches_scikit_learn_on_random_predictions() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/metrics_sklearn.json");
    let fixture: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let bins = fixture["bins"].as_u64().unwrap() as usize;
    let cases = fixture["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 3);
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let nl = case["num_labels"].as_u64().unwrap() as usize;
        let y_true = usizes(&case["y_true"]);
        let y_pred = usizes(&case["y_pred"]);
        let probs: Vec<f64> = case["probs"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(f64s)
            .collect();
        let labels = names(nl);
        let r = MetricsReport::compute(MetricsInput {
            labels: &labels,
            y_true: &y_true,
            y_pred: &y_pred,
            probs: Some(&probs),
            top_k: Some(2),
            calibration_bins: bins,
        })
        .unwrap();
        close(
            r.accuracy,
            case["accuracy"].as_f64().unwrap(),
            &format!("{name} accuracy"),
        );
        close(
            r.macro_f1,
            case["f1_macro"].as_f64().unwrap(),
            &format!("{name} macro f1"),
        );
        close(
            r.micro_f1,
            case["f1_micro"].as_f64().unwrap(),
            &format!("{name} micro f1"),
        );
        close(
            r.weighted_f1,
            case["f1_weighted"].as_f64().unwrap(),
            &format!("{name} weighted f1"),
        );
        close(
            r.averages.macro_precision,
            case["precision_macro"].as_f64().unwrap(),
            &format!("{name} macro precision"),
        );
        close(
            r.averages.macro_recall,
            case["recall_macro"].as_f64().unwrap(),
            &format!("{name} macro recall"),
        );
        let (p, rc, f1, s) = (
            f64s(&case["precision"]),
            f64s(&case["recall"]),
            f64s(&case["f1"]),
            usizes(&case["support"]),
        );
        for (c, m) in r.per_class.iter().enumerate() {
            close(m.precision, p[c], &format!("{name} precision[{c}]"));
            close(m.recall, rc[c], &format!("{name} recall[{c}]"));
            close(m.f1, f1[c], &format!("{name} f1[{c}]"));
            assert_eq!(m.support as usize, s[c], "{name} support[{c}]");
        }
        let cm: Vec<Vec<u64>> = case["confusion_matrix"]
            .as_array()
            .unwrap()
            .iter()
            .map(|row| usizes(row).into_iter().map(|v| v as u64).collect())
            .collect();
        assert_eq!(r.confusion_matrix, cm, "{name} confusion matrix");
        close(
            r.top_k.as_ref().unwrap().accuracy,
            case["top2_accuracy"].as_f64().unwrap(),
            &format!("{name} top-2"),
        );
        let cal = r.calibration.as_ref().unwrap();
        close(
            cal.ece,
            case["ece_10_bins"].as_f64().unwrap(),
            &format!("{name} ECE"),
        );
        assert_eq!(
            cal.bins.iter().map(|b| b.count).sum::<u64>() as usize,
            y_true.len()
        );
    }
}

#[test]
fn hand_computed_three_classes() {
    // true: a a a b b c ; pred: a a b b c c
    let labels: Vec<String> = ["a", "b", "c"].map(String::from).to_vec();
    let y_true = [0, 0, 0, 1, 1, 2];
    let y_pred = [0, 0, 1, 1, 2, 2];
    let r = MetricsReport::compute(MetricsInput {
        labels: &labels,
        y_true: &y_true,
        y_pred: &y_pred,
        probs: None,
        top_k: None,
        calibration_bins: 10,
    })
    .unwrap();
    close(r.accuracy, 4.0 / 6.0, "accuracy");
    // a: P 2/2, R 2/3, F1 0.8 ; b: P 1/2, R 1/2, F1 0.5 ; c: P 1/2, R 1, F1 2/3.
    let want = [
        (1.0, 2.0 / 3.0, 0.8),
        (0.5, 0.5, 0.5),
        (0.5, 1.0, 2.0 / 3.0),
    ];
    for (m, (p, rc, f)) in r.per_class.iter().zip(want) {
        close(m.precision, p, "precision");
        close(m.recall, rc, "recall");
        close(m.f1, f, "f1");
    }
    close(r.macro_f1, (0.8 + 0.5 + 2.0 / 3.0) / 3.0, "macro");
    close(
        r.weighted_f1,
        (3.0 * 0.8 + 2.0 * 0.5 + 2.0 / 3.0) / 6.0,
        "weighted",
    );
    close(r.micro_f1, 4.0 / 6.0, "micro");
    assert_eq!(
        r.confusion_matrix,
        vec![vec![2, 1, 0], vec![0, 1, 1], vec![0, 0, 1]]
    );
    assert!(r.top_k.is_none() && r.calibration.is_none());
}

#[test]
fn zero_division_and_absent_classes() {
    // Class 2 never predicted (P = 0, F1 = 0); class 3 neither true nor predicted (excluded
    // from the macro average); class 1 predicted but no support (R = 0, F1 = 0).
    let labels = names(4);
    let y_true = [0, 0, 2, 2];
    let y_pred = [0, 1, 0, 0];
    let r = MetricsReport::compute(MetricsInput {
        labels: &labels,
        y_true: &y_true,
        y_pred: &y_pred,
        probs: None,
        top_k: None,
        calibration_bins: 10,
    })
    .unwrap();
    let c = &r.per_class;
    close(c[0].precision, 1.0 / 3.0, "P0");
    close(c[0].recall, 0.5, "R0");
    close(c[0].f1, 0.4, "F0");
    assert_eq!((c[1].f1, c[1].support, c[1].predicted), (0.0, 0, 1));
    assert_eq!((c[2].precision, c[2].f1, c[2].support), (0.0, 0.0, 2));
    assert_eq!((c[3].f1, c[3].support, c[3].predicted), (0.0, 0, 0));
    close(r.macro_f1, 0.4 / 3.0, "macro over 3 present classes");
    close(r.weighted_f1, (0.4 * 2.0) / 4.0, "weighted");
}

#[test]
fn top_k_and_calibration_by_hand() {
    let y_true = [0, 1, 2, 2];
    #[rustfmt::skip]
    let probs = [
        0.7, 0.2, 0.1,   // pred 0, correct, conf 0.7
        0.5, 0.3, 0.2,   // pred 0, wrong, conf 0.5 ; true ranks 2nd
        0.25, 0.35, 0.4, // pred 2, correct, conf 0.4
        0.05, 0.9, 0.05, // pred 1, wrong, conf 0.9 ; true ties for 2nd
    ];
    let y_pred = [0, 0, 2, 1];
    close(top_k_accuracy(&y_true, &probs, 3, 1).unwrap(), 0.5, "top-1");
    close(
        top_k_accuracy(&y_true, &probs, 3, 2).unwrap(),
        1.0,
        "top-2 (tie counts)",
    );
    close(top_k_accuracy(&y_true, &probs, 3, 3).unwrap(), 1.0, "top-3");
    // 5 bins: 0.7 -> bin 3, 0.5 -> bin 2, 0.4 -> bin 2, 0.9 -> bin 4.
    // bin 2: acc 0.5, conf 0.45 ; bin 3: acc 1, conf 0.7 ; bin 4: acc 0, conf 0.9.
    let cal = calibration(&y_true, &y_pred, &probs, 3, 5).unwrap();
    let want = 0.5 * 0.05 + 0.25 * 0.3 + 0.25 * 0.9;
    close(cal.ece, want, "ECE");
    let counts: Vec<u64> = cal.bins.iter().map(|b| b.count).collect();
    assert_eq!(counts, vec![0, 0, 2, 1, 1]);
    close(cal.bins[2].confidence, 0.45, "bin 2 confidence");
    close(cal.bins[2].accuracy, 0.5, "bin 2 accuracy");
    close(cal.bins[4].upper, 1.0, "last bin upper");
    // Confidence 1.0 goes to the last bin, not past it.
    let cal = calibration(&[0], &[0], &[1.0, 0.0], 2, 10).unwrap();
    assert_eq!(cal.bins[9].count, 1);
    close(cal.ece, 0.0, "perfect");
}

#[test]
fn bad_inputs_are_errors() {
    assert!(accuracy(&[], &[]).is_err());
    assert!(accuracy(&[0, 1], &[0]).is_err());
    assert!(confusion_matrix(&[0, 3], &[0, 1], 3).is_err());
    assert!(top_k_accuracy(&[0], &[0.5, 0.5], 2, 0).is_err());
    assert!(top_k_accuracy(&[0], &[0.5], 2, 1).is_err());
    assert!(calibration(&[0], &[0], &[1.0, 0.0], 2, 0).is_err());
    let labels = names(2);
    let err = MetricsReport::compute(MetricsInput {
        labels: &labels,
        y_true: &[],
        y_pred: &[],
        probs: None,
        top_k: None,
        calibration_bins: 10,
    })
    .unwrap_err();
    assert_eq!(err.to_string(), "metrics: no examples to score");
    assert!(MetricsReport::compute(MetricsInput {
        labels: &labels,
        y_true: &[0],
        y_pred: &[0],
        probs: None,
        top_k: Some(1),
        calibration_bins: 10,
    })
    .is_err());
}

#[test]
fn table_aligns_japanese_labels_and_json_round_trips() {
    let labels: Vec<String> = ["経済", "IT・科学", "スポーツ"].map(String::from).to_vec();
    let r = MetricsReport::compute(MetricsInput {
        labels: &labels,
        y_true: &[0, 1, 2, 2],
        y_pred: &[0, 1, 2, 0],
        probs: Some(&[0.8, 0.1, 0.1, 0.1, 0.8, 0.1, 0.1, 0.1, 0.8, 0.6, 0.2, 0.2]),
        top_k: Some(2),
        calibration_bins: 10,
    })
    .unwrap();
    let table = r.to_string();
    use unicode_width::UnicodeWidthStr;
    let lines: Vec<&str> = table.lines().collect();
    // Per-class rows and the header have the same display width.
    let header = lines.iter().position(|l| l.starts_with("label")).unwrap();
    let w = lines[header].width();
    for l in &lines[header + 1..header + 6] {
        assert_eq!(l.width(), w, "{l:?}\n{table}");
    }
    // Confusion matrix rows share one width too.
    let cm = lines
        .iter()
        .position(|l| l.starts_with("confusion"))
        .unwrap();
    let w = lines[cm + 1].width();
    for l in &lines[cm + 2..cm + 5] {
        assert_eq!(l.width(), w, "{l:?}\n{table}");
    }
    assert!(lines[0].contains("accuracy 0.7500"), "{}", lines[0]);
    let json: Value = serde_json::from_str(&r.to_json()).unwrap();
    assert_eq!(json["n"], 4);
    assert_eq!(json["labels"][1], "IT・科学");
    assert_eq!(json["per_class"][2]["support"], 2);
    assert_eq!(json["confusion_matrix"][2][0], 1);
    assert_eq!(json["top_k"]["k"], 2);
    assert_eq!(json["calibration"]["bins"].as_array().unwrap().len(), 10);
    let dir = common::scratch("metrics");
    let path = dir.path().join("metrics.json");
    r.write_json(&path).unwrap();
    let back: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    assert_eq!(back, json);
}

#[test]
fn slice_scores_by_hand() {
    let labels = names(3);
    let y_true = [0, 0, 1, 1, 2, 2];
    let y_pred = [0, 1, 1, 1, 2, 0];
    // Members 0, 1, 5: true 0 0 2, pred 0 1 0. Class 0: P 1/2 R 1/2 F1 1/2; class 1: no
    // support, F1 0; class 2: never predicted, F1 0 -> macro over 3 present classes = 1/6.
    let s = SliceMetrics::of("kind", "a", &y_true, &y_pred, &[0, 1, 5], &labels)
        .unwrap()
        .unwrap();
    assert_eq!((s.by.as_str(), s.value.as_str(), s.n), ("kind", "a", 3));
    close(s.accuracy, 1.0 / 3.0, "slice accuracy");
    close(s.macro_f1, 0.5 / 3.0, "slice macro-F1");
    assert!(
        SliceMetrics::of("kind", "b", &y_true, &y_pred, &[], &labels)
            .unwrap()
            .is_none()
    );
}
