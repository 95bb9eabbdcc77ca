//! pytorch_model.bin loader on raw bytes (zip directory, entries, pickle, storages).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let path = tokken_fuzz::scratch_file("pytorch_model.bin", data);
    if let Ok(w) = tokken_engine::Weights::load(&path) {
        for (_, t) in w.iter() {
            let _ = t.to_f32_vec();
        }
    }
});
