//! `tokken-cli bench tokenizer` end to end on a few lines: every JSON line is there, and the
//! MeCab comparison (when `mecab` is installed) reports a median inside its range.

mod common;

use common::{cli, no_dictionary, scratch, tiny_dir};
use serde_json::Value;

#[test]
fn bench_tokenizer_reports_speeds_and_round_medians() {
    let dir = scratch("bench-tokenizer");
    let lines = dir.join("lines.txt");
    let text: String = (0..40)
        .map(|i| format!("東京都で{i}回目の会議が開かれ、新しい計画について話し合った。\n"))
        .collect();
    std::fs::write(&lines, text).unwrap();
    let out = cli(&[
        "bench".as_ref(),
        "tokenizer".as_ref(),
        "--lines".as_ref(),
        lines.as_os_str(),
        "--model".as_ref(),
        tiny_dir().as_os_str(),
        "--repeat".as_ref(),
        "3".as_ref(),
    ]);
    if no_dictionary(&out) {
        return;
    }
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    let find = |what: &str, threads: Option<u64>| {
        rows.iter()
            .find(|r| r["what"] == what && threads.is_none_or(|t| r["threads"] == t))
            .unwrap_or_else(|| panic!("no {what:?} line in {rows:?}"))
    };
    for row in [find("analysis", Some(1)), find("encode", Some(1))] {
        assert_eq!(row["lines"], 40);
        assert!(row["mb_per_s"].as_f64().unwrap() > 0.0, "{row}");
    }
    let mecab = find("mecab -Owakati", None);
    if mecab.get("skipped").is_some() {
        eprintln!("no mecab installed: ratios not checked");
        return;
    }
    let ratios = find("vs mecab -Owakati", None);
    assert_eq!(ratios["rounds"], 3);
    for key in ["analysis_x", "encode_x"] {
        let median = ratios[key].as_f64().unwrap();
        let range = &ratios[format!("{key}_range")];
        let (lo, hi) = (range[0].as_f64().unwrap(), range[1].as_f64().unwrap());
        assert!(lo <= median && median <= hi && lo > 0.0, "{key}: {ratios}");
    }
}

/// `--userdic` reaches both sides: tokken's analysis and `mecab -u` (which fails the bench if
/// it cannot read the dictionary).
#[test]
fn bench_tokenizer_takes_user_dictionaries() {
    let data = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tokenizer/tests/data");
    let out = cli(&[
        "bench".as_ref(),
        "tokenizer".as_ref(),
        "--lines".as_ref(),
        data.join("userdic_texts.txt").as_os_str(),
        "--model".as_ref(),
        tiny_dir().as_os_str(),
        "--userdic".as_ref(),
        data.join("userdic_a.dic").as_os_str(),
        "--repeat".as_ref(),
        "1".as_ref(),
    ]);
    if no_dictionary(&out) {
        return;
    }
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains(r#""what":"analysis""#), "{stdout}");
}
