//! Data readers: JSONL / CSV / TSV, every error kind with its exact `file:line` message,
//! BOM / CRLF / blank lines, label sets, stratified split, and the bundled data.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use tokken_model::data::{
    parse_label_list, read_examples, stratified_sample, stratified_split, Dataset, LabelTarget,
    ReadOptions,
};

fn read(name: &str, bytes: &[u8]) -> Dataset {
    let (_tmp, path) = common::scratch_file("data", name, bytes);
    read_examples(&path, &ReadOptions::default())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The error message of reading `bytes` as `name`, with the temp path replaced by `name`.
fn read_err_with(name: &str, bytes: &[u8], options: &ReadOptions) -> String {
    let (_tmp, path) = common::scratch_file("data", name, bytes);
    let err = read_examples(&path, options).expect_err("expected an error");
    err.to_string().replace(&path.display().to_string(), name)
}

fn read_err(name: &str, bytes: &[u8]) -> String {
    read_err_with(name, bytes, &ReadOptions::default())
}

fn single(l: &str) -> LabelTarget {
    LabelTarget::Single(l.to_string())
}

#[test]
fn jsonl_reads_text_pair_label_and_extra_fields() {
    let d = read(
        "x.jsonl",
        "{\"text\": \"日銀が利上げ\", \"label\": \"経済\", \"id\": \"h1\", \"n\": 3, \"kind\": null}\n\
         {\"text\": \"首相が訪米\", \"text_pair\": \"外交\", \"label\": \"国際\", \"tags\": [\"a\"]}\n"
            .as_bytes(),
    );
    assert_eq!(d.examples.len(), 2);
    let e = &d.examples[0];
    assert_eq!(e.text, "日銀が利上げ");
    assert_eq!(e.text_pair, None);
    assert_eq!(e.label, single("経済"));
    assert_eq!(e.line, 1);
    let want: BTreeMap<String, String> = [("id", "h1"), ("n", "3")]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    assert_eq!(
        e.extra, want,
        "null fields are left out, numbers become text"
    );
    let e = &d.examples[1];
    assert_eq!(e.text_pair.as_deref(), Some("外交"));
    assert_eq!(e.extra["tags"], "[\"a\"]");
    assert_eq!(e.line, 2);
}

#[test]
fn jsonl_bom_crlf_and_blank_lines() {
    let d = read(
        "x.jsonl",
        b"\xEF\xBB\xBF{\"text\": \"a\", \"label\": \"x\"}\r\n\r\n   \n{\"text\": \"b\", \"label\": \"y\"}\r\n\n",
    );
    let lines: Vec<usize> = d.examples.iter().map(|e| e.line).collect();
    assert_eq!(
        lines,
        vec![1, 4],
        "blank lines are skipped but still counted"
    );
    assert_eq!(d.examples[1].text, "b");
    assert_eq!(d.label_set(), vec!["x", "y"]);
}

#[test]
fn jsonl_integer_labels_and_multi_label() {
    let d = read("x.jsonl", b"{\"text\": \"a\", \"label\": 1}\n");
    assert_eq!(d.examples[0].label, single("1"));
    let (_tmp, path) = common::scratch_file(
        "data",
        "m.jsonl",
        "{\"text\": \"a\", \"labels\": [\"経済\", \"IT・科学\", \"経済\"]}\n\
         {\"text\": \"b\", \"labels\": \"政治\"}\n{\"text\": \"c\", \"labels\": []}\n"
            .as_bytes(),
    );
    let opts = ReadOptions {
        multi_label: true,
        ..ReadOptions::default()
    };
    let d = read_examples(&path, &opts).unwrap();
    let labels: Vec<&[String]> = d.examples.iter().map(|e| e.label.as_slice()).collect();
    assert_eq!(
        labels[0],
        ["経済", "IT・科学"],
        "repeats dropped, order kept"
    );
    assert_eq!(labels[1], ["政治"]);
    assert!(labels[2].is_empty());
}

#[test]
fn jsonl_custom_field_names() {
    let (_tmp, path) = common::scratch_file(
        "data",
        "x.jsonl",
        "{\"headline\": \"a\", \"path\": \"国内/政治\", \"label\": \"政治\"}\n".as_bytes(),
    );
    let opts = ReadOptions {
        text_field: "headline".into(),
        label_field: Some("path".into()),
        ..ReadOptions::default()
    };
    let d = read_examples(&path, &opts).unwrap();
    assert_eq!(d.examples[0].text, "a");
    assert_eq!(d.examples[0].label, single("国内/政治"));
    assert_eq!(d.examples[0].extra["label"], "政治");
}

#[test]
fn jsonl_errors_name_file_line_and_expectation() {
    let ok = "{\"text\": \"a\", \"label\": \"x\"}\n";
    let cases: &[(&str, &str)] = &[
        (
            "{\"label\": \"x\"}\n",
            "x.jsonl:2: expected a string field \"text\"",
        ),
        (
            "{\"text\": 5, \"label\": \"x\"}\n",
            "x.jsonl:2: expected a string field \"text\", found a number",
        ),
        (
            "{\"text\": \"  \", \"label\": \"x\"}\n",
            "x.jsonl:2: field \"text\" is empty",
        ),
        (
            "{\"text\": \"a\"}\n",
            "x.jsonl:2: expected a string field \"label\" (the label)",
        ),
        (
            "{\"text\": \"a\", \"label\": [\"x\"]}\n",
            "x.jsonl:2: expected a string field \"label\" (the label), found an array",
        ),
        (
            "{\"text\": \"a\", \"label\": \" \"}\n",
            "x.jsonl:2: field \"label\": expected non-empty label names",
        ),
        (
            "{\"text\": \"a\", \"text_pair\": 1, \"label\": \"x\"}\n",
            "x.jsonl:2: expected field \"text_pair\" to be a string, found a number",
        ),
        (
            "[1, 2]\n",
            "x.jsonl:2: expected a JSON object, found an array",
        ),
        (
            "\"text\"\n",
            "x.jsonl:2: expected a JSON object, found a string",
        ),
    ];
    for (line2, want) in cases {
        let got = read_err("x.jsonl", format!("{ok}{line2}").as_bytes());
        assert_eq!(&got, want, "for line {line2:?}");
    }
    let got = read_err("x.jsonl", format!("{ok}{{\"text\": \"a\",\n").as_bytes());
    assert!(
        got.starts_with("x.jsonl:2: expected a JSON object: "),
        "{got}"
    );
    let got = read_err("x.jsonl", b"[{\"text\": \"a\", \"label\": \"x\"}]\n");
    assert_eq!(
        got,
        "x.jsonl:1: expected one JSON object per line (JSON Lines), found a JSON array"
    );
    let multi = ReadOptions {
        multi_label: true,
        ..ReadOptions::default()
    };
    let got = read_err_with(
        "x.jsonl",
        b"{\"text\": \"a\", \"labels\": [\"x\", 1.5]}\n",
        &multi,
    );
    assert_eq!(
        got,
        "x.jsonl:1: expected field \"labels\" to be an array of strings, found an element that is a number"
    );
    let got = read_err_with("x.jsonl", b"{\"text\": \"a\", \"label\": \"x\"}\n", &multi);
    assert_eq!(
        got,
        "x.jsonl:1: expected an array of strings field \"labels\" (the label)"
    );
}

#[test]
fn invalid_utf8_names_the_line() {
    let got = read_err(
        "x.jsonl",
        b"{\"text\": \"a\", \"label\": \"x\"}\n\n{\"text\": \"\xff\", \"label\": \"x\"}\n",
    );
    assert_eq!(
        got,
        "x.jsonl:3: invalid UTF-8 at byte 11 of the line (data files must be UTF-8)"
    );
    let got = read_err("x.csv", b"text,label\nok,x\n\"a\xe3\x81\",x\n");
    assert_eq!(
        got,
        "x.csv:3: invalid UTF-8 in column \"text\" at byte 2 of the cell (data files must be UTF-8)"
    );
}

#[test]
fn file_level_errors() {
    assert_eq!(
        read_err("x.txt", b"a\n"),
        "x.txt: unknown data format: expected a .jsonl, .json, .csv or .tsv file"
    );
    assert_eq!(
        read_err("x.jsonl", b"\n\n"),
        "x.jsonl: no examples (the file has no data rows)"
    );
    assert_eq!(
        read_err("x.csv", b""),
        "x.csv: empty file: expected a header row naming the columns"
    );
    assert_eq!(
        read_err("x.csv", b"text,label\n"),
        "x.csv: no examples (the file has no data rows)"
    );
    let missing = std::env::temp_dir().join("tokken-no-such-dir/none.jsonl");
    let err = read_examples(&missing, &ReadOptions::default()).unwrap_err();
    assert!(err.to_string().starts_with(&missing.display().to_string()));
}

#[test]
fn csv_quotes_crlf_bom_blank_lines_and_trailing_commas() {
    let d = read(
        "x.csv",
        "\u{feff}id,text,label,source,\r\n1,\"日銀、利上げ \"\"決定\"\"\",経済,A,\r\n\r\n2,\"二行\n目\",政治,,\r\n3,短い,国際,B\r\n"
            .as_bytes(),
    );
    assert_eq!(d.examples.len(), 3);
    assert_eq!(d.examples[0].text, "日銀、利上げ \"決定\"");
    assert_eq!(d.examples[0].extra["source"], "A");
    assert_eq!(d.examples[0].extra["id"], "1");
    assert_eq!(d.examples[1].text, "二行\n目");
    assert!(
        !d.examples[1].extra.contains_key("source"),
        "empty cells are left out"
    );
    let lines: Vec<usize> = d.examples.iter().map(|e| e.line).collect();
    assert_eq!(
        lines,
        vec![2, 4, 6],
        "row start lines; quoted line break counted"
    );
    assert_eq!(d.label_set(), vec!["国際", "政治", "経済"]);
}

#[test]
fn tsv_has_no_quoting() {
    let d = read(
        "x.tsv",
        "text\ttext_pair\tlabel\n「速報」\"号外\"\t\tエンタメ\n前\t後\tスポーツ\n".as_bytes(),
    );
    assert_eq!(d.examples[0].text, "「速報」\"号外\"");
    assert_eq!(d.examples[0].text_pair, None);
    assert_eq!(d.examples[1].text_pair.as_deref(), Some("後"));
}

#[test]
fn csv_multi_label_cells() {
    let (_tmp, path) = common::scratch_file(
        "data",
        "m.csv",
        "text,labels\na,経済|IT・科学\nb,\n".as_bytes(),
    );
    let opts = ReadOptions {
        multi_label: true,
        ..ReadOptions::default()
    };
    let d = read_examples(&path, &opts).unwrap();
    assert_eq!(
        d.examples[0].label,
        LabelTarget::Multi(vec!["経済".into(), "IT・科学".into()])
    );
    assert_eq!(d.examples[1].label, LabelTarget::Multi(vec![]));
}

#[test]
fn csv_errors_name_file_line_and_expectation() {
    let cases: &[(&str, &str)] = &[
        (
            "body,label\na,x\n",
            "x.csv:1: expected a header column \"text\" (the text); the header has [body, label]",
        ),
        (
            "text,cat\na,x\n",
            "x.csv:1: expected a header column \"label\" (the label); the header has [text, cat]",
        ),
        (
            "text,,label\na,,x\n",
            "x.csv:1: header column 2 has no name",
        ),
        (
            "text,label,text\na,x,b\n",
            "x.csv:1: header names column \"text\" twice",
        ),
        (
            "text,label\na,x\nb\n",
            "x.csv:3: expected 2 fields as in the header, found 1",
        ),
        (
            "text,label\na,x\nb,y,z\n",
            "x.csv:3: expected 2 fields as in the header, found 3",
        ),
        (
            "text,label\na,x\n,y\n",
            "x.csv:3: expected a text in column \"text\"",
        ),
        (
            "text,label\na,x\nb, \n",
            "x.csv:3: expected a label in column \"label\"",
        ),
    ];
    for (body, want) in cases {
        assert_eq!(&read_err("x.csv", body.as_bytes()), want, "for {body:?}");
    }
    assert_eq!(
        read_err("x.tsv", b"text\tlabel\na\tx\nb\n"),
        "x.tsv:3: expected 2 fields as in the header, found 1"
    );
}

#[test]
fn label_sets_given_and_unknown() {
    let d = read(
        "x.jsonl",
        "{\"text\": \"a\", \"label\": \"経済\"}\n{\"text\": \"b\", \"label\": \"映画\"}\n\
         {\"text\": \"c\", \"label\": \"政治\"}\n{\"text\": \"d\", \"label\": \"映画\"}\n{\"text\": \"e\", \"label\": \"天気\"}\n"
            .as_bytes(),
    );
    assert_eq!(d.label_set(), vec!["天気", "政治", "映画", "経済"]);
    let given = parse_label_list("経済, 政治").unwrap();
    assert_eq!(given, vec!["経済", "政治"]);
    assert_eq!(
        d.unknown_labels(&given),
        vec![
            (2, "映画".to_string()),
            (4, "映画".to_string()),
            (5, "天気".to_string())
        ]
    );
    let msg = d
        .check_labels(&given)
        .unwrap_err()
        .to_string()
        .replace(&d.path.display().to_string(), "x.jsonl");
    assert_eq!(
        msg,
        "x.jsonl:2: label \"映画\" is not one of the 2 known labels [経済, 政治]; 3 lines have \
         unknown labels: \"天気\" (first at line 5), \"映画\" (first at line 2)"
    );
    let all = d.label_set();
    assert_eq!(d.label_ids(&all).unwrap(), vec![3, 2, 1, 2, 0]);
    assert!(parse_label_list("a,,b").is_err());
    assert!(parse_label_list("a,b,a").is_err());
}

/// `n[label]` examples per label, in interleaved order.
fn synthetic(counts: &[(&str, usize)]) -> Dataset {
    let mut body = String::new();
    let max = counts.iter().map(|c| c.1).max().unwrap();
    for i in 0..max {
        for (label, n) in counts {
            if i < *n {
                body.push_str(&format!("{{\"text\": \"t{i}\", \"label\": \"{label}\"}}\n"));
            }
        }
    }
    read("s.jsonl", body.as_bytes())
}

#[test]
fn stratified_split_proportions_and_determinism() {
    let d = synthetic(&[("a", 50), ("b", 30), ("c", 15), ("d", 4), ("e", 1)]);
    let n = d.examples.len();
    let s = stratified_split(&d.examples, 0.1, 7).unwrap();
    assert_eq!(s.train.len() + s.eval.len(), n);
    assert_eq!(s.eval.len(), 10, "round(0.1 * 100)");
    let mut all: Vec<usize> = s.train.iter().chain(&s.eval).copied().collect();
    all.sort_unstable();
    assert_eq!(all, (0..n).collect::<Vec<_>>(), "a partition");
    assert!(s.train.windows(2).all(|w| w[0] < w[1]));
    let count = |idx: &[usize], l: &str| {
        idx.iter()
            .filter(|&&i| d.examples[i].label.as_slice()[0] == l)
            .count()
    };
    // floor quotas 5, 3, 1, 0, 0 then one more by largest remainder: c (0.5) then d (0.4).
    assert_eq!(count(&s.eval, "a"), 5);
    assert_eq!(count(&s.eval, "b"), 3);
    assert_eq!(count(&s.eval, "c"), 2);
    assert_eq!(count(&s.eval, "d"), 0);
    assert_eq!(count(&s.eval, "e"), 0, "a single example stays in train");
    assert_eq!(stratified_split(&d.examples, 0.1, 7).unwrap(), s);
    let other = stratified_split(&d.examples, 0.1, 8).unwrap();
    assert_ne!(other.eval, s.eval, "another seed draws other examples");
    assert_eq!(count(&other.eval, "a"), 5);
    for bad in [0.0, 1.0, -0.5, f64::NAN] {
        assert!(stratified_split(&d.examples, bad, 7).is_err(), "{bad}");
    }
    let single = synthetic(&[("a", 1), ("b", 1), ("c", 1)]);
    assert!(stratified_split(&single.examples, 0.5, 1).is_err());
}

#[test]
fn stratified_split_seed_moves_every_label() {
    // Across seeds, every example of a large class is sometimes held out.
    let d = synthetic(&[("a", 20), ("b", 20)]);
    let mut seen = vec![false; d.examples.len()];
    for seed in 0..60 {
        let s = stratified_split(&d.examples, 0.25, seed).unwrap();
        assert_eq!(s.eval.len(), 10);
        for &i in &s.eval {
            seen[i] = true;
        }
    }
    assert!(seen.iter().all(|&x| x), "shuffle reaches every example");
}

fn bundled(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../data")
        .join(rel)
}

#[test]
fn bundled_data_reads_cleanly() {
    let flat = [
        "IT・科学",
        "エンタメ",
        "スポーツ",
        "国際",
        "政治",
        "社会",
        "経済",
    ];
    let mut total = 0;
    for (file, rows) in [
        ("headlines/train.jsonl", 830),
        ("headlines/dev.jsonl", 176),
        ("headlines/test.jsonl", 176),
        ("hard/hard.jsonl", 189),
    ] {
        let path = bundled(file);
        let d = read_examples(&path, &ReadOptions::default()).unwrap();
        assert_eq!(d.examples.len(), rows, "{file}");
        assert_eq!(d.label_set(), flat, "{file}");
        for e in &d.examples {
            assert!(e.extra.contains_key("id") && e.extra.contains_key("path"));
            assert!(e.extra.contains_key("labels"));
        }
        if file.starts_with("hard") {
            assert!(d.examples.iter().all(|e| e.extra.contains_key("kind")));
        }
        // Multi-label and hierarchical views of the same file.
        let multi = ReadOptions {
            multi_label: true,
            ..ReadOptions::default()
        };
        let m = read_examples(&path, &multi).unwrap();
        assert!(m
            .examples
            .iter()
            .zip(&d.examples)
            .all(|(m, s)| m.label.as_slice()[0] == s.label.as_slice()[0]));
        let paths = ReadOptions {
            label_field: Some("path".into()),
            ..ReadOptions::default()
        };
        let p = read_examples(&path, &paths).unwrap();
        assert!(p.label_set().len() <= 9);
        total += rows;
    }
    assert_eq!(total, 1371);
    let train = read_examples(&bundled("headlines/train.jsonl"), &ReadOptions::default()).unwrap();
    let s = stratified_split(&train.examples, 0.1, 42).unwrap();
    assert_eq!(s.eval.len(), 83);
}

#[test]
fn stratified_sample_total_and_per_class() {
    let d = synthetic(&[("a", 50), ("b", 30), ("c", 15), ("d", 4), ("e", 1)]);
    let count = |idx: &[usize], l: &str| {
        idx.iter()
            .filter(|&&i| d.examples[i].label.as_slice()[0] == l)
            .count()
    };
    let s = stratified_sample(&d.examples, 20, false, 3).unwrap();
    assert_eq!(s.len(), 20);
    assert!(s.windows(2).all(|w| w[0] < w[1]));
    // Exact shares 10, 6, 3, 0.8, 0.2 -> floors 10, 6, 3, 0, 0; the one left goes to d.
    let got: Vec<usize> = ["a", "b", "c", "d", "e"]
        .iter()
        .map(|l| count(&s, l))
        .collect();
    assert_eq!(got, vec![10, 6, 3, 1, 0]);
    assert_eq!(stratified_sample(&d.examples, 20, false, 3).unwrap(), s);
    assert_ne!(stratified_sample(&d.examples, 20, false, 4).unwrap(), s);
    let p = stratified_sample(&d.examples, 5, true, 3).unwrap();
    let got: Vec<usize> = ["a", "b", "c", "d", "e"]
        .iter()
        .map(|l| count(&p, l))
        .collect();
    assert_eq!(got, vec![5, 5, 5, 4, 1], "all of a label with fewer than 5");
    assert_eq!(
        stratified_sample(&d.examples, 100, false, 1).unwrap(),
        (0..100).collect::<Vec<_>>()
    );
    assert!(stratified_sample(&d.examples, 0, true, 1).is_err());
    assert!(stratified_sample(&d.examples, 101, false, 1).is_err());
}

#[test]
fn balanced_class_weights_as_scikit_learn() {
    // sklearn compute_class_weight("balanced"): n / (n_classes * bincount).
    let d = synthetic(&[("a", 6), ("b", 3), ("c", 1)]);
    let labels: Vec<String> = ["a", "b", "c"].map(String::from).to_vec();
    let w = d.balanced_class_weights(&labels).unwrap();
    let want = [10.0 / 18.0, 10.0 / 9.0, 10.0 / 3.0];
    for (g, w) in w.iter().zip(want) {
        assert!((g - w).abs() < 1e-12, "{g} vs {w}");
    }
    let more: Vec<String> = ["a", "b", "c", "z"].map(String::from).to_vec();
    let err = d.balanced_class_weights(&more).unwrap_err().to_string();
    assert!(err.contains("label \"z\" has no examples"), "{err}");
}
