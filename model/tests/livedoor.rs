//! livedoor corpus import: the shared articles written back into the corpus layout, read,
//! split; malformed article files give file:line errors.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use tokken_model::livedoor::{self, ArticleField};

fn shared_articles() -> Option<Vec<serde_json::Value>> {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/livedoor/articles.jsonl");
    let Ok(text) = std::fs::read_to_string(&path) else {
        eprintln!("skipping: ../shared/data/livedoor/articles.jsonl not found");
        return None;
    };
    Some(
        text.lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect(),
    )
}

/// Writes the corpus layout: `<label>/<id>.txt` (URL, date, title, body) plus the
/// LICENSE.txt / README.txt / CHANGES.txt files that must be skipped. Every 7th article is
/// written with a BOM and CRLF line ends.
fn write_layout(dir: &Path, articles: &[serde_json::Value]) {
    std::fs::write(dir.join("README.txt"), "livedoor news corpus\n").unwrap();
    std::fs::write(dir.join("CHANGES.txt"), "2012-09-20\n").unwrap();
    for (i, a) in articles.iter().enumerate() {
        let label = a["label"].as_str().unwrap();
        let cat = dir.join(label);
        if !cat.exists() {
            std::fs::create_dir_all(&cat).unwrap();
            std::fs::write(
                cat.join("LICENSE.txt"),
                "CC BY-ND 2.1 JP\nline two\ntitle-like\n",
            )
            .unwrap();
        }
        let id = a["id"].as_str().unwrap();
        let mut text = format!(
            "http://news.livedoor.com/article/detail/{i}/\n2012-09-{:02}T10:00:00+0900\n{}\n{}\n",
            1 + i % 28,
            a["title"].as_str().unwrap(),
            a["body"].as_str().unwrap()
        );
        if i % 7 == 0 {
            text = format!("\u{feff}{}", text.replace('\n', "\r\n"));
        }
        std::fs::write(cat.join(format!("{id}.txt")), text).unwrap();
    }
}

#[test]
fn shared_articles_round_trip_through_the_corpus_layout() {
    let Some(articles) = shared_articles() else {
        return;
    };
    let tmp = common::scratch("livedoor-roundtrip");
    let dir = tmp.path();
    write_layout(dir, &articles);
    let read = livedoor::read_corpus(dir).unwrap();
    assert_eq!(
        read.len(),
        articles.len(),
        "LICENSE/README/CHANGES must be skipped"
    );
    let by_id: BTreeMap<&str, &serde_json::Value> = articles
        .iter()
        .map(|a| (a["id"].as_str().unwrap(), a))
        .collect();
    let mut mismatches = 0;
    for a in &read {
        let want = by_id[a.id.as_str()];
        assert_eq!(a.label, want["label"].as_str().unwrap());
        assert_eq!(a.title, want["title"].as_str().unwrap().trim(), "{}", a.id);
        let body = want["body"].as_str().unwrap();
        if a.body != body.trim_matches(|c| c == '\n' || c == '\r') {
            mismatches += 1;
            if mismatches < 3 {
                eprintln!(
                    "{}: body differs\n got {:?}\nwant {:?}",
                    a.id,
                    &a.body[..a.body.len().min(80)],
                    &body[..body.len().min(80)]
                );
            }
        }
        assert!(a.url.starts_with("http://news.livedoor.com/"));
        assert!(a.date.starts_with("2012-09-"));
    }
    assert_eq!(mismatches, 0);
    let labels: BTreeSet<&str> = read.iter().map(|a| a.label.as_str()).collect();
    assert_eq!(labels.len(), 9);

    // Title+body text and the JSONL row.
    let row = read[0].to_json(ArticleField::TitleAndBody);
    assert_eq!(
        row["text"].as_str().unwrap(),
        format!("{}\n{}", read[0].title, read[0].body)
    );
    assert_eq!(row["label"], read[0].label.as_str());
}

#[test]
fn split_is_stratified_disjoint_and_seeded() {
    let Some(articles) = shared_articles() else {
        return;
    };
    let labels: Vec<&str> = articles
        .iter()
        .map(|a| a["label"].as_str().unwrap())
        .collect();
    let s = livedoor::split_three_ways(&labels, [0.8, 0.1, 0.1], 7);
    let mut all: Vec<usize> = s
        .train
        .iter()
        .chain(&s.dev)
        .chain(&s.test)
        .copied()
        .collect();
    all.sort_unstable();
    assert_eq!(
        all,
        (0..labels.len()).collect::<Vec<_>>(),
        "a partition of every article"
    );
    let mut per_label: BTreeMap<&str, [usize; 4]> = BTreeMap::new();
    for &l in &labels {
        per_label.entry(l).or_default()[0] += 1;
    }
    for (k, part) in [&s.train, &s.dev, &s.test].iter().enumerate() {
        for &i in part.iter() {
            per_label.get_mut(labels[i]).unwrap()[k + 1] += 1;
        }
    }
    for (label, [n, train, dev, test]) in &per_label {
        let want = (*n as f64 * 0.1).round() as usize;
        assert_eq!((*dev, *test), (want, want), "{label}: {n} articles");
        assert_eq!(*train, n - 2 * want);
    }
    assert_eq!(s, livedoor::split_three_ways(&labels, [0.8, 0.1, 0.1], 7));
    assert_ne!(
        s.dev,
        livedoor::split_three_ways(&labels, [0.8, 0.1, 0.1], 8).dev
    );
}

#[test]
fn split_flag_and_part_paths() {
    assert_eq!(
        livedoor::parse_split("0.8,0.1,0.1").unwrap(),
        [0.8, 0.1, 0.1]
    );
    assert!(livedoor::parse_split("0.8,0.1").is_err());
    assert!(livedoor::parse_split("0.8,0.3,0.1").is_err());
    assert!(livedoor::parse_split("1.2,-0.1,-0.1").is_err());
    assert!(livedoor::parse_split("NaN,0,0").is_err());
    assert_eq!(
        livedoor::part_path(Path::new("d/out.jsonl"), "dev"),
        Path::new("d/out.dev.jsonl")
    );
    assert_eq!(
        livedoor::part_path(Path::new("out"), "test"),
        Path::new("out.test")
    );
    assert_eq!(
        "title+body".parse::<ArticleField>().unwrap(),
        ArticleField::TitleAndBody
    );
    assert!("headline".parse::<ArticleField>().is_err());
}

#[test]
fn malformed_articles_name_file_and_line() {
    let p = Path::new("cat/a.txt");
    let err = livedoor::parse_article(b"http://x/\n2012\n\xff title\nbody\n", p, "cat")
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("cat/a.txt:3:") && err.contains("UTF-8"),
        "{err}"
    );
    let err = livedoor::parse_article(b"http://x/\n2012\n", p, "cat")
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("cat/a.txt:3:") && err.contains("title"),
        "{err}"
    );
    let err = livedoor::parse_article(b"", p, "cat")
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("cat/a.txt:1:"), "{err}");
    let a = livedoor::parse_article(
        b"\xEF\xBB\xBFu\r\nd\r\nT\r\n\r\nb1\r\n\r\nb2\r\n\r\n",
        p,
        "cat",
    )
    .unwrap();
    assert_eq!(
        (
            a.url.as_str(),
            a.date.as_str(),
            a.title.as_str(),
            a.body.as_str()
        ),
        ("u", "d", "T", "b1\n\nb2")
    );
    assert_eq!(a.id, "a");
    // Empty dir: a clear error.
    let tmp = common::scratch("livedoor-empty");
    let dir = tmp.path();
    let err = livedoor::read_corpus(dir).unwrap_err().to_string();
    assert!(err.contains("no articles"), "{err}");
}
