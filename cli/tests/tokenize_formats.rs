//! `tokenize --format mecab|wakati` over a file: records are analysed in parallel, and the
//! output must be exactly the per-line analysis, in input order.

mod common;

use common::{check, on_tiny, scratch};
use tokken_tokenizer::{find_dicdir, write_mecab_format, Analyzer};

#[test]
fn mecab_and_wakati_output_in_input_order() {
    let dir = scratch("tokenize-formats");
    let path = dir.join("lines.txt");
    // Enough lines for several parallel tasks, each different.
    let lines: Vec<String> = (0..300)
        .map(|i| {
            format!(
                "第{i}回の会議は{}時に始まり、ｶﾀｶﾅの{i}件を話し合った",
                i % 24
            )
        })
        .collect();
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    let Some(mecab) = check(&on_tiny(
        "tokenize",
        &["--format", "mecab", "-i", path.to_str().unwrap()],
    )) else {
        return;
    };
    let wakati = check(&on_tiny(
        "tokenize",
        &["--format", "wakati", "-i", path.to_str().unwrap()],
    ))
    .unwrap();

    let analyzer = Analyzer::open(&find_dicdir(None).unwrap()).unwrap();
    let mut worker = analyzer.worker();
    let mut morphemes = Vec::new();
    let (mut want_mecab, mut want_wakati) = (String::new(), String::new());
    for line in &lines {
        worker.analyze(line, &mut morphemes);
        write_mecab_format(&analyzer, line, &morphemes, &mut want_mecab);
        let words: Vec<&str> = morphemes.iter().map(|m| m.surface(line)).collect();
        want_wakati.push_str(&(words.join(" ") + "\n"));
    }
    assert_eq!(mecab, want_mecab);
    assert_eq!(wakati, want_wakati);
    assert_eq!(mecab.matches("EOS\n").count(), 300);
}
