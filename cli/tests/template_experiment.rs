//! End to end with templates, the main-job recipe scaled down: a character vocabulary from a
//! few dozen bundled headlines, `tokken-cli init --config tiny`, then
//! `tokken-cli experiment templates` over `none`, `cot-ja` and a template file with 2 seeds
//! (table, results.json, resume), and `predict` on a kept run dir (the stored template is
//! applied; a different `--template` is refused).

use std::path::Path;

mod common;
use common::{check, cli, repo, s, scratch, tiny_model};

/// The first `n` bundled headlines of `split` whose label is in `labels`.
fn headlines(split: &str, labels: &[&str], n: usize, out: &Path) {
    let text = std::fs::read_to_string(repo().join(format!("data/headlines/{split}.jsonl")))
        .expect("bundled headlines");
    let rows: Vec<&str> = text
        .lines()
        .filter(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            labels.contains(&v["label"].as_str().unwrap())
        })
        .take(n)
        .collect();
    std::fs::write(out, rows.join("\n") + "\n").unwrap();
}

#[test]
fn experiment_templates_on_a_tiny_model_then_predict_with_the_stored_template() {
    let tmp = scratch("templates");
    let dir = tmp.path();
    let labels = ["スポーツ", "経済", "エンタメ"];
    let (train, eval) = (dir.join("train.jsonl"), dir.join("eval.jsonl"));
    headlines("train", &labels, 36, &train);
    headlines("dev", &labels, 18, &eval);
    let Some(model) = tiny_model(dir, &train, &["--num-labels", "3", "--seed", "0"]) else {
        return;
    };
    let file = dir.join("short-steps.json");
    std::fs::write(
        &file,
        r#"{"name": "short", "mode": "prefix", "template": "分類せよ：{text}"}"#,
    )
    .unwrap();
    let exp = dir.join("exp");
    let templates = format!("none,cot-ja,{}", file.display());
    let args = [
        "experiment",
        "templates",
        "--model",
        s(&model),
        "--train",
        s(&train),
        "--eval",
        s(&eval),
        "--templates",
        &templates,
        "--seeds",
        "2",
        "--mode",
        "full",
        "--lr",
        "3e-3",
        "--epochs",
        "2",
        "--batch-size",
        "12",
        "--max-length",
        "48",
        "--keep-runs",
        "--out",
        s(&exp),
    ];
    let out = cli(&args);
    let Some(stdout) = check(&out) else { return };
    for row in [
        "| none | prefix | 2 |",
        "| cot-ja | pair | 2 |",
        "| short | prefix | 2 |",
    ] {
        assert!(stdout.contains(row), "{row} in {stdout}");
    }
    let v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(exp.join("results.json")).unwrap()).unwrap();
    assert_eq!(v["cells"].as_array().unwrap().len(), 6);
    assert_eq!(v["train_examples"], 36);
    assert_eq!(v["test_examples"], 18);
    for m in v["summary"].as_array().unwrap() {
        let (mean, std) = (
            m["accuracy_mean"].as_f64().unwrap(),
            m["accuracy_std"].as_f64().unwrap(),
        );
        assert!((0.0..=1.0).contains(&mean) && std >= 0.0, "{m}");
        // Same budget: 2 epochs of 3 batches per cell.
    }
    for c in v["cells"].as_array().unwrap() {
        assert_eq!(c["steps"], 6, "{c}");
    }
    assert!(exp.join("results.md").is_file());

    // A rerun finds every cell done.
    let again = cli(&args);
    assert!(again.status.success());
    let stderr = String::from_utf8(again.stderr).unwrap();
    assert_eq!(stderr.matches("done before").count(), 6, "{stderr}");

    // The kept cot-ja run dir predicts with its stored template; another one is refused.
    let run = exp.join("seed-0/cot-ja-run");
    let stored = std::fs::read_to_string(run.join("template.json")).unwrap();
    assert!(stored.contains("\"mode\":\"pair\"") || stored.contains("\"mode\": \"pair\""));
    let out = cli(&["predict", "--model", s(&run), "首相、会見へ"]);
    check(&out).unwrap();
    let line: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(labels.contains(&line["label"].as_str().unwrap()), "{line}");
    let out = cli(&[
        "predict",
        "--model",
        s(&run),
        "--template",
        s(&file),
        "首相、会見へ",
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("trained with template `cot-ja`"), "{err}");
    // A merged model keeps the template: same prediction as the run dir.
    let merged = dir.join("merged");
    check(&cli(&["merge", s(&run), "--out", s(&merged)])).unwrap();
    assert!(merged.join("template.json").is_file());
    let again = cli(&["predict", "--model", s(&merged), "首相、会見へ"]);
    check(&again).unwrap();
    let merged_line: serde_json::Value = serde_json::from_slice(&again.stdout).unwrap();
    assert_eq!(merged_line["label"], line["label"]);
    let (a, b) = (
        line["score"].as_f64().unwrap(),
        merged_line["score"].as_f64().unwrap(),
    );
    assert!((a - b).abs() < 1e-5, "{a} vs {b}");
    let out = cli(&[
        "eval",
        "--model",
        s(&run),
        "--data",
        s(&eval),
        "--template",
        "cot-ja",
    ]);
    check(&out).unwrap();
}
