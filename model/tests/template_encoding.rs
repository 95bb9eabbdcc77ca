//! Template encoding against the tokenizer's own pair / single encodings (HF semantics):
//! pair-mode type ids, truncation that cuts the steps before the headline, prefix mode
//! telling steps and text apart by offsets, `none` equal to the plain encoding, and the
//! errors of template files. Needs the MeCab dictionary (skipped when absent).

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use tokken_model::data::{Dataset, Example, LabelTarget};
use tokken_model::template::{builtin, check_no_pairs, Template, TemplateEncoder, TemplateMode};
use tokken_tokenizer::encoder::{EncodeOptions, Truncation};
use tokken_tokenizer::{find_dicdir, Analyzer, SubwordMode, Tokenizer, TokenizerConfig, Vocab};

const TEXTS: [&str; 5] = [
    "円安が進行、外務省がコメント",
    "首相、会見へ",
    "企業業績、上向き",
    "日本代表が逆転勝ちで決勝進出を決める",
    "",
];
const PREFIX: &str = "手順を読む。見出し：{text}。以上で判断";

/// A character tokenizer whose vocabulary holds every character used here.
fn tokenizer() -> Option<Tokenizer> {
    let dicdir = match find_dicdir(None) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("skipping: no MeCab dictionary: {e}");
            return None;
        }
    };
    let mut chars = BTreeSet::new();
    let steps = [
        builtin::COT_JA_STEPS,
        builtin::COT_JA_PREFIX,
        PREFIX,
        "ペア側の文",
    ];
    for s in TEXTS.iter().chain(&steps) {
        chars.extend(s.chars().filter(|c| !c.is_whitespace()));
    }
    let mut tokens: Vec<String> = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    tokens.extend(chars.into_iter().map(String::from));
    let config = TokenizerConfig {
        subword: SubwordMode::Character,
        ..TokenizerConfig::default()
    };
    let analyzer = Analyzer::open(&dicdir).unwrap();
    Some(Tokenizer::new(analyzer, Vocab::from_tokens(tokens), config).unwrap())
}

fn raw_ids(tok: &Tokenizer, text: &str) -> Vec<u32> {
    let opts = EncodeOptions {
        add_special_tokens: false,
        ..EncodeOptions::default()
    };
    tok.encode(text, &opts).ids
}

fn cot_ja() -> Template {
    builtin::builtin("cot-ja").unwrap()
}

#[test]
fn pair_mode_is_the_hf_pair_with_type_ids_0_then_1() {
    let Some(tok) = tokenizer() else { return };
    let t = cot_ja();
    let got = TemplateEncoder::new(&tok, Some(&t), 512).encode_texts(&TEXTS);
    for (text, e) in TEXTS.iter().zip(&got) {
        let want = tok.encode_pair(&t.steps, text, &EncodeOptions::default());
        assert_eq!(e.ids, want.ids, "{text}");
        assert_eq!(e.type_ids, want.type_ids, "{text}");
        let n_a = raw_ids(&tok, &t.steps).len() + 2;
        assert!(e.type_ids[..n_a].iter().all(|&x| x == 0));
        assert!(e.type_ids[n_a..].iter().all(|&x| x == 1));
        // Offsets refer to the headline only: the steps' are (0, 0).
        assert!(e.offsets[..n_a].iter().all(|&o| o == (0, 0)));
        assert_eq!(e.offsets[n_a..], want.offsets[n_a..]);
    }
}

#[test]
fn pair_mode_cuts_the_steps_first_and_the_headline_only_when_no_steps_are_left() {
    let Some(tok) = tokenizer() else { return };
    let t = cot_ja();
    let steps = raw_ids(&tok, &t.steps);
    let text = TEXTS[3];
    let head = raw_ids(&tok, text);
    let full = steps.len() + head.len() + 3;
    // Cut 5 tokens: all from the steps (HF only_first), the headline intact.
    let max = full - 5;
    let e = &TemplateEncoder::new(&tok, Some(&t), max).encode_texts(&[text])[0];
    assert_eq!(e.len(), max);
    let only_first = EncodeOptions {
        truncation: Truncation::OnlyFirst,
        max_length: Some(max),
        ..EncodeOptions::default()
    };
    assert_eq!(e.ids, tok.encode_pair(&t.steps, text, &only_first).ids);
    assert_eq!(e.ids[max - 1 - head.len()..max - 1], head[..]);
    assert_eq!(e.ids[1..1 + steps.len() - 5], steps[..steps.len() - 5]);
    // Exactly the steps' length too much: no steps at all, the headline whole.
    let e = &TemplateEncoder::new(&tok, Some(&t), head.len() + 3).encode_texts(&[text])[0];
    let mut want = vec![tok.cls_id(), tok.sep_id()];
    want.extend(&head);
    want.push(tok.sep_id());
    assert_eq!(e.ids, want);
    // Shorter still: the headline is cut from the right.
    let e = &TemplateEncoder::new(&tok, Some(&t), 8).encode_texts(&[text])[0];
    let mut want = vec![tok.cls_id(), tok.sep_id()];
    want.extend(&head[..5]);
    want.push(tok.sep_id());
    assert_eq!(e.ids, want);
    assert_eq!(e.type_ids, [0, 0, 1, 1, 1, 1, 1, 1]);
}

fn prefix() -> Template {
    Template {
        name: "p".into(),
        mode: TemplateMode::Prefix,
        steps: PREFIX.into(),
    }
}

#[test]
fn prefix_mode_is_one_sequence_and_offsets_mark_the_headline() {
    let Some(tok) = tokenizer() else { return };
    let t = prefix();
    let got = TemplateEncoder::new(&tok, Some(&t), 512).encode_texts(&TEXTS);
    for (text, e) in TEXTS.iter().zip(&got) {
        let full = PREFIX.replace("{text}", text);
        let want = tok.encode(&full, &EncodeOptions::default());
        assert_eq!(e.ids, want.ids, "{text}");
        assert!(e.type_ids.iter().all(|&x| x == 0));
        // Text tokens: offsets cover the headline's chars in order; steps: (0, 0).
        let spans: Vec<(usize, usize)> =
            e.offsets.iter().copied().filter(|&o| o != (0, 0)).collect();
        let covered: usize = spans.iter().map(|(s, e)| e - s).sum();
        assert_eq!(covered, text.chars().count(), "{text}");
        assert!(spans.windows(2).all(|w| w[0].1 == w[1].0));
    }
}

#[test]
fn prefix_mode_cuts_the_steps_first() {
    let Some(tok) = tokenizer() else { return };
    let t = prefix();
    let text = TEXTS[3];
    let untruncated = &TemplateEncoder::new(&tok, Some(&t), 512).encode_texts(&[text])[0];
    let is_text: Vec<bool> = untruncated.offsets.iter().map(|&o| o != (0, 0)).collect();
    let text_ids: Vec<u32> = (0..untruncated.len())
        .filter(|&i| is_text[i])
        .map(|i| untruncated.ids[i])
        .collect();
    let n_steps = untruncated.len() - 2 - text_ids.len();
    for cut in [1, 4, n_steps] {
        let max = untruncated.len() - cut;
        let e = &TemplateEncoder::new(&tok, Some(&t), max).encode_texts(&[text])[0];
        assert_eq!(e.len(), max, "cut {cut}");
        let kept_text: Vec<u32> = (0..e.len())
            .filter(|&i| e.offsets[i] != (0, 0))
            .map(|i| e.ids[i])
            .collect();
        assert_eq!(kept_text, text_ids, "cut {cut}: the headline is intact");
    }
    // Steps from the right: the ones after the slot go before the ones before it.
    let e = &TemplateEncoder::new(&tok, Some(&t), untruncated.len() - 1).encode_texts(&[text])[0];
    assert_eq!(
        e.ids[..e.len() - 1],
        untruncated.ids[..untruncated.len() - 2]
    );
    // Beyond the steps: the headline is cut from the right.
    let e = &TemplateEncoder::new(&tok, Some(&t), 6).encode_texts(&[text])[0];
    let mut want = vec![tok.cls_id()];
    want.extend(&text_ids[..4]);
    want.push(tok.sep_id());
    assert_eq!(e.ids, want);
}

#[test]
fn none_is_the_plain_encoding_with_and_without_pairs() {
    let Some(tok) = tokenizer() else { return };
    let none = builtin::builtin("none").unwrap();
    for max in [3, 5, 8, 13, 512] {
        let plain = TemplateEncoder::new(&tok, None, max);
        let with = TemplateEncoder::new(&tok, Some(&none), max);
        assert_eq!(
            with.encode_texts(&TEXTS),
            plain.encode_texts(&TEXTS),
            "max {max}"
        );
        let items: Vec<(&str, Option<&str>)> =
            TEXTS.iter().map(|t| (*t, Some("ペア側の文"))).collect();
        let got = with.encode_items(&items).unwrap();
        assert_eq!(got, plain.encode_items(&items).unwrap(), "max {max}");
        let opts = EncodeOptions::truncate_to(max);
        for ((a, b), e) in items.iter().zip(&got) {
            let want = tok.encode_pair(
                a,
                b.unwrap(),
                &EncodeOptions {
                    padding: Default::default(),
                    ..opts
                },
            );
            assert_eq!(*e, want);
        }
    }
}

#[test]
fn prefix_mode_with_a_text_pair_cuts_steps_then_longest_first() {
    let Some(tok) = tokenizer() else { return };
    let t = prefix();
    let (text, pair) = (TEXTS[0], "ペア側の文");
    let e = &TemplateEncoder::new(&tok, Some(&t), 12)
        .encode_items(&[(text, Some(pair))])
        .unwrap()[0];
    // No steps left; text and pair as HF longest_first cuts them without steps.
    let want = tok.encode_pair(text, pair, &EncodeOptions::truncate_to(12));
    assert_eq!(e.ids, want.ids);
    assert_eq!(e.type_ids, want.type_ids);
}

#[test]
fn pair_mode_and_a_text_pair_are_refused() {
    let Some(tok) = tokenizer() else { return };
    let t = cot_ja();
    let err = TemplateEncoder::new(&tok, Some(&t), 64)
        .encode_items(&[("a", None), ("b", Some("c"))])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("pair mode") && err.contains("text_pair"),
        "{err}"
    );
    let example = |line, pair: Option<&str>| Example {
        text: "x".into(),
        text_pair: pair.map(String::from),
        label: LabelTarget::Single("a".into()),
        extra: Default::default(),
        line,
    };
    let data = Dataset {
        path: PathBuf::from("data.jsonl"),
        examples: vec![example(1, None), example(2, Some("y"))],
        multi_label: false,
    };
    let err = check_no_pairs(Some(&t), &data).unwrap_err().to_string();
    assert!(err.starts_with("data.jsonl:2: template `cot-ja`"), "{err}");
    assert!(check_no_pairs(Some(&prefix()), &data).is_ok());
    assert!(check_no_pairs(None, &data).is_ok());
}

fn template_file(dir: &Path, name: &str, json: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, json).unwrap();
    path
}

fn load_err(dir: &Path, name: &str, json: &str) -> String {
    let path = template_file(dir, name, json);
    let err = Template::load(path.to_str().unwrap())
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with(&path.display().to_string()),
        "names the file: {err}"
    );
    err
}

#[test]
fn template_files_parse_and_bad_ones_say_what_is_wrong() {
    // Removed when `tmp` drops, also when the test panics.
    let tmp = common::scratch("template");
    let dir = tmp.path();
    let path = template_file(
        dir,
        "mine.json",
        r#"{"mode": "prefix", "template": "見出し：{text}"}"#,
    );
    let t = Template::load(path.to_str().unwrap()).unwrap();
    assert_eq!(t.name, "mine", "name defaults to the file stem");
    assert_eq!(t.prefix_parts(), ("見出し：", ""));
    let t = Template::load(
        template_file(
            dir,
            "p.json",
            r#"{"name": "s", "mode": "pair", "steps": "手順"}"#,
        )
        .to_str()
        .unwrap(),
    )
    .unwrap();
    assert_eq!((t.name.as_str(), t.mode), ("s", TemplateMode::Pair));

    let cases = [
        (
            r#"{"mode": "prefix", "template": "手順"}"#,
            "no {text} slot",
        ),
        (
            r#"{"mode": "prefix", "template": "{text}{text}"}"#,
            "2 {text} slots",
        ),
        (
            r#"{"mode": "pair", "steps": "手順 {text}"}"#,
            "must not contain {text}",
        ),
        (r#"{"mode": "pair"}"#, "needs \"steps\""),
        (
            r#"{"mode": "pair", "template": "{text}"}"#,
            "not \"template\"",
        ),
        (r#"{"mode": "prefix", "steps": "x"}"#, "not \"steps\""),
        (r#"{"steps": "x"}"#, "missing \"mode\""),
        (r#"{"mode": "pair", "step": "x"}"#, "unknown field `step`"),
        (
            r#"{"mode": "both", "steps": "x"}"#,
            "unknown variant `both`",
        ),
        (r#"{"mode": "pair", "steps": "x""#, "not a template"),
        (
            r#"{"name": "a/b", "mode": "pair", "steps": "x"}"#,
            "must be non-empty",
        ),
    ];
    for (i, (json, want)) in cases.iter().enumerate() {
        let err = load_err(dir, &format!("bad{i}.json"), json);
        assert!(err.contains(want), "{json}: {err}");
    }
    let err = Template::load("no-such-template").unwrap_err().to_string();
    assert!(
        err.contains("none, cot-ja, cot-ja-prefix, cot-hier"),
        "{err}"
    );
}
