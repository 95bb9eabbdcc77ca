//! Parity with MeCab 0.996 + unidic-lite (as fugashi runs it) on the 5,948 livedoor
//! titles: every surface and every feature string must be identical.

use std::path::{Path, PathBuf};

use tokken_tokenizer::{find_dicdir, Analyzer, Morpheme};

fn shared() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared")
}

fn analyzer() -> Option<Analyzer> {
    match find_dicdir(None) {
        Ok(dir) => Some(Analyzer::open(&dir).expect("the dictionary found must open")),
        Err(e) => {
            eprintln!("skipping: no dictionary ({e})");
            None
        }
    }
}

/// (surface, features) as the reference stores them: the unquoted CSV fields joined by
/// commas (fugashi's `node.feature` tuple), e.g. `...,1,0,C1,*` for the raw `...,"1,0",C1,*`.
fn words(a: &Analyzer, text: &str, ms: &[Morpheme]) -> Vec<(String, String)> {
    ms.iter()
        .map(|m| {
            let fields: Vec<_> = a.feature_fields(m).collect();
            (m.surface(text).to_string(), fields.join(","))
        })
        .collect()
}

#[test]
fn livedoor_titles_match_mecab() {
    let path = shared().join("ref/tokenize/livedoor-titles.mecab.jsonl");
    if !path.exists() {
        eprintln!("skipping: ../shared/ref/tokenize/livedoor-titles.mecab.jsonl not found");
        return;
    }
    let Some(a) = analyzer() else { return };
    let mut w = a.worker();
    let mut out = Vec::new();
    let data = std::fs::read_to_string(&path).unwrap();
    let (mut total, mut bad) = (0, 0);
    for (lineno, line) in data.lines().enumerate() {
        let v: serde_json::Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("{}:{}: {e}", path.display(), lineno + 1));
        let text = v["text"].as_str().unwrap();
        let want: Vec<(String, String)> = v["words"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                (
                    p[0].as_str().unwrap().to_string(),
                    p[1].as_str().unwrap().to_string(),
                )
            })
            .collect();
        w.analyze(text, &mut out);
        let got = words(&a, text, &out);
        total += 1;
        if got != want {
            bad += 1;
            if bad <= 5 {
                eprintln!("MISMATCH line {}: {text:?}", lineno + 1);
                eprintln!(
                    "  want: {:?}",
                    want.iter().map(|p| &p.0).collect::<Vec<_>>()
                );
                eprintln!("  got:  {:?}", got.iter().map(|p| &p.0).collect::<Vec<_>>());
                for (g, e) in got.iter().zip(&want) {
                    if g != e {
                        eprintln!("  first differing word: want {e:?}\n                         got  {g:?}");
                        break;
                    }
                }
            }
        }
    }
    eprintln!("{}/{} titles identical", total - bad, total);
    assert_eq!(bad, 0, "{bad} of {total} titles differ from MeCab");
}
