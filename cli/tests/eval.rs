//! End to end: `tokken-cli eval` on the tiny-BERT fixture model.

use std::path::Path;
use std::process::Output;

mod common;
use common::{check, command, no_dictionary, on_tiny, read_json, scratch, tiny_dir};

fn eval(args: &[&str]) -> Output {
    on_tiny("eval", args)
}

#[test]
fn eval_prints_metrics_and_writes_json() {
    let tmp = scratch("metrics");
    let dir = tmp.path();
    let data = dir.join("data.jsonl");
    std::fs::write(
        &data,
        "{\"text\": \"すぽーつのしあい\", \"label\": \"スポーツ\"}\n\
         {\"text\": \"けいざいがよい\", \"label\": \"経済\"}\n\
         {\"text\": \"えいがをみる\", \"label\": \"映画\"}\n\
         {\"text\": \"サッカー\", \"label\": \"スポーツ\"}\n\
         {\"text\": \"かぶかがあがる\", \"label\": \"経済\"}\n",
    )
    .unwrap();
    let json = dir.join("metrics.json");
    let out = eval(&[
        "--data",
        data.to_str().unwrap(),
        "--json",
        json.to_str().unwrap(),
        "--misclassified",
        "10",
    ]);
    let Some(stdout) = check(&out) else { return };
    for want in [
        "accuracy",
        "macro-F1",
        "top-2",
        "ECE",
        "precision  recall",
        "confusion matrix",
        "経済",
        "スポーツ",
        "映画",
        "length ≤ 10",
    ] {
        assert!(stdout.contains(want), "missing {want:?} in\n{stdout}");
    }
    let m = read_json(&json);
    assert_eq!(m["n"], 5);
    assert_eq!(m["labels"], serde_json::json!(["経済", "スポーツ", "映画"]));
    let cm: u64 = m["confusion_matrix"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| r.as_array().unwrap().iter().map(|v| v.as_u64().unwrap()))
        .sum();
    assert_eq!(cm, 5);
    let support: Vec<u64> = m["per_class"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["support"].as_u64().unwrap())
        .collect();
    assert_eq!(support, vec![2, 2, 1]);
    // The misclassified list has exactly the wrong predictions.
    let acc = m["accuracy"].as_f64().unwrap();
    let wrong = stdout
        .lines()
        .filter(|l| l.contains(" -> predicted "))
        .count();
    assert_eq!(wrong, 5 - (acc * 5.0).round() as usize);
}

#[test]
fn eval_reads_csv_with_custom_columns() {
    let tmp = scratch("csv");
    let dir = tmp.path();
    let data = dir.join("data.csv");
    std::fs::write(&data, "headline,cat\nあいう,経済\nかきく,映画\n").unwrap();
    let out = eval(&[
        "--data",
        data.to_str().unwrap(),
        "--text-field",
        "headline",
        "--label-field",
        "cat",
        "--top-k",
        "3",
    ]);
    let Some(stdout) = check(&out) else { return };
    assert!(stdout.contains("n 2 "), "{stdout}");
    assert!(stdout.contains("top-3 1.0000"), "{stdout}");
}

#[test]
fn eval_names_unknown_labels_and_bad_lines() {
    let tmp = scratch("unknown");
    let dir = tmp.path();
    let data = dir.join("unknown.jsonl");
    std::fs::write(
        &data,
        "{\"text\": \"あ\", \"label\": \"経済\"}\n{\"text\": \"い\", \"label\": \"天気\"}\n",
    )
    .unwrap();
    let out = eval(&["--data", data.to_str().unwrap()]);
    if no_dictionary(&out) {
        return;
    }
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!(
            "{}:2: label \"天気\" is not one of the 3 known labels",
            data.display()
        )),
        "{stderr}"
    );
    let bad = dir.join("bad.jsonl");
    std::fs::write(
        &bad,
        "{\"text\": \"あ\", \"label\": \"経済\"}\n{\"label\": \"経済\"}\n",
    )
    .unwrap();
    let out = eval(&["--data", bad.to_str().unwrap()]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!(
            "{}:2: expected a string field \"text\"",
            bad.display()
        )),
        "{stderr}"
    );
}

#[test]
fn eval_accepts_a_lora_run_dir() {
    // A run dir: the PEFT-made tiny adapter, the tokenizer files and labels.json; its base
    // (tiny-bert) named by absolute path.
    let tmp = scratch("lora");
    let dir = tmp.path().join("run");
    std::fs::create_dir_all(&dir).unwrap();
    let fixtures = common::repo().join("model/tests/fixtures");
    std::fs::copy(
        fixtures.join("peft-tiny-adapter/adapter_model.safetensors"),
        dir.join("adapter_model.safetensors"),
    )
    .unwrap();
    let mut config: serde_json::Value = serde_json::from_slice(
        &std::fs::read(fixtures.join("peft-tiny-adapter/adapter_config.json")).unwrap(),
    )
    .unwrap();
    let base = tiny_dir().canonicalize().unwrap();
    config["base_model_name_or_path"] = base.display().to_string().into();
    std::fs::write(dir.join("adapter_config.json"), config.to_string()).unwrap();
    for f in ["vocab.txt", "tokenizer_config.json"] {
        std::fs::copy(base.join(f), dir.join(f)).unwrap();
    }
    std::fs::write(
        dir.join("labels.json"),
        r#"{"labels": ["経済", "スポーツ", "映画"]}"#,
    )
    .unwrap();
    let data = tmp.path().join("run-data.jsonl");
    std::fs::write(
        &data,
        "{\"text\": \"すぽーつのしあい\", \"label\": \"スポーツ\"}\n\
         {\"text\": \"けいざいがよい\", \"label\": \"経済\"}\n\
         {\"text\": \"えいがをみる\", \"label\": \"映画\"}\n",
    )
    .unwrap();
    let run = |model: &Path, json: &Path| {
        command()
            .args(["eval", "--model"])
            .arg(model)
            .arg("--data")
            .arg(&data)
            .arg("--json")
            .arg(json)
            .output()
            .expect("tokken-cli runs")
    };
    let run_json = tmp.path().join("run-metrics.json");
    let Some(_) = check(&run(&dir, &run_json)) else {
        return;
    };
    let base_json = tmp.path().join("base-metrics.json");
    assert!(run(&base, &base_json).status.success());
    let (with_adapter, without) = (read_json(&run_json), read_json(&base_json));
    assert_eq!(with_adapter["n"], 3);
    // The adapter changes the probabilities (PEFT's logits differ from the base by ~1).
    assert_ne!(
        with_adapter["calibration"], without["calibration"],
        "the adapter was applied"
    );
}
