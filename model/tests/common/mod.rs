//! Shared helpers for tokken-model's integration tests: the tiny-BERT fixtures and
//! per-tensor comparison by name.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::PathBuf;

use safetensors::{Dtype, SafeTensors};

pub fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

pub fn tiny_dir() -> PathBuf {
    fixtures().join("tiny-bert")
}

/// A tensor read from a fixture file, as f64 values and its shape.
pub struct FixtureTensor {
    pub shape: Vec<usize>,
    pub values: Vec<f64>,
}

impl FixtureTensor {
    pub fn f32(&self) -> Vec<f32> {
        self.values.iter().map(|&v| v as f32).collect()
    }
    pub fn u32(&self) -> Vec<u32> {
        self.values.iter().map(|&v| v as u32).collect()
    }
    pub fn u8(&self) -> Vec<u8> {
        self.values.iter().map(|&v| v as u8).collect()
    }
}

/// Every tensor of a safetensors fixture (f32 and i64 entries), by name.
pub fn read_fixture(name: &str) -> BTreeMap<String, FixtureTensor> {
    let path = fixtures().join(name);
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let st = SafeTensors::deserialize(&bytes).expect("fixture is valid safetensors");
    let mut out = BTreeMap::new();
    for (name, view) in st.tensors() {
        let data = view.data();
        let values: Vec<f64> = match view.dtype() {
            Dtype::F32 => data
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes(c.try_into().unwrap()) as f64)
                .collect(),
            Dtype::I64 => data
                .chunks_exact(8)
                .map(|c| i64::from_le_bytes(c.try_into().unwrap()) as f64)
                .collect(),
            other => panic!("{name}: unexpected fixture dtype {other:?}"),
        };
        out.insert(
            name,
            FixtureTensor {
                shape: view.shape().to_vec(),
                values,
            },
        );
    }
    out
}

/// Compare `got` to `want` element-wise; returns a failure line (with the max error and the
/// first differing values) or None. Always prints the max error.
pub fn compare(name: &str, got: &[f32], want: &[f32], tol: f32) -> Option<String> {
    if got.len() != want.len() {
        return Some(format!(
            "{name}: length {} vs expected {}",
            got.len(),
            want.len()
        ));
    }
    let mut max_err = 0.0f32;
    let mut first_bad = Vec::new();
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        let err = (g - w).abs();
        let within = err <= tol; // false for NaN
        if !within && first_bad.len() < 5 {
            first_bad.push(format!("[{i}] got {g} want {w}"));
        }
        if err > max_err || err.is_nan() {
            max_err = if err.is_nan() { f32::INFINITY } else { err };
        }
    }
    println!(
        "{name:<22} max |err| = {max_err:.3e} (tol {tol:.0e}, {} values)",
        got.len()
    );
    if first_bad.is_empty() {
        None
    } else {
        Some(format!(
            "{name}: max |err| {max_err:.3e} > {tol:.0e}; first: {}",
            first_bad.join(", ")
        ))
    }
}

/// Index of the largest value of each row of `[rows, n]`.
pub fn argmax_rows(v: &[f32], n: usize) -> Vec<usize> {
    v.chunks_exact(n)
        .map(|r| {
            r.iter()
                .enumerate()
                .fold((0, f32::NEG_INFINITY), |(bi, bv), (i, &x)| {
                    if x > bv {
                        (i, x)
                    } else {
                        (bi, bv)
                    }
                })
                .0
        })
        .collect()
}
