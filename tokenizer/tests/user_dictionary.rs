//! User dictionaries (MeCab's `-u`): analyses with one and with two user dictionaries are
//! byte-identical to MeCab's (fixtures from `scripts/reference/make_userdic_fixture.sh`,
//! compiled by `mecab-dict-index` against unidic-lite); wrong files are clear errors.
//! Skipped when unidic-lite is not installed.

mod common;

use std::path::{Path, PathBuf};

use tokken_tokenizer::{find_dicdir, write_mecab_format, Analyzer, Tokenizer, TokenizerError};

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

fn dicdir() -> Option<PathBuf> {
    match find_dicdir(None) {
        Ok(d) => Some(d),
        Err(e) => {
            eprintln!("skipping: no dictionary ({e})");
            None
        }
    }
}

/// `mecab -O ''` output of the analyzer with `user` dictionaries on the fixture texts.
fn mecab_output(dicdir: &Path, user: &[PathBuf]) -> String {
    let analyzer = Analyzer::open_with_user_dics(dicdir, user).unwrap();
    let texts = std::fs::read_to_string(data("userdic_texts.txt")).unwrap();
    let mut worker = analyzer.worker();
    let (mut words, mut out) = (Vec::new(), String::new());
    for line in texts.lines() {
        worker.analyze(line, &mut words);
        write_mecab_format(&analyzer, line, &words, &mut out);
    }
    out
}

#[test]
fn one_and_two_user_dictionaries_match_mecab() {
    let Some(dicdir) = dicdir() else { return };
    for (user, expected) in [
        (vec![data("userdic_a.dic")], "userdic_mecab_a.txt"),
        (
            vec![data("userdic_a.dic"), data("userdic_b.dic")],
            "userdic_mecab_ab.txt",
        ),
    ] {
        let want = std::fs::read_to_string(data(expected)).unwrap();
        assert_eq!(mecab_output(&dicdir, &user), want, "{expected}");
    }
    // Without them the user words are not found (the fixture does change the analysis).
    let plain = mecab_output(&dicdir, &[]);
    assert!(!plain.contains("東京スカイツリー\t"), "{plain}");
}

#[test]
fn words_know_their_user_dictionary() {
    let Some(dicdir) = dicdir() else { return };
    let user = [data("userdic_a.dic"), data("userdic_b.dic")];
    let analyzer = Analyzer::open_with_user_dics(&dicdir, &user).unwrap();
    let text = "スカイツリーとほげほげと東京";
    let mut words = Vec::new();
    analyzer.worker().analyze(text, &mut words);
    let got: Vec<(&str, Option<u8>)> = words
        .iter()
        .map(|m| (m.surface(text), m.user_dic))
        .collect();
    // スカイツリー only in b; ほげほげ in both at equal cost: a, the first, wins the tie.
    assert_eq!(
        got,
        [
            ("スカイツリー", Some(1)),
            ("と", None),
            ("ほげほげ", Some(0)),
            ("と", None),
            ("東京", None)
        ]
    );
    assert!(analyzer.feature(&words[2]).contains("ほげほげ-A"));
}

#[test]
fn wrong_user_dictionary_files_are_named_errors() {
    let Some(dicdir) = dicdir() else { return };
    let open = |p: PathBuf| Analyzer::open_with_user_dics(&dicdir, &[p]).unwrap_err();
    // A system dictionary is not a user dictionary.
    let e = open(dicdir.join("sys.dic"));
    assert!(
        matches!(e, TokenizerError::CorruptDictionary { .. })
            && e.to_string().contains("expected a user dictionary"),
        "{e}"
    );
    // A missing file names its path.
    let e = open(data("no_such.dic"));
    assert!(e.to_string().contains("no_such.dic"), "{e}");
    // A truncated one is refused at open.
    let dir = common::scratch("userdic");
    let bytes = std::fs::read(data("userdic_a.dic")).unwrap();
    let cut = dir.path().join("cut.dic");
    std::fs::write(&cut, &bytes[..bytes.len() - 100]).unwrap();
    let e = open(cut);
    assert!(e.to_string().contains("cut.dic"), "{e}");
}

/// `mecab_kwargs.mecab_option` in tokenizer_config.json (`-u FILE`, `-d DIR`, `-r RC`) gives
/// the model's tokenizer its dictionaries, as transformers' MecabTokenizer passes the
/// string to MeCab.
#[test]
fn tokenizer_config_mecab_option_loads_user_dictionaries() {
    if dicdir().is_none() {
        return;
    }
    let tmp = common::scratch("userdic-cfg");
    let dir = tmp.path();
    let vocab = "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\n東京\nスカイ\nツリー\n東京スカイツリー\n";
    std::fs::write(dir.join("vocab.txt"), vocab).unwrap();
    let config = |dic: serde_json::Value, option: &str| {
        serde_json::json!({
            "tokenizer_class": "BertJapaneseTokenizer",
            "word_tokenizer_type": "mecab",
            "subword_tokenizer_type": "wordpiece",
            "mecab_kwargs": {"mecab_dic": dic, "mecab_option": option},
        })
        .to_string()
    };
    let tokens_with = |dic: serde_json::Value, option: &str| {
        std::fs::write(dir.join("tokenizer_config.json"), config(dic, option)).unwrap();
        let tok = Tokenizer::from_model_dir(dir, None).unwrap();
        let enc = tok.encode("東京スカイツリー", &Default::default());
        tok.tokens(&enc).join(" ")
    };
    let tokens = |option: &str| tokens_with("unidic_lite".into(), option);
    let user = data("userdic_a.dic");
    assert_eq!(
        tokens(&format!("-u {}", user.display())),
        "[CLS] 東京スカイツリー [SEP]"
    );
    // Without it MeCab splits the name into three words.
    assert_eq!(tokens(""), "[CLS] 東京 スカイ ツリー [SEP]");
    // The system dictionary from -d (mecab_dic null: MeCab's own), quoted as transformers
    // quotes paths; or both from an rc file given by -r.
    let sys = dicdir().unwrap();
    let with_d = format!(r#"-d "{}" -u "{}""#, sys.display(), user.display());
    assert_eq!(
        tokens_with(serde_json::Value::Null, &with_d),
        "[CLS] 東京スカイツリー [SEP]"
    );
    let rc = dir.join("mecabrc");
    let rc_text = format!("dicdir = {}\nuserdic = {}\n", sys.display(), user.display());
    std::fs::write(&rc, rc_text).unwrap();
    assert_eq!(
        tokens_with(serde_json::Value::Null, &format!("-r {}", rc.display())),
        "[CLS] 東京スカイツリー [SEP]"
    );
}
