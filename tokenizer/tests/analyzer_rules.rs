//! The analyzer's rules (docs/TOKENIZER.md) on tiny inputs, with the real unidic-lite
//! dictionary. Expected segmentations follow from the rules and were confirmed with
//! MeCab 0.996 + unidic-lite (fugashi 1.5); skipped when no dictionary is installed.

use std::sync::OnceLock;

use tokken_tokenizer::{find_dicdir, write_mecab_format, Analyzer, Morpheme};

fn analyzer() -> Option<&'static Analyzer> {
    static A: OnceLock<Option<Analyzer>> = OnceLock::new();
    A.get_or_init(|| match find_dicdir(None) {
        Ok(dir) => Some(Analyzer::open(&dir).expect("the dictionary found must open")),
        Err(e) => {
            eprintln!("skipping: no dictionary ({e})");
            None
        }
    })
    .as_ref()
}

fn analyze(text: &str) -> Vec<Morpheme> {
    let a = analyzer().unwrap();
    let mut out = Vec::new();
    a.worker().analyze(text, &mut out);
    out
}

/// Surfaces of the best path, each with `*` appended when it is an unknown word.
fn words(text: &str) -> Vec<String> {
    analyze(text)
        .iter()
        .map(|m| format!("{}{}", m.surface(text), if m.is_unknown { "*" } else { "" }))
        .collect()
}

macro_rules! need_dict {
    () => {
        if analyzer().is_none() {
            return;
        }
    };
}

#[test]
fn empty_and_whitespace_only_input_give_no_words() {
    need_dict!();
    assert!(words("").is_empty());
    assert!(words("\t\n").is_empty());
    assert!(words("   ").is_empty());
}

#[test]
fn whitespace_is_skipped_and_never_a_word() {
    need_dict!();
    // ASCII space, tab and newline share the SPACE category: skipped.
    assert_eq!(words("東京 都"), ["東京", "都"]);
    assert_eq!(words("東京\t都"), ["東京", "都"]);
    assert_eq!(words("東京\n都"), ["東京", "都"]);
    // Trailing whitespace vanishes; leading whitespace is not part of the surface.
    let ms = analyze("  東京  ");
    assert_eq!((ms.len(), ms[0].start, ms[0].end), (1, 2, 8));
    // U+3000 is not in SPACE in unidic-lite: it is a dictionary word (空白).
    assert_eq!(words("東京\u{3000}都"), ["東京", "\u{3000}", "都"]);
    // CR is not SPACE either: an unknown word (the LF after it is skipped).
    assert_eq!(words("東京\r\n都"), ["東京", "\r*", "都"]);
}

#[test]
fn characters_above_the_bmp_use_entry_zero() {
    need_dict!();
    // Emoji read as U+0000's category (DEFAULT, grouping): one unknown word.
    assert_eq!(words("😀😀"), ["😀😀*"]);
    assert_eq!(words("😀東京😀"), ["😀*", "東京", "😀*"]);
    assert_eq!(words("𠮷野家"), ["𠮷*", "野家"]);
}

#[test]
fn grouping_stops_past_24_extra_characters() {
    need_dict!();
    let run = |c: &str, n: usize| c.repeat(n);
    // 25 characters = the first + 24 more: one grouped unknown word.
    assert_eq!(words(&run("a", 24)), [format!("{}*", run("a", 24))]);
    assert_eq!(words(&run("a", 25)), [format!("{}*", run("a", 25))]);
    // 26: the run from the first is too long; from the second it fits.
    assert_eq!(
        words(&run("a", 26)),
        ["a*".to_string(), format!("{}*", run("a", 25))]
    );
    let mut want: Vec<String> = vec!["a*".into(); 5];
    want.push(format!("{}*", run("a", 25)));
    assert_eq!(words(&run("a", 30)), want);
    // Katakana: same limit, with dictionary words before the grouped tail.
    assert_eq!(words(&run("ア", 25)), [format!("{}*", run("ア", 25))]);
    assert_eq!(
        words(&run("ア", 26)),
        ["ア".to_string(), format!("{}*", run("ア", 25))]
    );
    let mut want: Vec<String> = vec!["アアア".into(); 5];
    want.push(format!("{}*", run("ア", 25)));
    assert_eq!(words(&run("ア", 40)), want);
}

#[test]
fn invoke_and_group_categories() {
    need_dict!();
    // ALPHA and NUMERIC always invoke unknown words and group runs.
    assert_eq!(words("ABCDEF"), ["ABCDEF*"]);
    assert_eq!(words("abc def"), ["abc*", "def*"]);
    assert_eq!(words("Tokyo2020"), ["Tokyo*", "2020*"]);
    assert_eq!(words("123456円"), ["123456*", "円"]);
    assert_eq!(words("１２３４５"), ["１２３４５*"]);
    // Full-width ＡＢＣ is a dictionary word and wins.
    assert_eq!(words("ＡＢＣです"), ["ＡＢＣ", "です"]);
    assert_eq!(words("ヴァイオリン"), ["ヴァイオリン"]);
    assert_eq!(words("漢字漢字漢字"), ["漢字", "漢字", "漢字"]);
    assert_eq!(words("〓〓"), ["〓〓*"]);
    // A combining mark after a letter is a category of its own.
    assert_eq!(words("x\u{301}y"), ["x*", "\u{301}*", "y*"]);
}

#[test]
fn half_width_katakana() {
    need_dict!();
    assert_eq!(words("ｱｲｳｴｵ"), ["ｱｲｳｴｵ*"]);
    assert_eq!(words("ﾃｽﾄです"), ["ﾃｽﾄ*", "です"]);
    assert_eq!(words("ｶﾀｶﾅ ﾃｽﾄ"), ["ｶﾀｶﾅ*", "ﾃｽﾄ*"]);
}

#[test]
fn bmp_edge_code_points() {
    need_dict!();
    assert_eq!(words("\u{FFFD}"), ["\u{FFFD}*"]);
    // U+FFFF reads as all zero (no categories): still one unknown word.
    assert_eq!(words("\u{FFFF}"), ["\u{FFFF}*"]);
    assert_eq!(words("\u{2028}東京"), ["\u{2028}*", "東京"]);
}

#[test]
fn lookahead_is_65535_bytes() {
    need_dict!();
    // MeCab looks at most 65535 bytes ahead and keeps a node's cursor move in a u16: after
    // a longer whitespace run the node after it wraps back to its start, and the rest of
    // the text is never reached (MeCab prints nothing more).
    assert!(words(&format!("{}東京", " ".repeat(70000))).is_empty());
    assert_eq!(words(&format!("東京{}大阪", " ".repeat(70000))), ["東京"]);
    // Long runs that are not whitespace are analysed in full.
    let text = "吾輩は猫である。".repeat(3000);
    let ms = analyze(&text);
    assert_eq!(ms.last().map(|m| m.end), Some(text.len()));
}

#[test]
fn nul_ends_the_text() {
    need_dict!();
    assert_eq!(analyze("東京\0大阪"), analyze("東京"));
    assert!(analyze("\0東京").is_empty());
}

#[test]
fn features_have_26_fields_known_and_6_unknown() {
    need_dict!();
    let a = analyzer().unwrap();
    let text = "東京でABCを買った";
    let ms = analyze(text);
    assert!(ms.iter().any(|m| m.is_unknown) && ms.iter().any(|m| !m.is_unknown));
    for m in &ms {
        let n = a.feature_fields(m).count();
        assert_eq!(
            n,
            if m.is_unknown { 6 } else { 26 },
            "{:?}: {}",
            m.surface(text),
            a.feature(m)
        );
        assert_eq!(a.try_feature(m).unwrap(), a.feature(m));
    }
}

#[test]
fn path_costs_accumulate_and_spans_tile_the_text() {
    need_dict!();
    let text = "今日は 良い天気です。";
    let ms = analyze(text);
    let mut at = 0;
    for m in &ms {
        // Only whitespace lies between consecutive words.
        assert!(text[at..m.start].chars().all(char::is_whitespace));
        assert!(m.end > m.start);
        at = m.end;
    }
    assert_eq!(at, text.len());
    assert_eq!(
        ms.iter().map(|m| m.surface(text)).collect::<String>(),
        "今日は良い天気です。"
    );
}

#[test]
fn analyzer_is_send_sync_and_worker_is_send() {
    fn send_sync<T: Send + Sync>() {}
    fn send<T: Send>() {}
    send_sync::<Analyzer>();
    send::<tokken_tokenizer::AnalyzerWorker>();
}

#[test]
fn worker_is_reusable_and_analyzer_is_shareable() {
    need_dict!();
    let a = analyzer().unwrap().clone();
    let mut w = a.worker();
    let mut out = Vec::new();
    w.analyze("ネットで断ち切れない元カレとの縁", &mut out);
    let first = out.clone();
    w.analyze("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", &mut out);
    w.analyze("ネットで断ち切れない元カレとの縁", &mut out);
    assert_eq!(out, first);
    let handle = std::thread::spawn(move || {
        let mut out = Vec::new();
        a.worker()
            .analyze("ネットで断ち切れない元カレとの縁", &mut out);
        out
    });
    assert_eq!(handle.join().unwrap(), first);
}

#[test]
fn mecab_output_format() {
    need_dict!();
    let a = analyzer().unwrap();
    let text = "縁 ABC";
    let ms = analyze(text);
    let mut s = String::new();
    write_mecab_format(a, text, &ms, &mut s);
    let lines: Vec<&str> = s.lines().collect();
    assert_eq!(lines.len(), 3);
    assert!(
        lines[0].starts_with("縁\t名詞,普通名詞,一般,"),
        "{}",
        lines[0]
    );
    assert!(lines[1].starts_with("ABC\t"), "{}", lines[1]);
    assert_eq!(lines[2], "EOS");
}

/// `Analyzer::token` gives each word the record the lattice used: along the best path
/// every word's path cost is the previous one's plus the connection cost from the previous
/// record's right id (BOS: 0) to this record's left id plus the record's word cost; known
/// words' records are among those of their surface in `sys.dic`.
#[test]
fn token_records_are_the_ones_the_path_costs_came_from() {
    need_dict!();
    let a = analyzer().unwrap();
    let dict = a.dictionary();
    for text in [
        "東京都に行く。",
        "相次ぐ芸能人の“すっぴん”披露　その時、独女の心境は？",
        "ｶﾀｶﾅ😀 abc DEF 123",
    ] {
        let ms = analyze(text);
        assert!(ms.len() > 3, "{text}");
        let (mut prev_right, mut prev_cost) = (0u16, 0i64);
        for m in &ms {
            let t = a.token(m);
            assert_eq!(t.word_cost, m.word_cost, "{text}: {}", m.surface(text));
            let step = dict.matrix.cost(prev_right, t.left_id) as i64 + t.word_cost as i64;
            assert_eq!(m.cost, prev_cost + step, "{text}: {}", m.surface(text));
            if !m.is_unknown {
                let value = dict.sys.darts().exact_match(m.surface(text).as_bytes());
                let (first, count) = tokken_tokenizer::dict::dic_file::split_value(value.unwrap());
                assert!(
                    (first..first + count).contains(&m.token),
                    "{}",
                    m.surface(text)
                );
            }
            (prev_right, prev_cost) = (t.right_id, m.cost);
        }
    }
}
