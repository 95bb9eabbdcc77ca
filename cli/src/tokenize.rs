//! `tokken-cli tokenize`: text -> MeCab words / BERT tokens and ids, exactly as HF
//! `BertJapaneseTokenizer` produces them.

use std::io::{BufWriter, Write};
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};
use tokken_tokenizer::{
    char_spans, write_mecab_format, EncodeOptions, Encoding, SubwordMode, Tokenizer, Truncation,
};

use crate::line_batches::{LineBatches, BATCH_LINES};

/// Flags of `tokken-cli tokenize`.
#[derive(clap::Args)]
#[command(after_help = "\
Input: the TEXT arguments, else the lines of --input (or stdin). A line whose first
non-blank character is `{` is read as JSON `{\"id\": .., \"text\": .., \"text_pair\": ..}`
(--input-format auto, the default); a malformed JSON line is an error naming file:line.
With --pair, a plain line is `first<TAB>second`. Standard input is answered as it
arrives, so another program can write a line and wait for its tokens.

Examples:
  tokken-cli tokenize --model ../shared/ref/bert-base-japanese-v3 '東京都に行く'
  tokken-cli tokenize --model DIR --format json --input titles.jsonl > tokens.jsonl
  echo '私は[MASK]です' | tokken-cli tokenize --vocab vocab.txt --format tokens
  tokken-cli tokenize --model DIR --format mecab 'すもももももももものうち'
  tokken-cli tokenize --model DIR --format words --input titles.jsonl > words.jsonl
  tokken-cli tokenize --model DIR --format mecab --userdic my-terms.dic 'テキスト'")]
pub struct Args {
    /// HF model dir with vocab.txt and tokenizer_config.json.
    #[arg(
        long,
        value_name = "DIR",
        conflicts_with = "vocab",
        required_unless_present = "vocab"
    )]
    model: Option<PathBuf>,

    /// A bare vocab.txt (v3 settings: MeCab + unidic-lite, NFKC, no lower-casing).
    #[arg(long, value_name = "FILE")]
    vocab: Option<PathBuf>,

    /// Subword mode with --vocab: `wordpiece`, or `character` for -char models.
    #[arg(long, value_name = "MODE", default_value = "wordpiece", requires = "vocab",
          value_parser = ["wordpiece", "character"])]
    mode: String,

    /// Compiled MeCab dictionary dir (default: $TOKKEN_DICDIR, python unidic_lite, usual paths).
    #[arg(long, value_name = "DIR")]
    dicdir: Option<PathBuf>,

    /// A user dictionary (MeCab's `-u`, compiled by `mecab-dict-index -u` for the same
    /// dictionary), added after those the model's tokenizer_config.json names; repeatable.
    #[arg(long, value_name = "FILE")]
    userdic: Vec<PathBuf>,

    /// Output: `ids` / `tokens` (one line per input, space-separated, with [CLS]/[SEP]),
    /// `json` (id, tokens, ids, type_ids, offsets: char offsets into the input text),
    /// `mecab` / `wakati` (MeCab's own output for the raw line, like `mecab` / `mecab -Owakati`),
    /// `words` (the same words as JSON: surface, char and byte offsets, unknown, feature fields,
    /// and for UniDic the fields by name as fugashi names them).
    #[arg(long, value_name = "FORMAT", default_value = "ids",
          value_parser = ["ids", "tokens", "json", "mecab", "wakati", "words"])]
    format: String,

    /// Read lines from this file (`-`: stdin) instead of TEXT arguments.
    #[arg(long, short, value_name = "FILE", conflicts_with = "text")]
    input: Option<PathBuf>,

    /// How to read input lines: `auto`, `text` (never JSON) or `jsonl` (always JSON).
    #[arg(long, value_name = "KIND", default_value = "auto",
          value_parser = ["auto", "text", "jsonl"])]
    input_format: String,

    /// Truncate to at most N tokens, specials included (HF `truncation=True, max_length=N`).
    #[arg(long, value_name = "N")]
    max_length: Option<usize>,

    /// Encode pairs `[CLS] A [SEP] B [SEP]`: `A<TAB>B` lines or JSON `text` + `text_pair`.
    #[arg(long)]
    pair: bool,

    /// Leave out [CLS] / [SEP].
    #[arg(long)]
    no_special_tokens: bool,

    /// Texts to tokenize (default: read --input or stdin).
    #[arg(value_name = "TEXT")]
    text: Vec<String>,
}

/// One input record.
struct Record {
    id: Option<Value>,
    text: String,
    pair: Option<String>,
}

pub fn run(args: Args) -> Result<()> {
    let model = args
        .model
        .as_deref()
        .map(crate::model_arg::resolve)
        .transpose()?;
    let tok = match (&model, &args.vocab) {
        (Some(dir), _) => {
            Tokenizer::from_model_dir_with(dir, args.dicdir.as_deref(), &args.userdic)
                .with_context(|| format!("loading the tokenizer of {}", dir.display()))?
        }
        (None, Some(vocab)) => {
            let mode = SubwordMode::parse(&args.mode).expect("clap checked the mode");
            Tokenizer::from_vocab_with(vocab, mode, args.dicdir.as_deref(), &args.userdic)?
        }
        (None, None) => bail!("give --model DIR or --vocab FILE"),
    };
    let opts = EncodeOptions {
        add_special_tokens: !args.no_special_tokens,
        truncation: if args.max_length.is_some() {
            Truncation::LongestFirst
        } else {
            Truncation::None
        },
        max_length: args.max_length,
        ..EncodeOptions::default()
    };

    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let mut emit = |records: &[Record]| -> Result<()> {
        write_records(&tok, &args, &opts, records, &mut out)?;
        // A program feeding lines one at a time reads each answer now.
        out.flush().context("writing output")
    };

    if !args.text.is_empty() {
        let records: Vec<Record> = args
            .text
            .iter()
            .map(|t| plain_record(t, args.pair))
            .collect();
        emit(&records)?;
    } else {
        // Encoded a batch at a time, each batch in parallel (see LineBatches).
        let mut lines = LineBatches::open(args.input.as_deref(), BATCH_LINES)?;
        while let Some((first, batch)) = lines.next_batch()? {
            let records = batch
                .iter()
                .enumerate()
                .map(|(i, line)| {
                    parse_line(line, &args.input_format, args.pair, lines.name(), first + i)
                })
                .collect::<Result<Vec<Record>>>()?;
            emit(&records)?;
        }
    }
    Ok(())
}

fn plain_record(line: &str, pair: bool) -> Record {
    match line.split_once('\t') {
        Some((a, b)) if pair => Record {
            id: None,
            text: a.to_string(),
            pair: Some(b.to_string()),
        },
        _ => Record {
            id: None,
            text: line.to_string(),
            pair: pair.then(String::new),
        },
    }
}

/// One input line as a record; `input_format` is `auto`, `text` or `jsonl`.
fn parse_line(
    line: &str,
    input_format: &str,
    pair: bool,
    file: &str,
    lineno: usize,
) -> Result<Record> {
    let is_json = match input_format {
        "text" => false,
        "jsonl" => true,
        _ => line.trim_start().starts_with('{'),
    };
    if !is_json {
        return Ok(plain_record(line, pair));
    }
    let v: Value = serde_json::from_str(line).with_context(|| {
        format!("{file}:{lineno}: invalid JSON (use --input-format text for plain lines)")
    })?;
    let obj = v
        .as_object()
        .with_context(|| format!("{file}:{lineno}: expected a JSON object"))?;
    let text = obj
        .get("text")
        .and_then(Value::as_str)
        .with_context(|| format!("{file}:{lineno}: missing string field \"text\""))?;
    let pair = match obj.get("text_pair") {
        Some(Value::String(s)) => Some(s.clone()),
        None | Some(Value::Null) if pair => {
            bail!("{file}:{lineno}: --pair needs a string field \"text_pair\"")
        }
        None | Some(Value::Null) => None,
        Some(_) => bail!("{file}:{lineno}: \"text_pair\" must be a string"),
    };
    Ok(Record {
        id: obj.get("id").cloned(),
        text: text.to_string(),
        pair,
    })
}

fn write_records(
    tok: &Tokenizer,
    args: &Args,
    opts: &EncodeOptions,
    records: &[Record],
    out: &mut impl Write,
) -> Result<()> {
    match args.format.as_str() {
        "mecab" | "wakati" | "words" => {
            for text in analyze_records(tok, &args.format, records) {
                out.write_all(text.as_bytes()).context("writing output")?;
            }
        }
        _ => {
            let encs = encode_records(tok, opts, records);
            for (r, e) in records.iter().zip(&encs) {
                write_encoding(tok, args, r, e, out).context("writing output")?;
            }
        }
    }
    Ok(())
}

/// MeCab's analysis of each record's raw text, in parallel, one analyzer worker per rayon
/// task, as `format`: `mecab` (`surface\tfeatures` lines and `EOS`), `wakati` (the surfaces
/// on one line) or `words` (one JSON line, see [`words_json`]).
fn analyze_records(tok: &Tokenizer, format: &str, records: &[Record]) -> Vec<String> {
    use rayon::prelude::*;
    let names = if format == "words" {
        tok.analyzer().unidic_field_names()
    } else {
        None
    };
    records
        .par_iter()
        .with_min_len(64)
        .map_init(
            || (tok.analyzer().worker(), Vec::new()),
            |(worker, morphemes), r| {
                if format == "words" {
                    worker.analyze(&r.text, morphemes);
                    let mut v =
                        json!({"words": words_json(tok.analyzer(), names, &r.text, morphemes)});
                    if let Some(pair) = &r.pair {
                        worker.analyze(pair, morphemes);
                        v["pair_words"] = words_json(tok.analyzer(), names, pair, morphemes);
                    }
                    match &r.id {
                        Some(id) => v["id"] = id.clone(),
                        None => v["text"] = Value::String(r.text.clone()),
                    }
                    return format!("{v}\n");
                }
                let mut buf = String::new();
                for text in std::iter::once(&r.text).chain(&r.pair) {
                    worker.analyze(text, morphemes);
                    if format == "mecab" {
                        write_mecab_format(tok.analyzer(), text, morphemes, &mut buf);
                    } else {
                        for (i, m) in morphemes.iter().enumerate() {
                            if i > 0 {
                                buf.push(' ');
                            }
                            buf.push_str(m.surface(text));
                        }
                        buf.push('\n');
                    }
                }
                buf
            },
        )
        .collect()
}

/// `[{"surface", "start", "end", "byte_start", "byte_end", "unknown", "features"}]` for the
/// words of `text`: offsets in chars (as in `--format json`) and bytes, `features` the
/// unquoted CSV fields of MeCab's feature string (fugashi's `node.feature` as a list). With
/// a UniDic's field `names`, also `"feature"`: the fields by name, null where an unknown
/// word has fewer (as fugashi's `UnidicFeatures26`).
fn words_json(
    analyzer: &tokken_tokenizer::Analyzer,
    names: Option<&[&str]>,
    text: &str,
    words: &[tokken_tokenizer::Morpheme],
) -> Value {
    let spans = char_spans(text, words);
    Value::Array(
        words
            .iter()
            .zip(spans)
            .map(|(m, (start, end))| {
                let fields: Vec<_> = analyzer.feature_fields(m).collect();
                let mut w = json!({
                    "surface": m.surface(text),
                    "start": start,
                    "end": end,
                    "byte_start": m.start,
                    "byte_end": m.end,
                    "unknown": m.is_unknown,
                    "features": fields,
                });
                if let Some(names) = names {
                    let named: serde_json::Map<String, Value> = names
                        .iter()
                        .enumerate()
                        .map(|(i, n)| (n.to_string(), json!(fields.get(i))))
                        .collect();
                    w["feature"] = Value::Object(named);
                }
                w
            })
            .collect(),
    )
}

/// Encodes records in parallel, one worker per rayon task.
fn encode_records(tok: &Tokenizer, opts: &EncodeOptions, records: &[Record]) -> Vec<Encoding> {
    use rayon::prelude::*;
    records
        .par_iter()
        .with_min_len(64)
        .map_init(
            || tok.worker(),
            |w, r| {
                let mut e = Encoding::default();
                w.encode_into(&r.text, r.pair.as_deref(), opts, &mut e);
                e
            },
        )
        .collect()
}

fn write_encoding(
    tok: &Tokenizer,
    args: &Args,
    r: &Record,
    e: &Encoding,
    out: &mut impl Write,
) -> std::io::Result<()> {
    match args.format.as_str() {
        "ids" => {
            let s: Vec<String> = e.ids.iter().map(u32::to_string).collect();
            writeln!(out, "{}", s.join(" "))
        }
        "tokens" => writeln!(out, "{}", tok.tokens(e).join(" ")),
        _ => {
            let mut v = json!({
                "tokens": tok.tokens(e),
                "ids": e.ids,
                "offsets": e.offsets.iter().map(|&(s, t)| [s, t]).collect::<Vec<_>>(),
            });
            if let Some(id) = &r.id {
                v["id"] = id.clone();
            } else {
                v["text"] = Value::String(r.text.clone());
            }
            if r.pair.is_some() {
                v["type_ids"] = json!(e.type_ids);
            }
            writeln!(out, "{v}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn input_lines_plain_json_and_errors() {
        let r = parse_line("東京\t犬", "auto", true, "f", 1).unwrap();
        assert_eq!((r.text.as_str(), r.pair.as_deref()), ("東京", Some("犬")));
        let r = parse_line("東京\t犬", "auto", false, "f", 1).unwrap();
        assert_eq!((r.text.as_str(), r.pair), ("東京\t犬", None));
        let r = parse_line(
            r#"{"id": 7, "text": "a", "text_pair": "b"}"#,
            "auto",
            false,
            "f",
            1,
        )
        .unwrap();
        assert_eq!(
            (r.id, r.text.as_str(), r.pair.as_deref()),
            (Some(json!(7)), "a", Some("b"))
        );
        // Plain text that starts with `{` when asked to.
        assert_eq!(parse_line("{x", "text", false, "f", 1).unwrap().text, "{x");
        for (line, needle) in [
            ("{x", "in.jsonl:3: invalid JSON"),
            (r#"{"id": 1}"#, "in.jsonl:3: missing string field"),
            ("[1]", "in.jsonl:3: expected a JSON object"),
        ] {
            let fmt = if line.starts_with('{') {
                "auto"
            } else {
                "jsonl"
            };
            let e = format!(
                "{:#}",
                parse_line(line, fmt, false, "in.jsonl", 3).err().unwrap()
            );
            assert!(e.contains(needle), "{line}: {e}");
        }
        let e = parse_line(r#"{"text": "a"}"#, "auto", true, "in.jsonl", 2)
            .err()
            .unwrap();
        assert!(e.to_string().contains("in.jsonl:2: --pair needs"), "{e}");
    }
}
