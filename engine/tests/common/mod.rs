//! Helpers shared by the engine's integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use tokken_engine::{EngineError, Weights};

/// A fresh empty directory under the system temp dir (`tokken-engine-<test>-…`), unique per
/// test; removed on drop (also when the test panics).
pub struct TempDir(tempfile::TempDir);

impl TempDir {
    pub fn new(test: &str) -> TempDir {
        let dir = tempfile::Builder::new()
            .prefix(&format!("tokken-engine-{test}-"))
            .tempdir()
            .expect("create temp dir");
        TempDir(dir)
    }

    pub fn path(&self) -> &Path {
        self.0.path()
    }
}

/// The committed fixtures directory.
pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// A safetensors file assembled by hand: `header` JSON verbatim (no padding) then `data`.
pub fn raw_safetensors(header: &str, data: &[u8]) -> Vec<u8> {
    let mut out = (header.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(data);
    out
}

/// Writes `bytes` as `dir/name` and loads it as a checkpoint.
pub fn load_bytes(dir: &TempDir, name: &str, bytes: &[u8]) -> Result<Weights, EngineError> {
    let path = dir.path().join(name);
    std::fs::write(&path, bytes).unwrap();
    Weights::load(&path)
}
