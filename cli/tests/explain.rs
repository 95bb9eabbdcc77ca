//! End to end: `tokken-cli explain` on the tiny-BERT fixture model (JSON, terminal, HTML,
//! the shortcut report, errors).

use std::process::Output;

mod common;
use common::{check, command, no_dictionary, on_tiny, read_json, scratch, tiny_dir};

fn explain(args: &[&str]) -> Output {
    on_tiny("explain", args)
}

#[test]
fn json_has_tokens_offsets_probs_and_ig_completeness() {
    let text = "けいざいのニュース";
    let Some(stdout) = check(&explain(&[text, "えいが", "--format", "json"])) else {
        return;
    };
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 2, "one JSON object per text");
    let e: serde_json::Value = serde_json::from_str(lines[0]).unwrap();
    assert_eq!(e["text"], text);
    assert_eq!(e["method"], "ig");
    let probs: f64 = e["probs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_f64().unwrap())
        .sum();
    assert!((probs - 1.0).abs() < 1e-4);
    assert_eq!(e["class"], e["predicted"]);
    let tokens = e["tokens"].as_array().unwrap();
    assert_eq!(tokens.first().unwrap()["token"], "[CLS]");
    assert_eq!(tokens.last().unwrap()["token"], "[SEP]");
    // every real token's offsets point at its characters in the original text
    let chars: Vec<char> = text.chars().collect();
    for t in tokens.iter().filter(|t| t["special"] == false) {
        let (s, end) = (
            t["start"].as_u64().unwrap() as usize,
            t["end"].as_u64().unwrap() as usize,
        );
        let span: String = chars[s..end].iter().collect();
        let tok = t["token"].as_str().unwrap();
        assert!(tok == span || tok == "[UNK]", "{tok} vs {span}");
    }
    let ig = &e["integrated_gradients"];
    assert_eq!(ig["steps"], 64);
    assert_eq!(ig["baseline"], "pad");
    let sum: f64 = tokens.iter().map(|t| t["score"].as_f64().unwrap()).sum();
    let want = ig["input_logit"].as_f64().unwrap() - ig["baseline_logit"].as_f64().unwrap();
    assert!(ig["relative_delta"].as_f64().unwrap() < 0.01);
    assert!(
        (sum - want).abs() <= 0.01 * want.abs() + 1e-5,
        "{sum} vs {want}"
    );
    let spans: String = e["spans"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["text"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(spans, text);
}

#[test]
fn other_methods_classes_and_terminal_views() {
    let Some(stdout) = check(&explain(&[
        "えいがをみる",
        "--method",
        "attention",
        "--format",
        "json",
    ])) else {
        return;
    };
    let e: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    // character subwords, grouped into MeCab's words (えいが / を / みる)
    let words: Vec<&str> = e["words"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["text"].as_str().unwrap())
        .collect();
    assert_eq!(words, ["えいが", "を", "みる"]);
    let word_sum: f64 = e["words"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["score"].as_f64().unwrap())
        .sum();
    let token_sum: f64 = e["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["special"] == false)
        .map(|t| t["score"].as_f64().unwrap())
        .sum();
    assert!((word_sum - token_sum).abs() < 1e-5);
    let w = &e["attention"]["weights"];
    assert_eq!(w.as_array().unwrap().len(), 2, "one entry per layer");
    assert_eq!(w[0].as_array().unwrap().len(), 4, "one entry per head");
    assert!(e.get("integrated_gradients").is_none());

    let stdout = check(&explain(&[
        "えいがをみる",
        "--method",
        "grad-input",
        "--class",
        "映画",
        "--color",
        "never",
    ]))
    .unwrap();
    assert!(
        stdout.contains("explaining 映画 · method grad-input"),
        "{stdout}"
    );
    assert!(stdout.contains("[え "), "{stdout}");
    assert!(!stdout.contains('\x1b'));

    let stdout = check(&explain(&[
        "えいがをみる",
        "--color",
        "always",
        "--steps",
        "8",
    ]))
    .unwrap();
    assert!(stdout.contains("\x1b[38;2;0;0;0;48;2;"), "{stdout}");
    assert!(stdout.contains("8 steps, pad baseline"));

    let bad = explain(&["えいが", "--class", "天気"]);
    if !no_dictionary(&bad) {
        assert!(!bad.status.success());
        let err = String::from_utf8_lossy(&bad.stderr);
        assert!(err.contains("天気") && err.contains("映画"), "{err}");
    }
}

#[test]
fn html_view_is_self_contained_and_shows_every_token() {
    let tmp = scratch("html");
    let dir = tmp.path();
    let page = dir.join("explain.html");
    let text = "すぽーつ<と>えいが";
    let Some(_) = check(&explain(&[
        text,
        "--format",
        "html",
        "--steps",
        "16",
        "--out",
        page.to_str().unwrap(),
    ])) else {
        return;
    };
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>") && html.trim_end().ends_with("</html>"));
    assert!(!html.contains("<script") && !html.contains("http://") && !html.contains("https://"));
    assert!(html.contains("&lt;と&gt;") || html.contains("&lt;</span>"));
    // every character of the text is inside a shaded span
    let shaded = html.matches("class=\"tok\"").count();
    assert_eq!(shaded, text.chars().count());
    assert_eq!(
        html.matches("<span").count(),
        html.matches("</span>").count()
    );
    assert!(!dir.join("explain.html.tmp").exists());
}

#[test]
fn shortcut_report_json_and_html() {
    let tmp = scratch("report");
    let dir = tmp.path();
    let data = dir.join("dev.jsonl");
    std::fs::write(
        &data,
        "{\"text\": \"すぽーつのしあい\", \"label\": \"スポーツ\"}\n\
         {\"text\": \"けいざいがよい\", \"label\": \"経済\"}\n\
         {\"text\": \"えいがをみる\", \"label\": \"映画\"}\n\
         {\"text\": \"かぶかがあがる\", \"label\": \"経済\"}\n\
         {\"text\": \"えいががすき\", \"label\": \"映画\"}\n",
    )
    .unwrap();
    let json = dir.join("report.json");
    let Some(_) = check(&explain(&[
        "--report",
        "--input",
        data.to_str().unwrap(),
        "--steps",
        "8",
        "--out",
        json.to_str().unwrap(),
    ])) else {
        return;
    };
    let r = read_json(&json);
    assert_eq!(r["n"], 5);
    let classes = r["classes"].as_array().unwrap();
    assert_eq!(classes.len(), 3);
    let predicted: u64 = classes
        .iter()
        .map(|c| c["n_predicted"].as_u64().unwrap())
        .sum();
    assert_eq!(predicted, 5);
    let wrong: u64 = classes.iter().map(|c| c["n_wrong"].as_u64().unwrap()).sum();
    let acc = r["accuracy"].as_f64().unwrap();
    assert_eq!(wrong, 5 - (acc * 5.0).round() as u64);
    // every listed word's counts add up to at most the class's predictions
    for c in classes {
        for w in c["top_words"].as_array().unwrap() {
            let n = w["n_correct"].as_u64().unwrap() + w["n_wrong"].as_u64().unwrap();
            assert!(n >= 1 && n <= c["n_predicted"].as_u64().unwrap());
        }
        for w in c["shortcuts"].as_array().unwrap() {
            assert!(w["n_wrong"].as_u64().unwrap() >= 1);
            assert!(!w["examples"].as_array().unwrap().is_empty());
        }
    }

    let html = dir.join("report.html");
    check(&explain(&[
        "--report",
        "--input",
        data.to_str().unwrap(),
        "--steps",
        "8",
        "--out",
        html.to_str().unwrap(),
    ]))
    .unwrap();
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.starts_with("<!DOCTYPE html>") && page.contains("Shortcut report"));
    assert!(page.contains("predicted スポーツ") && page.contains("predicted 経済"));

    // `--report` on `contents` must fail; its stderr
    let report_error = |contents: &str| {
        std::fs::write(&data, contents).unwrap();
        let bad = explain(&[
            "--report",
            "--input",
            data.to_str().unwrap(),
            "--steps",
            "4",
        ]);
        assert!(!bad.status.success());
        String::from_utf8_lossy(&bad.stderr).into_owned()
    };

    // a label the model does not know names the file and line
    let err = report_error(
        "{\"text\": \"えいが\", \"label\": \"映画\"}\n{\"text\": \"あ\", \"label\": \"天気\"}\n",
    );
    assert!(err.contains("dev.jsonl:2") && err.contains("天気"), "{err}");

    // a text pair is refused, not silently explained without its second text
    let err =
        report_error("{\"text\": \"えいが\", \"text_pair\": \"みる\", \"label\": \"映画\"}\n");
    assert!(
        err.contains("dev.jsonl:1") && err.contains("pairs"),
        "{err}"
    );
}

#[test]
fn a_templated_run_is_refused() {
    let (_tmp, model) = tiny_copy_with(
        "template",
        "template.json",
        r#"{"name": "cot-x", "mode": "pair", "steps": "まずかんがえる"}"#,
    );
    let err = explain_refused(&model);
    assert!(err.contains("template `cot-x`"), "{err}");
}

#[test]
fn a_hierarchical_run_is_refused() {
    let (_tmp, model) = tiny_copy_with("hierarchy", "hierarchy.json", r#"{"a": ["b"], "c": []}"#);
    let err = explain_refused(&model);
    assert!(err.contains("hierarchical"), "{err}");
}

/// Runs `explain --model MODEL えいが`, asserts it fails and returns its stderr.
fn explain_refused(model: &std::path::Path) -> String {
    let out = command()
        .args(["explain", "--model"])
        .arg(model)
        .arg("えいが")
        .output()
        .unwrap();
    assert!(!out.status.success());
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A copy of the tiny fixture model with one extra run file, in a scratch dir removed when
/// the returned guard drops.
fn tiny_copy_with(
    name: &str,
    file: &str,
    contents: &str,
) -> (tempfile::TempDir, std::path::PathBuf) {
    let tmp = scratch(name);
    let model = tmp.path().join("model");
    std::fs::create_dir_all(&model).unwrap();
    for f in std::fs::read_dir(tiny_dir()).unwrap() {
        let f = f.unwrap().path();
        std::fs::copy(&f, model.join(f.file_name().unwrap())).unwrap();
    }
    std::fs::write(model.join(file), contents).unwrap();
    (tmp, model)
}
