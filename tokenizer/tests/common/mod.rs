//! Helpers shared by the tokenizer's integration tests (each test file uses some of them).
#![allow(dead_code)]

pub mod counting_alloc;
pub mod mecab_reference;

/// A fresh, empty temp dir named `tokken-<name>-…`; removed when the returned guard drops
/// (also when the test panics), so keep it alive for the whole test.
pub fn scratch(name: &str) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(&format!("tokken-{name}-"))
        .tempdir()
        .unwrap()
}
