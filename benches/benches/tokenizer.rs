//! criterion tokenizer benches on the first 5,000 livedoor body lines (from
//! `../shared/ref/tokenize/`): MeCab-equivalent analysis and full encode to ids on one
//! thread, and the parallel batch encode. Throughput in bytes of input text. `tokken-cli
//! bench tokenizer` runs the whole file and compares with `mecab -Owakati`.

use std::path::Path;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use tokken_tokenizer::{find_dicdir, EncodeOptions, Encoding, Tokenizer};

const LINES: usize = 5000;

fn bench_tokenizer(c: &mut Criterion) {
    let shared = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/ref");
    let lines_file = shared.join("tokenize/livedoor-lines.ids.jsonl");
    if !lines_file.exists() {
        println!("skipping: ../shared/ref/tokenize/livedoor-lines.ids.jsonl not found");
        return;
    }
    if let Err(e) = find_dicdir(None) {
        println!("skipping: no MeCab dictionary: {e}");
        return;
    }
    let tok = Tokenizer::from_model_dir(&shared.join("bert-base-japanese-v3"), None).unwrap();
    let content = std::fs::read_to_string(&lines_file).unwrap();
    let texts: Vec<String> = content
        .lines()
        .take(LINES)
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            v["text"].as_str().unwrap().to_string()
        })
        .collect();
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let bytes: usize = refs.iter().map(|t| t.len()).sum();

    let mut group = c.benchmark_group("tokenizer");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3))
        .throughput(Throughput::Bytes(bytes as u64));

    let mut analyzer = tok.analyzer().worker();
    let mut morphemes = Vec::new();
    group.bench_function("analysis_1_thread", |b| {
        b.iter(|| {
            for t in &refs {
                analyzer.analyze(t, &mut morphemes);
            }
        })
    });

    let opts = EncodeOptions::default();
    let mut worker = tok.worker();
    let mut enc = Encoding::default();
    group.bench_function("encode_1_thread", |b| {
        b.iter(|| {
            for t in &refs {
                worker.encode_into(t, None, &opts, &mut enc);
            }
        })
    });

    let batch_opts = EncodeOptions::truncate_to(512);
    group.bench_function("encode_batch_all_threads", |b| {
        b.iter(|| tok.encode_batch(&refs, &batch_opts))
    });
    group.finish();
}

criterion_group!(benches, bench_tokenizer);
criterion_main!(benches);
