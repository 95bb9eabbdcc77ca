//! End to end: `vocab build` → `init` → `finetune` on deliberately skewed headlines (a gender
//! term perfectly correlated with the class), once plain and once with
//! `--augment-counterfactual --group-weights`; `bias --fail-above` fails the first and passes
//! the second; `eval` and `predict` with `--min-confidence` abstain and report coverage.

use std::path::Path;
use std::process::Output;

mod common;
use common::{cli, s, scratch, tiny_model};

const SPORT: [&str; 6] = ["試合", "優勝", "選手", "得点", "決勝", "監督"];
const ECONOMY: [&str; 6] = ["株価", "円安", "決算", "増益", "投資", "金利"];
const FILLER: [&str; 4] = ["会見で", "初めて", "今年も", "ついに"];
const ENDING: [&str; 4] = ["話題に", "注目", "発表", "報道"];

fn ok(out: Output) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "failed: {stderr}");
    String::from_utf8(out.stdout).unwrap() + &stderr
}

/// Headlines with a `gender` field; `skewed`: スポーツ always with 女性, 経済 with 男性, and
/// the topic word from the other class in a quarter of them; else gender at random.
fn data(n: usize, skewed: bool, seed: u64) -> String {
    let mut x = seed;
    let mut next = |m: usize| {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((x >> 33) % m as u64) as usize
    };
    let mut out = String::new();
    for i in 0..n {
        let sport = i % 2 == 0;
        let label = if sport { "スポーツ" } else { "経済" };
        let female = if skewed { sport } else { next(2) == 0 };
        let gender = if female { "女性" } else { "男性" };
        let misleading = skewed && next(4) == 0;
        let words = if sport != misleading { SPORT } else { ECONOMY };
        let text = format!(
            "{gender}が{}{}{}",
            FILLER[next(4)],
            words[next(6)],
            ENDING[next(4)]
        );
        out.push_str(
            &serde_json::json!({"text": text, "label": label, "gender": gender}).to_string(),
        );
        out.push('\n');
    }
    out
}

#[test]
fn bias_check_fails_the_skewed_model_and_passes_the_mitigated_one() {
    let tmp = scratch("bias");
    let dir = tmp.path();
    let train = dir.join("train.jsonl");
    std::fs::write(&train, data(160, true, 7)).unwrap();
    let eval = dir.join("eval.jsonl");
    std::fs::write(&eval, data(40, false, 8)).unwrap();
    let probes = dir.join("probes.jsonl");
    let mut probe_text =
        String::from("{\"group\": \"gender\", \"terms\": [[\"男性\", \"女性\"]]}\n");
    // Every character the models will see, one text per line (vocab build reads .txt).
    let mut all_text = std::fs::read_to_string(&train).unwrap();
    for w in SPORT.iter().chain(&ECONOMY) {
        probe_text.push_str(&format!(
            "{{\"template\": \"{{X}}が会見で{w}発表\", \"group\": \"gender\"}}\n"
        ));
        all_text.push_str(&format!("男性女性が会見で{w}発表\n"));
    }
    std::fs::write(&probes, probe_text).unwrap();
    let all = dir.join("all.txt");
    std::fs::write(&all, all_text).unwrap();

    let Some(base) = tiny_model(dir, &all, &["--labels", "スポーツ,経済", "--seed", "3"])
    else {
        return;
    };
    let finetune = |out: &Path, extra: &[&str]| {
        let mut args = vec![
            "finetune",
            "--model",
            s(&base),
            "--train",
            s(&train),
            "--out",
            s(out),
            "--mode",
            "full",
            "--lr",
            "1e-3",
            "--max-steps",
            "120",
            "--batch-size",
            "16",
            "--max-length",
            "32",
            "--hidden-dropout",
            "0",
            "--attention-dropout",
            "0",
            "--classifier-dropout",
            "0",
            "--seed",
            "11",
            "--quiet",
        ];
        args.extend_from_slice(extra);
        ok(cli(&args))
    };
    let skewed = dir.join("skewed");
    finetune(&skewed, &[]);
    let mitigated = dir.join("mitigated");
    let log = finetune(
        &mitigated,
        &[
            "--augment-counterfactual",
            s(&probes),
            "--group-weights",
            "gender",
        ],
    );
    assert!(log.contains("320 train"), "augmented copies: {log}");
    let cfg = std::fs::read_to_string(mitigated.join("train_config.json")).unwrap();
    assert!(cfg.contains("\"group_weights\": \"gender\"") && cfg.contains("probes.jsonl"));

    // The skewed model fails the check, with a clear line, and writes its reports.
    let json = dir.join("bias.json");
    let html = dir.join("bias.html");
    let out = cli(&[
        "bias",
        "--model",
        s(&skewed),
        "--probes",
        s(&probes),
        "--fail-above",
        "0.5",
        "--json",
        s(&json),
        "--report",
        s(&html),
        "--data",
        s(&eval),
        "--group-field",
        "gender",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{stdout}{stderr}");
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("bias check failed: flip rate"), "{stderr}");
    assert!(stdout.contains("flip rate") && stdout.contains("labelled data by gender"));
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert!(report["flip_rate"].as_f64().unwrap() > 0.5);
    assert_eq!(report["pairs"], 12);
    assert_eq!(report["per_group"][0]["group"], "gender");
    assert!(report["data_groups"]["accuracy_gap"]["gap"]
        .as_f64()
        .is_some());
    let page = std::fs::read_to_string(&html).unwrap();
    for id in ["flip-rate-bars", "per-class", "worst-pairs", "data-groups"] {
        assert!(
            page.contains(&format!("id=\"{id}\"")),
            "no {id} in the HTML report"
        );
    }

    // The mitigated model passes.
    let out = cli(&[
        "bias",
        "--model",
        s(&mitigated),
        "--probes",
        s(&probes),
        "--fail-above",
        "0.5",
    ]);
    let text = ok(out);
    println!("{text}");
    assert!(text.contains("bias check passed"), "{text}");

    // eval: abstained examples are left out and the coverage curve is reported.
    let ejson = dir.join("eval.json");
    let ehtml = dir.join("eval.html");
    let text = ok(cli(&[
        "eval",
        "--model",
        s(&skewed),
        "--data",
        s(&eval),
        "--min-confidence",
        "0.9",
        "--json",
        s(&ejson),
        "--report",
        s(&ehtml),
    ]));
    assert!(
        text.contains("safety filter: --min-confidence 0.9"),
        "{text}"
    );
    let e: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&ejson).unwrap()).unwrap();
    let a = &e["selective"]["abstain"];
    let covered = a["covered"].as_u64().unwrap();
    assert_eq!(a["n"], 40);
    assert_eq!(
        e["n"].as_u64().unwrap(),
        covered,
        "only covered examples are scored"
    );
    assert_eq!(
        e["selective"]["coverage_curve"].as_array().unwrap().len(),
        21
    );
    let page = std::fs::read_to_string(&ehtml).unwrap();
    assert!(
        page.contains("id=\"coverage-curve-figure\"") && page.contains("id=\"chosen-threshold\"")
    );

    // predict: below the threshold the label is the abstain label.
    let text = ok(cli(&[
        "predict",
        "--model",
        s(&skewed),
        "--min-confidence",
        "0.9",
        "--abstain-label",
        "保留",
        "女性が会見で株価発表",
        "男性が今年も優勝注目",
        "会見",
    ]));
    for line in text.lines().filter(|l| l.starts_with('{')) {
        let r: serde_json::Value = serde_json::from_str(line).unwrap();
        let abstained = r["score"].as_f64().unwrap() < 0.9;
        assert_eq!(r["abstained"], abstained, "{line}");
        assert_eq!(r["label"] == "保留", abstained, "{line}");
    }
}
