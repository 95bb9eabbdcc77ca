//! `AnalyzerWorker::analyze` allocates nothing once its lattice buffers have grown: a
//! counting global allocator checks a second pass over the same texts.

use tokken_tokenizer::{find_dicdir, Analyzer};

mod common;
use common::counting_alloc::allocations;

#[test]
fn analyze_allocates_nothing_in_steady_state() {
    let dir = match find_dicdir(None) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("skipping: no MeCab dictionary: {e}");
            return;
        }
    };
    let analyzer = Analyzer::open(&dir).unwrap();
    let texts = [
        "ネットで断ち切れない元カレとの縁",
        "相次ぐ芸能人の“すっぴん”披露　その時、独女の心境は？",
        "ｶﾀｶﾅ😀\r\u{2028}abc DEF 123 aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        "",
        "東京都に行く。\0無視",
    ];
    let mut worker = analyzer.worker();
    let mut out = Vec::new();
    for t in texts {
        worker.analyze(t, &mut out);
    }
    let probe = allocations();
    analyzer.worker().analyze(texts[1], &mut Vec::new());
    assert!(allocations() > probe, "allocation counter not counting");

    let before = allocations();
    for _ in 0..3 {
        for t in texts {
            worker.analyze(t, &mut out);
        }
    }
    let during = allocations() - before;
    assert_eq!(during, 0, "{during} allocations in steady state");
}
