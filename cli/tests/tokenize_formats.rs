//! `tokenize --format mecab|wakati|words` over a file: records are analysed in parallel, and
//! the output must be exactly the per-line analysis, in input order.

mod common;

use common::{check, on_tiny, scratch};
use std::path::Path;

use tokken_tokenizer::{find_dicdir, write_mecab_format, Analyzer};

/// `tokenize --format FORMAT -i FILE` on the tiny model (None: no dictionary, skip).
fn tokenize_file(format: &str, file: &Path) -> Option<String> {
    check(&on_tiny(
        "tokenize",
        &["--format", format, "-i", file.to_str().unwrap()],
    ))
}

#[test]
fn mecab_and_wakati_output_in_input_order() {
    let tmp = scratch("tokenize-formats");
    let dir = tmp.path();
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
    let Some(mecab) = tokenize_file("mecab", &path) else {
        return;
    };
    let wakati = tokenize_file("wakati", &path).unwrap();

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

/// `--format words`: per line one JSON record whose words are MeCab's (`--format mecab`
/// lines), with char offsets that index the surface in the text, byte offsets, and the
/// feature string split into its CSV fields.
#[test]
fn words_format_is_the_mecab_analysis_as_json() {
    let tmp = scratch("tokenize-words");
    let dir = tmp.path();
    let path = dir.join("lines.jsonl");
    let texts: Vec<String> = (0..200)
        .map(|i| {
            format!(
                "😀第{i}回 ＡＢＣの会議は「{}時」に始まり、ｶﾀｶﾅを話した",
                i % 24
            )
        })
        .collect();
    let body: String = texts
        .iter()
        .enumerate()
        .map(|(i, t)| format!("{}\n", serde_json::json!({"id": i, "text": t})))
        .collect();
    std::fs::write(&path, body).unwrap();
    let Some(words) = tokenize_file("words", &path) else {
        return;
    };
    let mecab = tokenize_file("mecab", &path).unwrap();
    let mut mecab_lines = mecab.lines();
    let records: Vec<serde_json::Value> = words
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(records.len(), texts.len());
    let mut with_comma = 0;
    for (i, (r, text)) in records.iter().zip(&texts).enumerate() {
        assert_eq!(r["id"], i);
        for w in r["words"].as_array().unwrap() {
            let surface = w["surface"].as_str().unwrap();
            let (start, end) = (w["start"].as_u64().unwrap(), w["end"].as_u64().unwrap());
            let by_chars: String = text
                .chars()
                .skip(start as usize)
                .take((end - start) as usize)
                .collect();
            assert_eq!(by_chars, surface, "{text}");
            let (bs, be) = (
                w["byte_start"].as_u64().unwrap(),
                w["byte_end"].as_u64().unwrap(),
            );
            assert_eq!(&text[bs as usize..be as usize], surface);
            let fields: Vec<&str> = w["features"]
                .as_array()
                .unwrap()
                .iter()
                .map(|f| f.as_str().unwrap())
                .collect();
            let unknown = w["unknown"].as_bool().unwrap();
            assert_eq!(fields.len(), if unknown { 6 } else { 26 }, "{surface}");
            // MeCab's line: the surface, a tab, the fields (quoted where they hold a comma).
            let line = mecab_lines.next().unwrap();
            let quoted: Vec<String> = fields
                .iter()
                .map(|f| {
                    if f.contains(',') {
                        with_comma += 1;
                        format!("\"{f}\"")
                    } else {
                        f.to_string()
                    }
                })
                .collect();
            assert_eq!(line, format!("{surface}\t{}", quoted.join(",")));
        }
        assert_eq!(mecab_lines.next(), Some("EOS"));
    }
    assert!(
        with_comma > 0,
        "some unidic fields hold commas (e.g. 都's B1SjS,B1S8SjS)"
    );
}

/// `--userdic` (repeatable) gives MeCab's `-u a.dic,b.dic` analysis: the fixture texts come
/// out as `mecab -u` printed them (tokenizer/tests/data, scripts/reference/make_userdic_fixture.sh).
#[test]
fn userdic_flags_give_mecabs_user_dictionary_analysis() {
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tokenizer/tests/data");
    let s = |name: &str| data.join(name).to_str().unwrap().to_string();
    let (a, b, texts) = (
        s("userdic_a.dic"),
        s("userdic_b.dic"),
        s("userdic_texts.txt"),
    );
    let Some(out) = check(&on_tiny(
        "tokenize",
        &[
            "--format",
            "mecab",
            "--userdic",
            &a,
            "--userdic",
            &b,
            "--input-format",
            "text",
            "-i",
            &texts,
        ],
    )) else {
        return;
    };
    assert_eq!(
        out,
        std::fs::read_to_string(data.join("userdic_mecab_ab.txt")).unwrap()
    );
}

/// `--format words` names UniDic's fields as fugashi's `Tagger` does (`UnidicFeatures26`,
/// unknown words padded with null): fixture from scripts/reference/make_fugashi_named_fixture.py.
#[test]
fn words_format_names_unidic_fields_as_fugashi() {
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tokenizer/tests/data");
    let fixture = std::fs::read_to_string(data.join("fugashi_named_features.jsonl")).unwrap();
    let want: Vec<serde_json::Value> = fixture
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let tmp = scratch("tokenize-named");
    let dir = tmp.path();
    let path = dir.join("texts.txt");
    let texts: Vec<&str> = want.iter().map(|r| r["text"].as_str().unwrap()).collect();
    std::fs::write(&path, texts.join("\n") + "\n").unwrap();
    let Some(out) = tokenize_file("words", &path) else {
        return;
    };
    let got: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(got.len(), want.len());
    let mut unknown = 0;
    for (g, w) in got.iter().zip(&want) {
        let (gw, ww) = (
            g["words"].as_array().unwrap(),
            w["words"].as_array().unwrap(),
        );
        assert_eq!(gw.len(), ww.len(), "{}", w["text"]);
        for (a, b) in gw.iter().zip(ww) {
            assert_eq!(a["surface"], b["surface"]);
            assert_eq!(a["feature"], b["feature"], "{}", b["surface"]);
            unknown += a["unknown"].as_bool().unwrap() as usize;
        }
    }
    assert!(
        unknown > 0,
        "the fixture has unknown words (padded with null)"
    );
}
