//! `tokken-cli bench tokenizer` end to end on a few lines: every JSON line is there, and the
//! MeCab comparison (when `mecab` is installed) reports a median inside its range.

mod common;

use std::ffi::OsStr;
use std::path::Path;

use common::{cli, no_dictionary, scratch, tiny_dir};
use serde_json::Value;

/// `bench tokenizer --lines LINES --model <tiny> EXTRA..`: its stdout, or None (after a
/// "skipping" line) when no MeCab dictionary is installed; a failure fails the test.
fn bench(lines: &Path, extra: &[&OsStr]) -> Option<String> {
    let mut args: Vec<&OsStr> = vec![
        "bench".as_ref(),
        "tokenizer".as_ref(),
        "--lines".as_ref(),
        lines.as_os_str(),
        "--model".as_ref(),
    ];
    let tiny = tiny_dir();
    args.push(tiny.as_os_str());
    args.extend_from_slice(extra);
    let out = cli(&args);
    if no_dictionary(&out) {
        return None;
    }
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(String::from_utf8_lossy(&out.stdout).into_owned())
}

#[test]
fn bench_tokenizer_reports_speeds_and_round_medians() {
    let tmp = scratch("bench-tokenizer");
    let dir = tmp.path();
    let lines = dir.join("lines.txt");
    let text: String = (0..40)
        .map(|i| format!("東京都で{i}回目の会議が開かれ、新しい計画について話し合った。\n"))
        .collect();
    std::fs::write(&lines, text).unwrap();
    let Some(stdout) = bench(&lines, &["--repeat".as_ref(), "3".as_ref()]) else {
        return;
    };
    let rows: Vec<Value> = stdout
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
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tokenizer/tests/data");
    let user = data.join("userdic_a.dic");
    let extra = [
        "--userdic".as_ref(),
        user.as_os_str(),
        "--repeat".as_ref(),
        "1".as_ref(),
    ];
    let Some(stdout) = bench(&data.join("userdic_texts.txt"), &extra) else {
        return;
    };
    assert!(stdout.contains(r#""what":"analysis""#), "{stdout}");
}
