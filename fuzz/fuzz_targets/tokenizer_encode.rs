//! The encode path (normalisation, MeCab lattice over the real unidic-lite dictionary,
//! character subwords, truncation, pairs) on any text. Needs a MeCab dictionary
//! (`TOKKEN_DICDIR` or python unidic_lite).
#![no_main]
use std::path::Path;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use tokken_tokenizer::encoder::{EncodeOptions, Tokenizer};

fn tokenizer() -> &'static Tokenizer {
    static TOK: OnceLock<Tokenizer> = OnceLock::new();
    TOK.get_or_init(|| {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../model/tests/fixtures/tiny-bert");
        Tokenizer::from_model_dir(&dir, None).expect("tiny-bert tokenizer and a MeCab dictionary")
    })
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let tok = tokenizer();
    let enc = tok.encode(&text, &EncodeOptions::default());
    assert!(enc.ids.iter().all(|&id| (id as usize) < tok.vocab().len()));
    let (a, b) = text.split_at(
        text.char_indices()
            .nth(text.chars().count() / 2)
            .map_or(0, |(i, _)| i),
    );
    let _ = tok.encode_pair(a, b, &EncodeOptions::truncate_to(16));
});
