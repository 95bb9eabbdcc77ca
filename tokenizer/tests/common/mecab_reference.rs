//! Comparing the analyzer with MeCab reference files: JSONL lines
//! `{"text", "words": [[surface, features]]}`, features being fugashi's `node.feature` fields
//! joined by commas.

use std::path::Path;

use tokken_tokenizer::{Analyzer, Morpheme};

/// (surface, features) as the reference stores them: the unquoted CSV fields joined by
/// commas (fugashi's `node.feature` tuple), e.g. `...,1,0,C1,*` for the raw `...,"1,0",C1,*`.
pub fn words(a: &Analyzer, text: &str, ms: &[Morpheme]) -> Vec<(String, String)> {
    ms.iter()
        .map(|m| {
            let fields: Vec<_> = a.feature_fields(m).collect();
            (m.surface(text).to_string(), fields.join(","))
        })
        .collect()
}

/// Analyses every text of the reference file at `path` and returns (texts, mismatches),
/// printing the first mismatches: the text, both word sequences and the first differing word.
pub fn compare(a: &Analyzer, path: &Path) -> (usize, usize) {
    let mut w = a.worker();
    let mut out = Vec::new();
    let data = std::fs::read_to_string(path).unwrap();
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
        let got = words(a, text, &out);
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
    (total, bad)
}
