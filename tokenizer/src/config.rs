//! `tokenizer_config.json` of a model dir: the `BertJapaneseTokenizer` settings tokken
//! supports, with HF's defaults for missing keys and a clear error for the rest
//! (other word tokenizers, sentencepiece, MeCab options we cannot honour).

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::error::TokenizerError;
use crate::mecab_option::{self, MecabOptions};
use crate::wordpiece::SubwordMode;

/// The MeCab dictionary named by `mecab_kwargs.mecab_dic`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MecabDic {
    /// `unidic_lite` (the v2/v3 models, and MecabTokenizer's default since transformers
    /// 4.45): found by `find_dicdir` when no dicdir is given.
    UnidicLite,
    /// `ipadic` (what the v1 models were pre-trained on) or `unidic`: found through their
    /// Python packages by `find_dicdir_for`; `system` (`null`) needs a dicdir.
    Other(String),
    /// A directory named by `mecab_option` (`-d DIR`, or the `dicdir` of its `-r` rc file),
    /// which overrides `mecab_dic` as the later `-d` does in MeCab.
    Dir(PathBuf),
}

/// Tokenizer settings (HF names).
#[derive(Debug, Clone, PartialEq)]
pub struct TokenizerConfig {
    /// Lower-case MeCab surfaces (not special tokens / `never_split`). HF default false.
    pub do_lower_case: bool,
    /// `subword_tokenizer_type`.
    pub subword: SubwordMode,
    /// `mecab_kwargs.mecab_dic`.
    pub mecab_dic: MecabDic,
    /// `mecab_kwargs.normalize_text` (NFKC before MeCab). HF default true.
    pub normalize_text: bool,
    /// User dictionaries from `mecab_kwargs.mecab_option` (`-u a.dic,b.dic`, `--userdic=...`
    /// or its rc file's `userdic`), as given: MeCab resolves relative paths against the
    /// working directory.
    pub user_dics: Vec<PathBuf>,
    /// `model_max_length`; `None` when absent (HF: no limit).
    pub model_max_length: Option<usize>,
    /// Surfaces never lower-cased.
    pub never_split: Vec<String>,
    pub unk_token: String,
    pub sep_token: String,
    pub pad_token: String,
    pub cls_token: String,
    pub mask_token: String,
    /// `additional_special_tokens` / `extra_special_tokens` / `added_tokens_decoder`
    /// contents: also split out of the raw text as literal tokens, with their ids when
    /// `added_tokens_decoder` gives them.
    pub extra_special_tokens: Vec<(String, Option<u32>)>,
}

impl Default for TokenizerConfig {
    /// The `cl-tohoku/bert-base-japanese-v3` settings.
    fn default() -> Self {
        TokenizerConfig {
            do_lower_case: false,
            subword: SubwordMode::WordPiece,
            mecab_dic: MecabDic::UnidicLite,
            normalize_text: true,
            user_dics: Vec::new(),
            model_max_length: Some(512),
            never_split: Vec::new(),
            unk_token: "[UNK]".into(),
            sep_token: "[SEP]".into(),
            pad_token: "[PAD]".into(),
            cls_token: "[CLS]".into(),
            mask_token: "[MASK]".into(),
            extra_special_tokens: Vec::new(),
        }
    }
}

impl TokenizerConfig {
    /// Reads `<dir>/tokenizer_config.json`.
    pub fn from_model_dir(dir: &Path) -> Result<TokenizerConfig, TokenizerError> {
        let path = dir.join("tokenizer_config.json");
        let text = std::fs::read_to_string(&path).map_err(|e| TokenizerError::Io {
            path: path.clone(),
            source: e,
        })?;
        TokenizerConfig::from_json(&text, &path)
    }

    /// Parses the JSON text of a `tokenizer_config.json` (`path` is for messages).
    pub fn from_json(text: &str, path: &Path) -> Result<TokenizerConfig, TokenizerError> {
        let bad = |message: String| TokenizerError::BadFile {
            path: PathBuf::from(path),
            message,
        };
        let v: Value = serde_json::from_str(text).map_err(|e| {
            bad(format!(
                "invalid JSON at line {} column {}: {e}",
                e.line(),
                e.column()
            ))
        })?;
        let obj = v
            .as_object()
            .ok_or_else(|| bad("expected a JSON object".into()))?;
        let mut cfg = TokenizerConfig::default();
        let get_bool = |key: &str, default: bool| -> Result<bool, TokenizerError> {
            match obj.get(key) {
                None | Some(Value::Null) => Ok(default),
                Some(Value::Bool(b)) => Ok(*b),
                Some(other) => Err(bad(format!("`{key}` must be true or false, got {other}"))),
            }
        };

        if let Some(class) = obj.get("tokenizer_class").and_then(Value::as_str) {
            if class != "BertJapaneseTokenizer" {
                return Err(bad(format!(
                    "tokenizer_class `{class}` is not supported (only BertJapaneseTokenizer)"
                )));
            }
        }
        cfg.do_lower_case = get_bool("do_lower_case", false)?;
        for key in ["do_word_tokenize", "do_subword_tokenize"] {
            if !get_bool(key, true)? {
                return Err(bad(format!("`{key}: false` is not supported")));
            }
        }
        // HF's default word tokenizer is "basic"; tokken implements MeCab only.
        let word = obj
            .get("word_tokenizer_type")
            .and_then(Value::as_str)
            .unwrap_or("basic");
        if word != "mecab" {
            return Err(bad(format!(
                "word_tokenizer_type `{word}` is not supported (only `mecab`)"
            )));
        }
        let sub = obj
            .get("subword_tokenizer_type")
            .and_then(Value::as_str)
            .unwrap_or("wordpiece");
        cfg.subword = SubwordMode::parse(sub).ok_or_else(|| {
            bad(format!(
                "subword_tokenizer_type `{sub}` is not supported (only `wordpiece` or `character`)"
            ))
        })?;

        // MecabTokenizer's own default dictionary: unidic-lite since transformers 4.45 (PR
        // 33372; ipadic before). A config without `mecab_kwargs`, such as the v1
        // `cl-tohoku/bert-base-japanese` models', gets it here as in transformers 5.24; such
        // a model pre-trained on ipadic needs `"mecab_kwargs": {"mecab_dic": "ipadic"}`
        // written into its tokenizer_config.json, for transformers as for tokken.
        cfg.mecab_dic = MecabDic::UnidicLite;
        cfg.normalize_text = true;
        let mut options = MecabOptions::default();
        match obj.get("mecab_kwargs") {
            None | Some(Value::Null) => {}
            Some(Value::Object(kw)) => {
                for (key, value) in kw {
                    match (key.as_str(), value) {
                        ("mecab_dic", Value::String(d)) if d == "unidic_lite" => {
                            cfg.mecab_dic = MecabDic::UnidicLite
                        }
                        ("mecab_dic", Value::String(d)) => {
                            cfg.mecab_dic = MecabDic::Other(d.clone())
                        }
                        ("mecab_dic", Value::Null) => {
                            cfg.mecab_dic = MecabDic::Other("system".into())
                        }
                        ("normalize_text", Value::Bool(b)) => cfg.normalize_text = *b,
                        ("mecab_option", Value::Null) => {}
                        ("mecab_option", Value::String(o)) => {
                            options = mecab_option::parse(o)
                                .map_err(|e| bad(format!("mecab_kwargs.mecab_option {o:?}: {e}")))?
                        }
                        (k, v) => {
                            return Err(bad(format!(
                                "mecab_kwargs.{k} = {v} is not supported (supported: mecab_dic, \
                                 mecab_option with dictionary options, normalize_text)"
                            )))
                        }
                    }
                }
            }
            Some(other) => {
                return Err(bad(format!(
                    "`mecab_kwargs` must be an object, got {other}"
                )))
            }
        }
        if let Some(dir) = options.dicdir {
            cfg.mecab_dic = MecabDic::Dir(dir);
        }
        cfg.user_dics = options.user_dics;

        cfg.model_max_length = match obj.get("model_max_length") {
            None | Some(Value::Null) => None,
            Some(Value::Number(n)) => match n.as_u64() {
                Some(m) => Some(m as usize),
                // HF writes 1e30 ("VERY_LARGE_INTEGER") for "no limit".
                None if n.as_f64().is_some_and(|f| f >= 1e18) => None,
                None => {
                    return Err(bad(format!(
                        "`model_max_length` must be a positive integer, got {n}"
                    )))
                }
            },
            Some(other) => {
                return Err(bad(format!(
                    "`model_max_length` must be a number, got {other}"
                )))
            }
        };

        if let Some(ns) = obj.get("never_split") {
            cfg.never_split = string_list(ns)
                .ok_or_else(|| bad("`never_split` must be a list of strings".into()))?;
        }
        for (key, slot) in [
            ("unk_token", &mut cfg.unk_token),
            ("sep_token", &mut cfg.sep_token),
            ("pad_token", &mut cfg.pad_token),
            ("cls_token", &mut cfg.cls_token),
            ("mask_token", &mut cfg.mask_token),
        ] {
            match obj.get(key) {
                None | Some(Value::Null) => {}
                Some(v) => {
                    *slot = token_content(v).ok_or_else(|| {
                        bad(format!("`{key}` must be a string or {{\"content\": ...}}"))
                    })?
                }
            }
        }
        for key in ["additional_special_tokens", "extra_special_tokens"] {
            if let Some(v) = obj.get(key) {
                let list = match v {
                    Value::Array(items) => {
                        items.iter().map(token_content).collect::<Option<Vec<_>>>()
                    }
                    Value::Object(map) if map.is_empty() => Some(Vec::new()),
                    Value::Null => Some(Vec::new()),
                    _ => None,
                }
                .ok_or_else(|| bad(format!("`{key}` must be a list of tokens")))?;
                cfg.extra_special_tokens
                    .extend(list.into_iter().map(|t| (t, None)));
            }
        }
        if let Some(v) = obj.get("added_tokens_decoder") {
            let map = v
                .as_object()
                .ok_or_else(|| bad("`added_tokens_decoder` must be an object".into()))?;
            for (id, tok) in map {
                let id: u32 = id
                    .parse()
                    .map_err(|_| bad(format!("added_tokens_decoder key `{id}` is not an id")))?;
                let content = token_content(tok)
                    .ok_or_else(|| bad(format!("added_tokens_decoder[{id}] has no content")))?;
                cfg.extra_special_tokens.push((content, Some(id)));
            }
        }
        Ok(cfg)
    }
}

/// A token given as `"[X]"` or as a serialized `AddedToken` `{"content": "[X]", ...}`.
/// True when a `tokenizer_config.json` object configures MeCab but names no dictionary
/// (no `mecab_kwargs.mecab_dic` key, as in the v1 models' configs). Such a config means
/// unidic-lite today (transformers >= 4.45, and tokken) but meant ipadic before, so it is
/// worth a word to the user and worth pinning when copied.
pub fn names_no_mecab_dictionary(config: &serde_json::Map<String, Value>) -> bool {
    if config.get("word_tokenizer_type").and_then(Value::as_str) != Some("mecab") {
        return false;
    }
    match config.get("mecab_kwargs") {
        None | Some(Value::Null) => true,
        Some(Value::Object(kwargs)) => !kwargs.contains_key("mecab_dic"),
        Some(_) => false,
    }
}

fn token_content(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Object(o) => o.get("content")?.as_str().map(str::to_owned),
        _ => None,
    }
}

fn string_list(v: &Value) -> Option<Vec<String>> {
    match v {
        Value::Null => Some(Vec::new()),
        Value::Array(items) => items
            .iter()
            .map(|i| i.as_str().map(str::to_owned))
            .collect(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Result<TokenizerConfig, TokenizerError> {
        TokenizerConfig::from_json(json, Path::new("tokenizer_config.json"))
    }

    #[test]
    fn reads_the_v3_and_char_configs() {
        let shared = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/ref");
        if !shared.exists() {
            eprintln!("skipping: ../shared/ref not found");
            return;
        }
        let v3 = TokenizerConfig::from_model_dir(&shared.join("bert-base-japanese-v3")).unwrap();
        assert_eq!(v3, TokenizerConfig::default());
        let ch = TokenizerConfig::from_model_dir(&shared.join("char-7027")).unwrap();
        assert_eq!(ch.subword, SubwordMode::Character);
        assert_eq!(ch.model_max_length, Some(512));
    }

    #[test]
    fn defaults_and_added_token_forms() {
        let c = parse(
            r#"{"word_tokenizer_type":"mecab","mecab_kwargs":{"mecab_dic":"unidic_lite","mecab_option":null},
                "do_lower_case":true,"never_split":["ABC"],"model_max_length":1e30,
                "mask_token":{"content":"[M]","lstrip":false},"additional_special_tokens":["<x>"],
                "added_tokens_decoder":{"5":{"content":"<y>","special":true}}}"#,
        )
        .unwrap();
        assert!(c.do_lower_case);
        assert_eq!(c.model_max_length, None);
        assert_eq!(c.mask_token, "[M]");
        assert_eq!(c.never_split, ["ABC"]);
        assert_eq!(
            c.extra_special_tokens,
            [("<x>".to_string(), None), ("<y>".to_string(), Some(5))]
        );
        // MecabTokenizer's default dictionary (transformers >= 4.45) is unidic-lite.
        let d = parse(r#"{"word_tokenizer_type":"mecab"}"#).unwrap();
        assert_eq!(d.mecab_dic, MecabDic::UnidicLite);
        let d = parse(r#"{"word_tokenizer_type":"mecab","mecab_kwargs":{}}"#).unwrap();
        assert_eq!(d.mecab_dic, MecabDic::UnidicLite);
        assert_eq!(d.model_max_length, None);
    }

    #[test]
    fn mecab_option_dictionaries() {
        let cfg = |o: &str| {
            parse(&format!(
                r#"{{"word_tokenizer_type":"mecab","mecab_kwargs":{{"mecab_dic":"unidic_lite","mecab_option":{o:?}}}}}"#
            ))
        };
        let c = cfg("").unwrap();
        assert_eq!((c.mecab_dic, c.user_dics), (MecabDic::UnidicLite, vec![]));
        let c = cfg(r#"-d "/x/neologd" -u a.dic,b.dic"#).unwrap();
        assert_eq!(c.mecab_dic, MecabDic::Dir("/x/neologd".into()));
        assert_eq!(
            c.user_dics,
            [PathBuf::from("a.dic"), PathBuf::from("b.dic")]
        );
        for (o, needle) in [("-u", "needs a value"), ("-u a.dic -N2", "`-N2`")] {
            let e = cfg(o).unwrap_err().to_string();
            assert!(e.contains(needle) && e.contains("mecab_option"), "{o}: {e}");
        }
    }

    #[test]
    fn unsupported_values_are_clear_errors() {
        for (json, needle) in [
            (r#"{"word_tokenizer_type":"sudachi"}"#, "sudachi"),
            (r#"{}"#, "basic"),
            (
                r#"{"word_tokenizer_type":"mecab","subword_tokenizer_type":"sentencepiece"}"#,
                "sentencepiece",
            ),
            (
                r#"{"word_tokenizer_type":"mecab","mecab_kwargs":{"mecab_option":"-Owakati"}}"#,
                "mecab_option",
            ),
            (r#"{"tokenizer_class":"BertTokenizer"}"#, "BertTokenizer"),
            (
                r#"{"word_tokenizer_type":"mecab","do_lower_case":"no"}"#,
                "do_lower_case",
            ),
            ("{", "invalid JSON"),
        ] {
            let e = parse(json).unwrap_err().to_string();
            assert!(
                e.contains(needle) && e.contains("tokenizer_config.json"),
                "{json}: {e}"
            );
        }
    }
}
