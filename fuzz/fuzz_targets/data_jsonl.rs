//! JSONL data reader: any bytes are rows or a file:line error, never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;
use tokken_model::data::{read_examples, ReadOptions};

fuzz_target!(|data: &[u8]| {
    let path = tokken_fuzz::scratch_file("data.jsonl", data);
    let _ = read_examples(&path, &ReadOptions::default());
    let multi = ReadOptions {
        multi_label: true,
        ..ReadOptions::default()
    };
    let _ = read_examples(&path, &multi);
});
