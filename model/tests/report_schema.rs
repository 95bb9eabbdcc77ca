//! Golden test of the JSON report's schema: every key path with its JSON type (values are
//! not compared), against `tests/fixtures/report_schema.txt`. Arrays contribute the union of
//! their elements' paths under `[]`. A changed schema is a deliberate act: regenerate the
//! golden file with `TOKKEN_BLESS=1 cargo test --release -p tokken-model --test report_schema`
//! and review the diff.

mod report_fixture;

use std::collections::BTreeSet;
use std::path::PathBuf;

use serde_json::Value;

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_u64() || n.is_i64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// `path: type` for `v` and everything under it.
fn schema(path: &str, v: &Value, out: &mut BTreeSet<String>) {
    // serde_json writes f64 fields with a fraction (`1.0`), so `integer` vs `number` is
    // the Rust field type, stable across values.
    let ty = type_name(v);
    out.insert(format!(
        "{} : {ty}",
        if path.is_empty() { "." } else { path }
    ));
    match v {
        Value::Object(map) => {
            for (k, child) in map {
                schema(&format!("{path}.{k}"), child, out);
            }
        }
        Value::Array(items) => {
            for child in items {
                schema(&format!("{path}[]"), child, out);
            }
        }
        _ => {}
    }
}

#[test]
fn json_report_schema_matches_golden() {
    let tmp = report_fixture::scratch("report-schema");
    let dir = tmp.path();
    let report = report_fixture::report(&dir.join("run"));
    let value: Value = serde_json::from_str(&report.to_json()).unwrap();
    let mut lines = BTreeSet::new();
    schema("", &value, &mut lines);
    let got: String = lines.iter().map(|l| format!("{l}\n")).collect();
    let golden = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/report_schema.txt");
    if std::env::var_os("TOKKEN_BLESS").is_some() {
        std::fs::write(&golden, &got).unwrap();
    }
    let want =
        std::fs::read_to_string(&golden).unwrap_or_else(|e| panic!("{}: {e}", golden.display()));
    if got != want {
        let got_set: BTreeSet<&str> = got.lines().collect();
        let want_set: BTreeSet<&str> = want.lines().collect();
        panic!(
            "JSON report schema changed.\nnew: {:#?}\nmissing: {:#?}",
            got_set.difference(&want_set).collect::<Vec<_>>(),
            want_set.difference(&got_set).collect::<Vec<_>>()
        );
    }
}

#[test]
fn json_keeps_the_plain_metrics_keys_at_the_top_level() {
    let tmp = report_fixture::scratch("report-schema-flat");
    let dir = tmp.path();
    let report = report_fixture::report(&dir.join("run"));
    let full: Value = serde_json::from_str(&report.to_json()).unwrap();
    let plain: Value = serde_json::from_str(&report.metrics.to_json()).unwrap();
    for (k, v) in plain.as_object().unwrap() {
        assert_eq!(full.get(k), Some(v), "key {k}");
    }
    assert_eq!(full["misclassified_total"], 14);
    assert_eq!(full["misclassified"].as_array().unwrap().len(), 14);
    // Most confident mistakes first.
    let scores: Vec<f64> = full["misclassified"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["score"].as_f64().unwrap())
        .collect();
    assert!(scores.windows(2).all(|w| w[0] >= w[1]));
    assert_eq!(full["training"]["train"].as_array().unwrap().len(), 30);
    assert_eq!(full["training"]["eval"].as_array().unwrap().len(), 3);
}
