//! `Worker::encode_into` allocates nothing once its buffers have grown: a counting global
//! allocator checks it on a second pass over the same texts.

use tokken_tokenizer::{find_dicdir, EncodeOptions, Encoding, Tokenizer};

mod common;
use common::counting_alloc::allocations;

#[test]
fn encode_into_allocates_nothing_in_steady_state() {
    let model = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/ref/bert-base-japanese-v3");
    if !model.exists() {
        eprintln!("skipping: ../shared/ref/bert-base-japanese-v3 not found");
        return;
    }
    if let Err(e) = find_dicdir(None) {
        eprintln!("skipping: no MeCab dictionary: {e}");
        return;
    }
    let tok = Tokenizer::from_model_dir(&model, None).unwrap();
    let texts = [
        "ネットで断ち切れない元カレとの縁",
        "相次ぐ芸能人の“すっぴん”披露　その時、独女の心境は？",
        "私は[MASK]です［ＭＡＳＫ］ｶﾀｶﾅ😀\r\u{2028}abc DEF 123",
        "",
        "東京都に行く。",
    ];
    let opts = EncodeOptions::truncate_to(64);
    let mut worker = tok.worker();
    let mut enc = Encoding::default();
    for t in texts {
        worker.encode_into(t, Some("東京"), &opts, &mut enc);
    }
    // The counter works: a fresh worker allocates while its buffers grow.
    let probe = allocations();
    let mut fresh = tok.worker();
    fresh.encode_into(texts[1], None, &opts, &mut Encoding::default());
    assert!(allocations() > probe, "allocation counter not counting");

    let before = allocations();
    for _ in 0..3 {
        for t in texts {
            worker.encode_into(t, Some("東京"), &opts, &mut enc);
        }
    }
    let during = allocations() - before;
    assert_eq!(during, 0, "{during} allocations in steady state");
}
