//! safetensors loader (header JSON, offsets, dtypes, mmap views): any bytes load or error.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let path = tokken_fuzz::scratch_file("model.safetensors", data);
    if let Ok(w) = tokken_engine::Weights::load(&path) {
        // Touch every tensor's data so bad views would show.
        for (_, t) in w.iter() {
            let _ = t.to_f32_vec();
        }
    }
});
