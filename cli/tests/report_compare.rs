//! End to end: `tokken-cli eval --report/--json/--slice-by/--top-k`, `tokken-cli compare`
//! and `tokken-cli experiment few-shot` on the tiny-BERT fixture model.

use std::path::{Path, PathBuf};

mod common;
use common::{check, cli, scratch, tiny_dir};

/// Labelled data over the fixture's labels, with a `kind` field and a text needing escaping.
fn data(dir: &Path) -> PathBuf {
    let path = dir.join("data.jsonl");
    let rows = [
        ("すぽーつのしあい", "スポーツ", "boundary"),
        ("けいざいがよい<b>", "経済", "very_short"),
        ("えいがをみる", "映画", "boundary"),
        ("サッカー", "スポーツ", "omitted_subject"),
        (
            "かぶかがあがる、えんやすがつづくみとおし",
            "経済",
            "boundary",
        ),
        (
            "あたらしいえいががこうかいされ、はくしゅがなりやまない",
            "映画",
            "very_short",
        ),
    ];
    let text: String = rows
        .iter()
        .map(|(t, l, k)| {
            format!(
                "{}\n",
                serde_json::json!({"text": t, "label": l, "kind": k})
            )
        })
        .collect();
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn eval_writes_html_report_and_full_json() {
    let tmp = scratch("eval-report");
    let dir = tmp.path();
    let data = data(dir);
    let (html, json) = (dir.join("report.html"), dir.join("report.json"));
    let model = tiny_dir();
    let out = cli(&[
        "eval",
        "--model",
        model.to_str().unwrap(),
        "--data",
        data.to_str().unwrap(),
        "--report",
        html.to_str().unwrap(),
        "--json",
        json.to_str().unwrap(),
        "--slice-by",
        "kind",
        "--top-k",
        "2",
    ]);
    let Some(_) = check(&out) else { return };
    let page = std::fs::read_to_string(&html).unwrap();
    for id in [
        "confusion-matrix",
        "per-class-bars",
        "reliability-diagram",
        "slices",
        "misclassified",
    ] {
        assert!(page.contains(&format!("id=\"{id}\"")), "report lacks #{id}");
    }
    assert!(!page.contains("<b>") && !page.contains("https://"));
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert_eq!(v["n"], 6);
    assert_eq!(v["top_k"]["k"], 2);
    let wrong = v["misclassified_total"].as_u64().unwrap() as usize;
    assert_eq!(v["misclassified"].as_array().unwrap().len(), wrong);
    let correct = (v["accuracy"].as_f64().unwrap() * 6.0).round() as usize;
    assert_eq!(correct + wrong, 6);
    let kinds: Vec<&str> = v["slices"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["by"] == "kind")
        .map(|s| s["value"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["boundary", "omitted_subject", "very_short"]);
}

#[test]
fn compare_a_model_with_itself_finds_no_difference() {
    let tmp = scratch("compare");
    let dir = tmp.path();
    let data = data(dir);
    let json = dir.join("compare.json");
    let model = tiny_dir();
    let m = model.to_str().unwrap();
    let out = cli(&[
        "compare",
        m,
        m,
        "--data",
        data.to_str().unwrap(),
        "--slice-by",
        "kind",
        "--json",
        json.to_str().unwrap(),
    ]);
    let Some(stdout) = check(&out) else { return };
    assert!(
        stdout.contains("McNemar") && stdout.contains("kind boundary"),
        "{stdout}"
    );
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert_eq!(v["n"], 6);
    assert_eq!(v["mcnemar"]["b"], 0);
    assert_eq!(v["mcnemar"]["c"], 0);
    assert_eq!(v["mcnemar"]["p_value"], 1.0);
    assert_eq!(v["accuracy_a"], v["accuracy_b"]);
}

#[test]
fn experiment_few_shot_writes_the_table() {
    let tmp = scratch("few-shot");
    let dir = tmp.path();
    let data = data(dir);
    let out_dir = dir.join("exp");
    let model = tiny_dir();
    let args = [
        "experiment",
        "few-shot",
        "--model",
        model.to_str().unwrap(),
        "--pool",
        data.to_str().unwrap(),
        "--test",
        data.to_str().unwrap(),
        "--shots",
        "1",
        "--per-class",
        "--seeds",
        "2",
        "--modes",
        "head,lora",
        "--max-steps",
        "2",
        "--batch-size",
        "2",
        "--max-length",
        "16",
        "--out",
        out_dir.to_str().unwrap(),
    ];
    let out = cli(&args);
    let Some(stdout) = check(&out) else { return };
    assert!(
        stdout.contains("| head | 2 |") && stdout.contains("| lora | 2 |"),
        "{stdout}"
    );
    let v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out_dir.join("results.json")).unwrap()).unwrap();
    assert_eq!(v["cells"].as_array().unwrap().len(), 4);
    // A rerun finds every cell done.
    let again = cli(&args);
    assert!(again.status.success());
    let stderr = String::from_utf8(again.stderr).unwrap();
    assert_eq!(stderr.matches("done before").count(), 4, "{stderr}");
}
