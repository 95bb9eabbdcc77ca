//! One livedoor article file: parsed or a file:line error.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = tokken_model::livedoor::parse_article(data, std::path::Path::new("cat/a.txt"), "cat");
});
