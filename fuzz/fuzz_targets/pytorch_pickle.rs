//! The restricted pickle reader: the input is `archive/data.pkl` inside a well-formed torch
//! zip with one 64-byte storage, so every iteration reaches the pickle machine.
#![no_main]
use std::io::{Cursor, Write};

use libfuzzer_sys::fuzz_target;
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipWriter};

fuzz_target!(|pkl: &[u8]| {
    let mut zip = ZipWriter::new(Cursor::new(Vec::new()));
    let opts = SimpleFileOptions::default().compression_method(CompressionMethod::Stored);
    let storage = [0u8; 64];
    for (name, bytes) in [
        ("archive/data.pkl", pkl),
        ("archive/byteorder", &b"little"[..]),
        ("archive/data/0", &storage[..]),
    ] {
        zip.start_file(name, opts).unwrap();
        zip.write_all(bytes).unwrap();
    }
    let bytes = zip.finish().unwrap().into_inner();
    let path = tokken_fuzz::scratch_file("pytorch_model.bin", &bytes);
    if let Ok(w) = tokken_engine::Weights::load(&path) {
        for (_, t) in w.iter() {
            let _ = t.to_f32_vec();
        }
    }
});
