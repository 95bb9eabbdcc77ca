//! `tokken-cli predict`: classify texts with a model dir; JSONL out, one line per text.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{bail, Context};
use serde_json::{json, Map, Value};
use tokken_engine::DType;
use tokken_model::{Classifier, ClassifierOptions, Prediction};

use crate::line_batches::{LineBatches, BATCH_LINES};

/// Flags of `tokken-cli predict`.
#[derive(clap::Args)]
#[command(
    about = "Classify texts with a model dir and print JSONL predictions",
    long_about = "Classify texts with an HF BertForSequenceClassification model dir.\n\n\
    Texts come from the arguments, else --input FILE, else standard input. Input lines are \
    plain text, or JSON objects whose text is in --text-field (default \"text\"; an \"id\" \
    field is copied to the output). Blank lines are skipped. Standard input is answered as \
    it arrives: a program may write one line and wait for its prediction (lines that arrive \
    faster than they are classified are batched).\n\n\
    Output: one JSON object per text, in input order: \
    {\"text\", \"label\", \"score\", \"probs\": {label: probability}} (plus \"id\", \"top_k\", \
    \"logits\" when asked for). A hierarchical run adds \"path\" and \"levels\" ([{level, label, \
    path, prob}], prob given the parent; \"score\" is the path's probability); a multi-label \
    run adds \"labels\" ([{label, score}] at or above each label's threshold).\n\n\
    Example:\n  echo '日本代表が逆転勝ち' | tokken-cli predict --model runs/news --top-k 3"
)]
pub struct Args {
    #[command(flatten)]
    device: crate::device_arg::DeviceArg,
    /// The model dir (config.json, model.safetensors or pytorch_model.bin, vocab.txt,
    /// tokenizer_config.json).
    #[arg(long, value_name = "DIR")]
    model: PathBuf,
    /// Texts to classify (otherwise read from --input or standard input).
    #[arg(value_name = "TEXT")]
    texts: Vec<String>,
    /// Read texts from this file (`-` for standard input).
    #[arg(long, value_name = "FILE", conflicts_with = "texts")]
    input: Option<PathBuf>,
    /// JSON field holding the text when input lines are JSON objects.
    #[arg(long, default_value = "text", value_name = "NAME")]
    text_field: String,
    /// Write predictions to this file (atomically) instead of standard output.
    #[arg(long, short, value_name = "FILE")]
    output: Option<PathBuf>,
    /// Also list the K most probable labels, best first, as "top_k".
    #[arg(long, value_name = "K")]
    top_k: Option<usize>,
    /// Texts per forward pass (texts are grouped by length first).
    #[arg(long, default_value_t = 32)]
    batch_size: usize,
    /// Dense-layer precision: f32 (reference) or bf16 (faster on CPUs with AVX512-BF16).
    #[arg(long, default_value = "f32", value_parser = ["f32", "bf16"])]
    dtype: String,
    /// Keep memory-mapped f32 weights zero-copy: never pack the dense weights (slower small
    /// batches, about half the resident memory). By default they are packed once the input
    /// is known to hold more than one batch (--batch-size texts); a single forward pass
    /// packs each weight as it goes, so packing first would only add time.
    #[arg(long)]
    no_prepack: bool,
    /// Longest input in tokens (default: the model's limit, usually 512); longer texts are
    /// truncated.
    #[arg(long)]
    max_length: Option<usize>,
    /// Include the raw logits as "logits".
    #[arg(long)]
    output_logits: bool,
    #[command(flatten)]
    abstain: crate::abstain_arg::AbstainArgs,
    /// MeCab dictionary directory (default: unidic-lite, found automatically).
    #[arg(long, value_name = "DIR")]
    dicdir: Option<PathBuf>,
    /// Reasoning-step template (none, cot-ja, cot-ja-prefix, cot-hier or a JSON file). A run
    /// dir applies the template it was trained with (template.json) by itself; a different
    /// one is refused.
    #[arg(long, value_name = "NAME|FILE")]
    template: Option<String>,
}

/// One input: its text and the optional id carried from JSON input.
struct Item {
    text: String,
    id: Option<Value>,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let device = args.device.resolve()?;
    if args.top_k == Some(0) {
        bail!("--top-k must be at least 1");
    }
    args.abstain.min_confidence()?;
    let dtype: DType = args
        .dtype
        .parse()
        .map_err(|e| anyhow::anyhow!("--dtype: {e:?}"))?;
    let options = ClassifierOptions {
        dtype,
        batch_size: args.batch_size,
        max_length: args.max_length,
        dicdir: args.dicdir.clone(),
        // Packed below, once the input proves to need more than one forward pass.
        prepack: false,
        template: args
            .template
            .as_deref()
            .map(tokken_model::template::Template::load)
            .transpose()
            .context("--template")?,
    };
    let model = crate::model_arg::resolve(&args.model)?;
    let clf = Classifier::load_with(&model, options)
        .with_context(|| format!("loading {}", model.display()))?;
    let mut clf = args.device.attach(device, clf)?;
    // The GPU keeps its own bf16 copy: no host packing.
    let may_prepack = !args.no_prepack && device == tokken_engine::Device::Cpu;
    // Packing every dense weight (≈ 0.15 s for BERT-base) pays off from the second forward
    // pass on; one pass packs each weight as it goes.
    let prepack_if = |clf: &mut Classifier, several_passes: bool| -> anyhow::Result<()> {
        if may_prepack && several_passes {
            clf.prepack().context("packing the weights")?;
        }
        Ok(())
    };

    let mut write = |out: &mut dyn Write| -> anyhow::Result<()> {
        if !args.texts.is_empty() {
            let items: Vec<Item> = args
                .texts
                .iter()
                .map(|t| Item {
                    text: t.clone(),
                    id: None,
                })
                .collect();
            prepack_if(&mut clf, items.len() > args.batch_size)?;
            return emit(&clf, &args, &items, out);
        }
        let mut lines = LineBatches::open(args.input.as_deref(), BATCH_LINES)?;
        let mut predicted_before = false;
        while let Some((first, batch)) = lines.next_batch()? {
            let mut items = Vec::with_capacity(batch.len());
            for (i, line) in batch.iter().enumerate() {
                let at = || format!("{}:{}", lines.name(), first + i);
                if let Some(item) = parse_line(line, &args.text_field).with_context(at)? {
                    items.push(item);
                }
            }
            prepack_if(&mut clf, predicted_before || items.len() > args.batch_size)?;
            emit(&clf, &args, &items, out)?;
            // A program feeding lines one at a time reads each answer now.
            out.flush().context("writing output")?;
            predicted_before = true;
        }
        Ok(())
    };
    match &args.output {
        Some(path) => {
            let mut result = Ok(());
            let io = tokken_engine::write_file_atomically(path, |w| {
                result = write(w);
                // a failed run must leave any existing file untouched
                match &result {
                    Ok(()) => Ok(()),
                    Err(_) => Err(std::io::Error::other("prediction failed")),
                }
            });
            result?;
            io?;
        }
        None => {
            let stdout = std::io::stdout();
            let mut lock = std::io::BufWriter::new(stdout.lock());
            write(&mut lock)?;
            lock.flush()?;
        }
    }
    Ok(())
}

/// A plain text line, or a JSON object line with the text in `field`; None for blank lines.
fn parse_line(line: &str, field: &str) -> anyhow::Result<Option<Item>> {
    let trimmed = line.trim();
    if trimmed.is_empty() {
        return Ok(None);
    }
    if !trimmed.starts_with('{') {
        return Ok(Some(Item {
            text: line.to_string(),
            id: None,
        }));
    }
    let v: Value = serde_json::from_str(trimmed).context("invalid JSON")?;
    let text = v
        .get(field)
        .and_then(Value::as_str)
        .with_context(|| format!("no string field \"{field}\" (set --text-field)"))?;
    Ok(Some(Item {
        text: text.to_string(),
        id: v.get("id").cloned(),
    }))
}

fn emit(clf: &Classifier, args: &Args, items: &[Item], out: &mut dyn Write) -> anyhow::Result<()> {
    let texts: Vec<&str> = items.iter().map(|i| i.text.as_str()).collect();
    let preds = clf.predict(&texts)?;
    for (item, p) in items.iter().zip(&preds) {
        let mut rec = record(clf, args, item, p);
        abstain(&mut rec, args, p);
        writeln!(out, "{rec}")?;
    }
    Ok(())
}

/// The safety filter: below --min-confidence the record's label becomes the abstain label.
fn abstain(rec: &mut Value, args: &Args, p: &Prediction) {
    let Some(min) = args.abstain.min_confidence else {
        return;
    };
    if let Value::Object(r) = rec {
        let abstained = tokken_model::abstain::abstains(p.score, min);
        if abstained {
            r.insert("label".into(), json!(args.abstain.abstain_label));
        }
        r.insert("abstained".into(), json!(abstained));
    }
}

fn record(clf: &Classifier, args: &Args, item: &Item, p: &Prediction) -> Value {
    let labels = clf.labels();
    let probs: Map<String, Value> = labels
        .iter()
        .zip(&p.probs)
        .map(|(l, &pr)| (l.clone(), json!(pr)))
        .collect();
    let mut r = Map::new();
    if let Some(id) = &item.id {
        r.insert("id".into(), id.clone());
    }
    r.insert("text".into(), json!(item.text));
    r.insert("label".into(), json!(p.label));
    r.insert("score".into(), json!(p.score));
    r.insert("probs".into(), Value::Object(probs));
    if !p.levels.is_empty() {
        // hierarchical: the path and each level's probability given its parent
        r.insert("path".into(), json!(p.label));
        r.insert("levels".into(), json!(p.levels));
    }
    if clf.is_multi_label() {
        let set: Vec<Value> = p
            .label_set
            .iter()
            .map(|&c| json!({"label": labels[c], "score": p.probs[c]}))
            .collect();
        r.insert("labels".into(), Value::Array(set));
    }
    if let Some(k) = args.top_k {
        let mut order: Vec<usize> = (0..p.probs.len()).collect();
        order.sort_by(|&a, &b| p.probs[b].total_cmp(&p.probs[a]));
        let top: Vec<Value> = order
            .iter()
            .take(k)
            .map(|&i| json!({"label": labels[i], "score": p.probs[i]}))
            .collect();
        r.insert("top_k".into(), Value::Array(top));
    }
    if args.output_logits {
        r.insert("logits".into(), json!(p.logits));
    }
    Value::Object(r)
}
