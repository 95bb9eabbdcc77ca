//! End to end on the bundled headlines (data/headlines, data/hierarchy.json): a tiny model
//! with a character vocabulary is fine-tuned briefly with `--hierarchy` and with
//! `--multi-label`; every prediction must be a path of the tree / a label set at the saved
//! thresholds, and `eval` must report per-level / multi-label metrics (JSON and HTML).
//! Also: a data label that is not a path of the tree fails naming file:line, `merge`
//! refuses a hierarchical run and keeps a multi-label run's thresholds.

use std::path::{Path, PathBuf};
use std::process::Output;

mod common;
use common::{command, json_lines, read_json, repo, s, scratch};
use serde_json::Value;

/// tokken-cli on two threads.
fn cli(args: &[&str]) -> Output {
    command()
        .args(args)
        .env("TOKKEN_THREADS", "2")
        .output()
        .expect("tokken-cli runs")
}

fn ok(args: &[&str]) -> String {
    let out = cli(args);
    assert!(
        out.status.success(),
        "tokken-cli {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// A tiny random model over a character vocabulary of the training texts.
fn tiny_model(dir: &Path) -> PathBuf {
    let train = repo().join("data/headlines/train.jsonl");
    common::tiny_model(dir, &train, &[]).expect("a tiny model")
}

fn finetune(model: &Path, out: &Path, extra: &[&str]) {
    let data = repo().join("data/headlines");
    let (train, dev) = (data.join("train.jsonl"), data.join("dev.jsonl"));
    let mut args = vec![
        "finetune",
        "--model",
        s(model),
        "--train",
        s(&train),
        "--eval",
        s(&dev),
        "--mode",
        "full",
        "--epochs",
        "8",
        "--batch-size",
        "32",
        "--lr",
        "3e-3",
        "--max-length",
        "40",
        "--out",
        s(out),
        "--quiet",
    ];
    args.extend_from_slice(extra);
    ok(&args);
}

/// `eval` of `run` on `data` with `--json` and `--report` into `dir`: stdout, the JSON, the
/// HTML page.
fn eval_reports(run: &Path, data: &Path, dir: &Path) -> (String, Value, String) {
    let (json, html) = (dir.join("eval.json"), dir.join("eval.html"));
    let stdout = ok(&[
        "eval",
        "--model",
        s(run),
        "--data",
        s(data),
        "--json",
        s(&json),
        "--report",
        s(&html),
    ]);
    let page = std::fs::read_to_string(&html).unwrap();
    (stdout, read_json(&json), page)
}

#[test]
fn hierarchical_run_predicts_tree_paths_and_reports_levels() {
    let tmp = scratch("tree");
    let dir = tmp.path();
    let model = tiny_model(dir);
    let run = dir.join("run");
    let tree = repo().join("data/hierarchy.json");
    finetune(
        &model,
        &run,
        &["--hierarchy", s(&tree), "--level-weights", "1,0.5"],
    );

    // labels.json lists the nodes level by level; hierarchy.json is saved with the run
    let labels: Vec<String> =
        serde_json::from_value(read_json(&run.join("labels.json"))["labels"].clone()).unwrap();
    assert_eq!(
        &labels[..5],
        ["国内", "国際", "スポーツ", "IT・科学", "エンタメ"]
    );
    assert_eq!(labels.len(), 11);
    assert!(run.join("hierarchy.json").is_file());
    let leaves: Vec<&str> = labels
        .iter()
        .map(String::as_str)
        .filter(|l| !labels.iter().any(|o| o.starts_with(&format!("{l}/"))))
        .collect();
    assert_eq!(leaves.len(), 9);

    // every prediction is a leaf path whose levels are its ancestors; score = Π level probs
    let test = repo().join("data/headlines/test.jsonl");
    let preds = json_lines(&ok(&["predict", "--model", s(&run), "--input", s(&test)]));
    assert_eq!(preds.len(), 176);
    for p in &preds {
        let path = p["path"].as_str().unwrap();
        assert!(leaves.contains(&path), "{path} is not a leaf path");
        assert_eq!(p["label"], p["path"]);
        let levels = p["levels"].as_array().unwrap();
        let parts: Vec<&str> = path.split('/').collect();
        assert_eq!(levels.len(), parts.len());
        let mut product = 1.0;
        for (d, l) in levels.iter().enumerate() {
            assert_eq!(l["level"], d + 1);
            assert_eq!(l["path"].as_str().unwrap(), parts[..=d].join("/"));
            product *= l["prob"].as_f64().unwrap();
        }
        let score = p["score"].as_f64().unwrap();
        assert!((score - product).abs() < 1e-5, "{score} vs {product}");
        let probs = p["probs"].as_object().unwrap();
        assert_eq!(probs.len(), 9);
        let sum: f64 = probs.values().map(|v| v.as_f64().unwrap()).sum();
        assert!(
            (sum - 1.0).abs() < 1e-4,
            "leaf path probabilities sum to {sum}"
        );
        let best = probs
            .values()
            .map(|v| v.as_f64().unwrap())
            .fold(0.0, f64::max);
        assert_eq!(score, best, "the prediction is the most probable path");
    }

    // eval: per-level metrics in the text, the JSON and the HTML report
    let (stdout, m, page) = eval_reports(&run, &test, dir);
    assert!(stdout.contains("level 2:"), "{stdout}");
    let h = &m["hierarchy"];
    let levels = h["levels"].as_array().unwrap();
    assert_eq!(levels.len(), 2);
    assert_eq!(levels[0]["n"], 176);
    // test rows under 国内 / 国際 reach level 2
    let deep = std::fs::read_to_string(&test)
        .unwrap()
        .lines()
        .filter(|l| l.contains("\"path\": \"国内/") || l.contains("\"path\": \"国際/"))
        .count();
    assert_eq!(levels[1]["n"], deep);
    assert_eq!(h["exact_path_accuracy"], m["accuracy"]);
    for k in [
        "hierarchical_precision",
        "hierarchical_recall",
        "hierarchical_f1",
    ] {
        let v = h[k].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&v), "{k} {v}");
    }
    // above chance (9 paths): the head learns something in 8 short epochs
    let l1 = levels[0]["accuracy"].as_f64().unwrap();
    println!(
        "hierarchy, tiny model 8 epochs: level-1 accuracy {l1:.3}, exact path {:.3}, hF1 {:.3}",
        h["exact_path_accuracy"].as_f64().unwrap(),
        h["hierarchical_f1"].as_f64().unwrap()
    );
    assert!(l1 > 0.3, "level-1 accuracy {l1}");
    assert!(page.contains("<h2>Hierarchy</h2>") && page.contains("id=\"levels\""));

    // merge cannot express per-level softmaxes as a plain BertForSequenceClassification
    let out = cli(&["merge", s(&run), "--out", s(&dir.join("merged"))]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("hierarchical run"));
}

#[test]
fn a_label_outside_the_tree_names_file_and_line() {
    let tmp = scratch("badpath");
    let dir = tmp.path();
    let data = dir.join("train.jsonl");
    std::fs::write(
        &data,
        "{\"text\": \"日銀が利上げ\", \"path\": \"国内/経済\"}\n\
         {\"text\": \"首相、会見へ\", \"path\": \"国内\"}\n\
         {\"text\": \"停戦合意\", \"path\": \"国際/紛争\"}\n",
    )
    .unwrap();
    let tree = repo().join("data/hierarchy.json");
    let out = cli(&[
        "finetune",
        "--model",
        s(&common::tiny_dir()),
        "--train",
        s(&data),
        "--hierarchy",
        s(&tree),
        "--out",
        s(&dir.join("run")),
        "--quiet",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains(&format!("{}:2:", data.display())) && stderr.contains("inner node"),
        "{stderr}"
    );
}

#[test]
fn multi_label_run_predicts_label_sets_at_its_thresholds() {
    let tmp = scratch("multi");
    let dir = tmp.path();
    let model = tiny_model(dir);
    let run = dir.join("run");
    finetune(&model, &run, &["--multi-label"]);

    let labels: Vec<String> =
        serde_json::from_value(read_json(&run.join("labels.json"))["labels"].clone()).unwrap();
    let t = read_json(&run.join("thresholds.json"));
    assert_eq!(t["labels"], serde_json::json!(labels));
    let thresholds: Vec<f64> = serde_json::from_value(t["thresholds"].clone()).unwrap();
    assert_eq!(thresholds.len(), labels.len());
    assert!(thresholds.iter().all(|t| (0.0..=1.0).contains(t)));

    // the label set is exactly the labels at or above their thresholds
    let test = repo().join("data/headlines/test.jsonl");
    let preds = json_lines(&ok(&["predict", "--model", s(&run), "--input", s(&test)]));
    assert_eq!(preds.len(), 176);
    for p in &preds {
        let set: Vec<&str> = p["labels"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["label"].as_str().unwrap())
            .collect();
        for (l, th) in labels.iter().zip(&thresholds) {
            let prob = p["probs"][l].as_f64().unwrap();
            assert!((0.0..=1.0).contains(&prob));
            let chosen = prob as f32 >= *th as f32;
            assert_eq!(set.contains(&l.as_str()), chosen, "{l}: {prob} vs {th}");
        }
    }

    // eval: subset accuracy, Hamming loss, micro / macro F1 with the saved thresholds
    let (stdout, m, page) = eval_reports(&run, &test, dir);
    assert!(stdout.contains("Hamming loss"), "{stdout}");
    let ml = &m["multi_label"];
    assert_eq!(ml["thresholds_from"], "thresholds.json");
    assert_eq!(ml["subset_accuracy"], m["accuracy"]);
    assert_eq!(ml["micro_f1"], m["micro_f1"]);
    let hamming = ml["hamming_loss"].as_f64().unwrap();
    assert!((0.0..1.0).contains(&hamming), "{hamming}");
    println!(
        "multi-label, tiny model 8 epochs: micro-F1 {:.3}, macro-F1 {:.3}, subset accuracy {:.3}, Hamming {hamming:.3}",
        ml["micro_f1"].as_f64().unwrap(),
        ml["macro_f1"].as_f64().unwrap(),
        ml["subset_accuracy"].as_f64().unwrap()
    );
    assert!(page.contains("<h2>Multi-label</h2>") && page.contains("id=\"thresholds\""));

    // merge keeps the thresholds: the merged model predicts the same label sets
    let merged = dir.join("merged");
    ok(&["merge", s(&run), "--out", s(&merged)]);
    assert!(merged.join("thresholds.json").is_file());
    let again = json_lines(&ok(&[
        "predict",
        "--model",
        s(&merged),
        "--input",
        s(&test),
    ]));
    for (a, b) in preds.iter().zip(&again) {
        assert_eq!(a["labels"], b["labels"]);
    }
}
