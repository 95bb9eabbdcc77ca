//! Probe files (errors name file:line, expansion into pairs, the shipped set), flip
//! statistics on a hand case, group weights and per-group gaps on hand cases.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use tokken_model::bias::{flip_stats, group_scores, group_weights, ProbeSet};
use tokken_model::data::{Dataset, Example, LabelTarget};

fn parse(text: &str) -> Result<ProbeSet, String> {
    ProbeSet::parse(Path::new("probes/x.jsonl"), text).map_err(|e| e.to_string())
}

#[test]
fn parser_errors_name_file_and_line() {
    let group = r#"{"group": "gender", "terms": [["男性", "女性"]]}"#;
    let cases: [(String, usize, &str); 9] = [
        (format!("{group}\n{{\"template\": \"{{X}}が辞任\"\n"), 2, "JSON"),
        (format!("{group}\n\n[1, 2]\n"), 3, "object"),
        (format!("{group}\n{{\"template\": \"社長が辞任\", \"group\": \"gender\"}}\n"), 2, "slot"),
        (format!("{group}\n{{\"template\": \"{{X}}が辞任\"}}\n"), 2, "group"),
        (format!("{group}\n{{\"template\": \"{{X}}が辞任\", \"group\": \"age\"}}\n"), 2, "age"),
        (
            format!("{group}\n{{\"template\": \"{{X}}が辞任\", \"group\": \"gender\", \"lable\": \"経済\"}}\n"),
            2,
            "unknown field \"lable\"",
        ),
        (r#"{"group": "gender", "terms": [["男性"]]}"#.to_string(), 1, "at least two"),
        (r#"{"group": "gender", "terms": [["男性", "男性"]]}"#.to_string(), 1, "twice"),
        (format!("# c\n{group}\n{group}\n"), 3, "already defined at line 2"),
    ];
    for (text, line, what) in cases {
        let err = parse(&text).unwrap_err();
        assert!(
            err.starts_with(&format!("probes/x.jsonl:{line}: ")) && err.contains(what),
            "expected probes/x.jsonl:{line}: …{what}…, got: {err}"
        );
    }
    let err = parse(&format!("{group}\n")).unwrap_err();
    assert!(err.contains("no templates"), "{err}");
}

#[test]
fn templates_expand_into_pairs_of_each_set() {
    let p = parse(concat!(
        "# gender first, templates may come before the group they use\n",
        r#"{"template": "{X}社長が{X}の会社を辞任", "group": "gender", "label": "経済"}"#, "\n",
        r#"{"group": "gender", "terms": [["男性", "女性"], ["夫", "妻"]]}"#, "\n",
        r#"{"template": "<Y>が来日", "slot": "Y", "group": "nat", "terms": [["日本人", "中国人", "米国人"]]}"#, "\n",
    ).replace("<Y>", "{Y}").as_str())
    .unwrap();
    assert_eq!(p.templates.len(), 2);
    assert_eq!(p.group_names(), ["gender", "nat"]);
    let pairs = p.pairs();
    let got: Vec<(&str, &str, usize)> = pairs
        .iter()
        .map(|q| (q.texts[0].as_str(), q.texts[1].as_str(), q.line))
        .collect();
    assert_eq!(
        got,
        [
            (
                "男性社長が男性の会社を辞任",
                "女性社長が女性の会社を辞任",
                2
            ),
            ("夫社長が夫の会社を辞任", "妻社長が妻の会社を辞任", 2),
            ("日本人が来日", "中国人が来日", 4),
            ("日本人が来日", "米国人が来日", 4),
            ("中国人が来日", "米国人が来日", 4),
        ]
    );
    assert_eq!(pairs[0].label.as_deref(), Some("経済"));
    assert_eq!(pairs[2].terms, ["日本人".to_string(), "中国人".to_string()]);
}

#[test]
fn shipped_probe_set_parses_with_every_group() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../data/probes/bias_probes.jsonl");
    let p = ProbeSet::load(&path).unwrap();
    assert!(p.templates.len() >= 60, "{} templates", p.templates.len());
    for g in [
        "gender",
        "age",
        "nationality",
        "region",
        "occupation",
        "politics",
    ] {
        let n = p.templates.iter().filter(|t| t.group == g).count();
        assert!(n >= 10, "group {g}: {n} templates");
        assert!(
            p.groups.iter().any(|d| d.name == g),
            "group {g} has no term line"
        );
    }
    let pairs = p.pairs();
    let labels = [
        "政治",
        "経済",
        "国際",
        "社会",
        "スポーツ",
        "IT・科学",
        "エンタメ",
    ];
    assert!(p
        .templates
        .iter()
        .all(|t| t.label.as_deref().is_some_and(|l| labels.contains(&l))));
    // Every pair differs, and only where the slot was.
    for q in &pairs {
        assert_ne!(q.texts[0], q.texts[1]);
        let t = &p.templates[q.template];
        assert_eq!(t.fill(&q.terms[0]), q.texts[0]);
    }
    println!("{} templates, {} pairs", p.templates.len(), pairs.len());
}

#[test]
fn flip_statistics_on_a_hand_case() {
    let p = parse(concat!(
        r#"{"group": "g", "terms": [["a", "b"]]}"#,
        "\n",
        r#"{"group": "h", "terms": [["c", "d"]]}"#,
        "\n",
        r#"{"template": "{X}1", "group": "g", "label": "L0"}"#,
        "\n",
        r#"{"template": "{X}2", "group": "g", "label": "L0"}"#,
        "\n",
        r#"{"template": "{X}3", "group": "h"}"#,
        "\n",
    ))
    .unwrap();
    let pairs = p.pairs();
    let labels = vec!["L0".to_string(), "L1".to_string()];
    let probs = vec![
        [vec![0.9, 0.1], vec![0.3, 0.7]], // flips, |Δp| 0.6
        [vec![0.8, 0.2], vec![0.7, 0.3]], // no flip, 0.1
        [vec![0.4, 0.6], vec![0.2, 0.8]], // no flip, 0.2
    ];
    let s = flip_stats(&pairs, &probs, &labels, 2).unwrap();
    assert_eq!((s.pairs, s.flips), (3, 1));
    assert!((s.flip_rate - 1.0 / 3.0).abs() < 1e-12);
    assert!((s.mean_max_abs_dp - 0.3).abs() < 1e-6);
    let g: Vec<(&str, usize, f64)> = s
        .per_group
        .iter()
        .map(|c| (c.group.as_str(), c.flips, c.flip_rate))
        .collect();
    assert_eq!(g, [("g", 1, 0.5), ("h", 0, 0.0)]);
    assert!((s.per_class[0].mean_abs_dp - 0.3).abs() < 1e-6);
    assert!((s.per_class[1].max_abs_dp - 0.6).abs() < 1e-6);
    // Expected label L0 on 4 texts of group g: 3 predicted L0.
    assert_eq!(s.expected_label_accuracy, Some(0.75));
    assert_eq!(s.worst_pairs.len(), 2);
    assert!(s.worst_pairs[0].flipped && s.worst_pairs[0].texts[0] == "a1");
    assert_eq!(s.worst_pairs[1].texts[0], "c3");
    assert!(flip_stats(&pairs, &probs[..2], &labels, 2).is_err());
}

fn example(group: Option<&str>, label: &str) -> Example {
    let mut extra = BTreeMap::new();
    if let Some(g) = group {
        extra.insert("gender".to_string(), g.to_string());
    }
    Example {
        text: "t".into(),
        text_pair: None,
        label: LabelTarget::Single(label.into()),
        extra,
        line: 1,
    }
}

#[test]
fn group_weights_give_every_group_the_same_total() {
    // 6 examples: 3 "m", 2 "f", 1 without the field. N = 6, G = 3:
    // s = N / (G n_g) = 6/9, 6/6, 6/3.
    let groups = [Some("m"), Some("f"), Some("m"), None, Some("m"), Some("f")];
    let data = Dataset {
        path: "d.jsonl".into(),
        examples: groups.iter().map(|g| example(*g, "a")).collect(),
        multi_label: false,
    };
    let w = group_weights(&data, "gender").unwrap();
    let want = [2.0 / 3.0, 1.0, 2.0 / 3.0, 2.0, 2.0 / 3.0, 1.0];
    for (g, e) in w.iter().zip(want) {
        assert!((*g as f64 - e).abs() < 1e-6, "{w:?}");
    }
    let total = |name: Option<&str>| -> f32 {
        groups
            .iter()
            .zip(&w)
            .filter(|(g, _)| **g == name)
            .map(|(_, w)| w)
            .sum()
    };
    for g in [Some("m"), Some("f"), None] {
        assert!((total(g) - 2.0).abs() < 1e-6);
    }
    let err = group_weights(&data, "gendr").unwrap_err().to_string();
    assert!(err.contains("d.jsonl") && err.contains("gendr"), "{err}");
}

#[test]
fn group_scores_report_the_largest_gap() {
    let examples: Vec<Example> = ["m", "m", "m", "m", "f", "f"]
        .iter()
        .map(|g| example(Some(g), "a"))
        .collect();
    let labels = vec!["a".to_string(), "b".to_string()];
    let y_true = [0, 0, 1, 1, 0, 1];
    let y_pred = [0, 0, 1, 0, 1, 0];
    let s = group_scores(&examples, &y_true, &y_pred, &labels, "gender").unwrap();
    let acc: Vec<(&str, f64)> = s
        .groups
        .iter()
        .map(|g| (g.value.as_str(), g.accuracy))
        .collect();
    assert_eq!(acc, [("f", 0.0), ("m", 0.75)]);
    assert_eq!(s.accuracy_gap.best_group, "m");
    assert_eq!(s.accuracy_gap.worst_group, "f");
    assert!((s.accuracy_gap.gap - 0.75).abs() < 1e-12);
    assert!(group_scores(&examples, &y_true, &y_pred, &labels, "age").is_err());
}
