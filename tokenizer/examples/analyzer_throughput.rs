//! Single-thread analyzer throughput on the livedoor body lines:
//! `cargo run --release -p tokken-tokenizer --example analyzer_throughput [-- <jsonl> [repeats]]`.
//! Reads `{"text": ...}` lines (default `../shared/ref/tokenize/livedoor-lines.ids.jsonl`),
//! analyses every text once to warm up, then `repeats` times (default 3) and prints MB/s.

use std::path::{Path, PathBuf};
use std::time::Instant;

use tokken_tokenizer::{find_dicdir, Analyzer};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let path = args.get(1).map(PathBuf::from).unwrap_or_else(|| {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../shared/ref/tokenize/livedoor-lines.ids.jsonl")
    });
    let repeats: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(3);
    let Ok(data) = std::fs::read_to_string(&path) else {
        eprintln!("skipping: {} not found", path.display());
        return;
    };
    let texts: Vec<String> = data
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| v["text"].as_str().map(str::to_string))
        .collect();
    let bytes: usize = texts.iter().map(String::len).sum();
    let dir = match find_dicdir(None) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("{e}");
            return;
        }
    };
    let t = Instant::now();
    let analyzer = Analyzer::open(&dir).expect("open dictionary");
    println!(
        "opened {} in {:.1} ms",
        dir.display(),
        t.elapsed().as_secs_f64() * 1e3
    );
    let mut worker = analyzer.worker();
    let mut out = Vec::new();
    let mut words = 0usize;
    for t in &texts {
        worker.analyze(t, &mut out);
        words += out.len();
    }
    let t = Instant::now();
    let cpu0 = thread_cpu_ns();
    for _ in 0..repeats {
        for t in &texts {
            worker.analyze(t, &mut out);
        }
    }
    let secs = t.elapsed().as_secs_f64();
    let mb = (bytes * repeats) as f64 / 1e6;
    println!(
        "{} texts, {:.1} MB, {} words: {:.1} MB/s single thread (wall clock)",
        texts.len(),
        bytes as f64 / 1e6,
        words,
        mb / secs
    );
    if let (Some(c0), Some(c1)) = (cpu0, thread_cpu_ns()) {
        // On a shared machine the thread's own CPU time is the fairer measure.
        println!(
            "{:.1} MB/s per CPU-second of this thread",
            mb / ((c1 - c0) as f64 / 1e9)
        );
    }
}

/// CPU time this thread has run, from Linux's schedstat (None elsewhere).
fn thread_cpu_ns() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    s.split_whitespace().next()?.parse().ok()
}
