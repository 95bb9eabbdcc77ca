//! Shared setup of tokken-cli's end-to-end tests: paths, scratch dirs, running the binary,
//! the missing-dictionary skip, and a tiny random model over a character vocabulary.
#![allow(dead_code)]

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

/// The workspace root (bundled data lives in `data/`).
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The tiny-BERT fixture model of tokken-model's tests.
pub fn tiny_dir() -> PathBuf {
    repo().join("model/tests/fixtures/tiny-bert")
}

/// A fresh, empty temp dir for one test, named after the test file and `name`; removed when
/// the returned guard drops (also when the test panics), so keep it alive for the whole test,
/// past every `tokken-cli` run that uses paths inside it.
pub fn scratch(name: &str) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(&format!("tokken-cli-{}-{name}-", env!("CARGO_CRATE_NAME")))
        .tempdir()
        .unwrap()
}

/// The tokken-cli binary, ready for arguments.
pub fn command() -> Command {
    Command::new(env!("CARGO_BIN_EXE_tokken-cli"))
}

/// Runs tokken-cli with `args`.
pub fn cli<S: AsRef<OsStr>>(args: &[S]) -> Output {
    command().args(args).output().expect("tokken-cli runs")
}

/// Runs `tokken-cli <subcommand> --model <tiny fixture> <args>`.
pub fn on_tiny(subcommand: &str, args: &[&str]) -> Output {
    command()
        .arg(subcommand)
        .arg("--model")
        .arg(tiny_dir())
        .args(args)
        .output()
        .expect("tokken-cli runs")
}

/// True, after a "skipping" line, when the command failed for want of a MeCab dictionary.
pub fn no_dictionary(out: &Output) -> bool {
    let stderr = String::from_utf8_lossy(&out.stderr);
    let missing = stderr.contains("dictionary") && !out.status.success();
    if missing {
        eprintln!("skipping: no MeCab dictionary ({stderr})");
    }
    missing
}

/// `None` (test skipped) when the machine has no MeCab dictionary; otherwise the command must
/// have succeeded and its stdout is returned.
pub fn check(out: &Output) -> Option<String> {
    if no_dictionary(out) {
        return None;
    }
    assert!(
        out.status.success(),
        "tokken-cli failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(String::from_utf8(out.stdout.clone()).unwrap())
}

pub fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

pub fn read_json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// One JSON value per line.
pub fn json_lines(text: &str) -> Vec<Value> {
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// `vocab build` of the texts in `texts` into `dir/vocab`, then `init --config tiny` with
/// that vocabulary and `init_args` into `dir/model`: a tiny random model.
/// `None` (test skipped) when the machine has no MeCab dictionary.
pub fn tiny_model(dir: &Path, texts: &Path, init_args: &[&str]) -> Option<PathBuf> {
    let vocab = dir.join("vocab");
    check(&cli(&[
        "vocab",
        "build",
        "--input",
        s(texts),
        "--mode",
        "character",
        "--out",
        s(&vocab),
    ]))?;
    let model = dir.join("model");
    let vocab_file = vocab.join("vocab.txt");
    let mut args = vec![
        "init",
        "--config",
        "tiny",
        "--vocab",
        s(&vocab_file),
        "--out",
        s(&model),
    ];
    args.extend_from_slice(init_args);
    check(&cli(&args))?;
    Some(model)
}
