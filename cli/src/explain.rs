//! `tokken-cli explain`: per-token attributions of a classifier's decision (integrated
//! gradients, gradient × input, attention rollout) as JSON, a coloured terminal view or
//! HTML; with `--report`, the shortcut report over a labelled set.

use std::io::{BufRead, BufReader, IsTerminal, Write};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use indicatif::{ProgressBar, ProgressStyle};
use tokken_model::data::{read_examples, LabelTarget, ReadOptions};
use tokken_model::explain::explanation::{explain_text, model_max_length};
use tokken_model::explain::html::{render_explanations, render_shortcuts};
use tokken_model::explain::shortcuts::ShortcutOptions;
use tokken_model::explain::{
    shortcut_report, terminal, Baseline, ExplainOptions, Explainer, Explanation, Method, SpecialIds,
};
use tokken_tokenizer::encoder::Tokenizer;

/// Flags of `tokken-cli explain`.
#[derive(clap::Args)]
#[command(
    about = "Explain predictions: per-token attributions (integrated gradients, gradient x input, attention rollout); --report: shortcut report over labelled data",
    long_about = "Explain a classifier's predictions token by token.\n\n\
    Attributions are taken w.r.t. the word embeddings (HF inputs_embeds) and summed over the \
    hidden dimension; tokens map back to the original characters through the tokenizer's \
    offsets. Methods: ig (integrated gradients, trapezoid rule over --steps intervals from a \
    [PAD] or zero baseline; the JSON reports the completeness error), grad-input, attention \
    (attention rollout; the JSON also holds every layer's and head's attention weights).\n\n\
    Output: --format terminal (coloured: red supports the explained class, blue opposes it), \
    json (one object per text per line), html (one self-contained page).\n\n\
    --report --input LABELLED.jsonl: explain every example's predicted class and list, per \
    predicted class, the words carrying the most attribution mass in correct vs wrong \
    predictions (shortcut candidates) with example headlines; JSON or HTML (by --format or \
    the --out extension).\n\n\
    Examples:\n  tokken-cli explain --model runs/news '外務省が声明を発表'\n  \
    tokken-cli explain --model runs/news --report --input dev.jsonl --out shortcuts.html"
)]
pub struct Args {
    /// The model: an HF model dir or a fine-tuning run dir.
    #[arg(long, value_name = "DIR")]
    model: PathBuf,
    /// Texts to explain (otherwise read from --input).
    #[arg(value_name = "TEXT")]
    texts: Vec<String>,
    /// Texts, one per line (plain or JSON objects with --text-field); with --report a
    /// labelled data file (JSONL, CSV, TSV).
    #[arg(long, value_name = "FILE", conflicts_with = "texts")]
    input: Option<PathBuf>,
    /// Attribution method.
    #[arg(long, default_value = "ig", value_parser = ["ig", "grad-input", "attention"])]
    method: String,
    /// Explain this label's logit (default: the predicted label).
    #[arg(long, value_name = "LABEL")]
    class: Option<String>,
    /// Integrated-gradients intervals (steps + 1 forward/backward evaluations).
    #[arg(long, default_value_t = 64, value_name = "N")]
    steps: usize,
    /// Integrated-gradients baseline: pad ([PAD] embeddings, [CLS]/[SEP] kept) or zero.
    #[arg(long, default_value = "pad", value_parser = ["pad", "zero"])]
    baseline: String,
    /// Output format (default: terminal; with --report: from the --out extension, else json).
    #[arg(long, value_parser = ["json", "terminal", "html"])]
    format: Option<String>,
    /// Write to this file (atomically) instead of standard output.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// The shortcut report over the labelled --input.
    #[arg(long, requires = "input")]
    report: bool,
    /// JSON/CSV field holding the text.
    #[arg(long, default_value = "text", value_name = "NAME")]
    text_field: String,
    /// Field holding the label (--report).
    #[arg(long, value_name = "NAME")]
    label_field: Option<String>,
    /// Words per example that count in the report (by positive attribution).
    #[arg(long, default_value_t = 3, value_name = "K")]
    top_words: usize,
    /// Words listed per class in the report.
    #[arg(long, default_value_t = 15, value_name = "N")]
    max_words: usize,
    /// Longest input in tokens (default: the model's limit); longer texts are truncated.
    #[arg(long)]
    max_length: Option<usize>,
    /// Terminal colours: auto (when writing to a terminal), always, never (spans shown as
    /// [text +score]).
    #[arg(long, default_value = "auto", value_parser = ["auto", "always", "never"])]
    color: String,
    /// MeCab dictionary directory (default: unidic-lite, found automatically).
    #[arg(long, value_name = "DIR")]
    dicdir: Option<PathBuf>,
}

fn method(name: &str) -> Method {
    match name {
        "grad-input" => Method::GradInput,
        "attention" => Method::Attention,
        _ => Method::IntegratedGradients,
    }
}

/// Plain lines, or the text field of JSON-object lines; blank lines skipped.
fn read_texts(path: &Path, field: &str) -> anyhow::Result<Vec<String>> {
    let f = std::fs::File::open(path).with_context(|| format!("{}", path.display()))?;
    let mut out = Vec::new();
    for (n, line) in BufReader::new(f).lines().enumerate() {
        let line = line.with_context(|| format!("{}:{}", path.display(), n + 1))?;
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        if line.starts_with('{') {
            let v: serde_json::Value = serde_json::from_str(line)
                .with_context(|| format!("{}:{}: not valid JSON", path.display(), n + 1))?;
            match v.get(field).and_then(|t| t.as_str()) {
                Some(t) => out.push(t.to_string()),
                None => bail!(
                    "{}:{}: expected a string field {field:?}",
                    path.display(),
                    n + 1
                ),
            }
        } else {
            out.push(line.to_string());
        }
    }
    Ok(out)
}

fn write_out(out: Option<&Path>, text: &str) -> anyhow::Result<()> {
    match out {
        Some(p) => tokken_model::init::write_atomic(p, text.as_bytes())
            .with_context(|| format!("writing {}", p.display())),
        None => {
            std::io::stdout().write_all(text.as_bytes())?;
            Ok(())
        }
    }
}

fn progress(n: usize, what: &str) -> ProgressBar {
    let bar = ProgressBar::new(n as u64);
    bar.set_style(
        ProgressStyle::with_template(&format!(
            "{what} {{bar:30}} {{pos}}/{{len}} [{{elapsed_precise}} < {{eta_precise}}]"
        ))
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    if n < 2 || !std::io::stderr().is_terminal() {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    bar
}

pub fn run(args: Args) -> anyhow::Result<()> {
    if args.steps == 0 {
        bail!("--steps must be at least 1");
    }
    let model = crate::model_arg::resolve(&args.model)?;
    if let Some(t) = tokken_model::template::stored(&model)? {
        if !t.is_identity() {
            bail!(
                "{}: the model was trained with the reasoning-step template `{}`; explain does \
                 not apply templates yet (its attributions would be of other inputs than the \
                 model sees)",
                model.display(),
                t.name
            );
        }
    }
    if model
        .join(tokken_model::hierarchy::run_dir::HIERARCHY_FILE)
        .is_file()
    {
        // Its logits are per tree node, each softmax over siblings only: explaining one node
        // logit with probabilities over all nodes would mislabel the prediction.
        bail!(
            "{}: the model is hierarchical (hierarchy.json); explain supports flat single- and \
             multi-label models only so far",
            model.display()
        );
    }
    let params = tokken_model::run::load_params(&model)
        .with_context(|| format!("loading {}", model.display()))?;
    let tok = Tokenizer::from_model_dir(&model, args.dicdir.as_deref())
        .with_context(|| format!("loading the tokenizer of {}", model.display()))?;
    let mut ex = Explainer::new(params, SpecialIds::of(&tok))
        .with_context(|| format!("{}", model.display()))?;
    let limit = model_max_length(&ex, &tok);
    let max_length = args.max_length.unwrap_or(limit);
    if max_length < 2 || max_length > ex.params().config.max_position_embeddings {
        bail!(
            "--max-length {max_length} must be between 2 and max_position_embeddings {}",
            ex.params().config.max_position_embeddings
        );
    }
    let class = match &args.class {
        None => None,
        Some(name) => Some(ex.labels().iter().position(|l| l == name).ok_or_else(|| {
            anyhow::anyhow!(
                "--class {name:?} is not a label of the model (labels: {})",
                ex.labels().join(", ")
            )
        })?),
    };
    let opts = ExplainOptions {
        method: method(&args.method),
        class,
        steps: args.steps,
        baseline: if args.baseline == "zero" {
            Baseline::Zero
        } else {
            Baseline::Pad
        },
        ..ExplainOptions::default()
    };
    let model_name = args.model.display().to_string();
    if args.report {
        return report(&args, &mut ex, &tok, max_length, &opts, &model_name);
    }

    let texts = match &args.input {
        Some(p) => read_texts(p, &args.text_field)?,
        None => args.texts.clone(),
    };
    if texts.is_empty() {
        bail!("no text to explain: give TEXT arguments or --input FILE");
    }
    let bar = progress(texts.len(), "explaining");
    let mut explanations = Vec::with_capacity(texts.len());
    for text in &texts {
        explanations.push(explain_text(&mut ex, &tok, max_length, text, &opts)?);
        bar.inc(1);
    }
    bar.finish_and_clear();
    let out = match args.format.as_deref().unwrap_or("terminal") {
        "json" => {
            let mut s = String::new();
            for e in &explanations {
                s.push_str(&serde_json::to_string(e)?);
                s.push('\n');
            }
            s
        }
        "html" => render_explanations(&model_name, &explanations),
        _ => {
            let color = match args.color.as_str() {
                "always" => true,
                "never" => false,
                _ => args.out.is_none() && std::io::stdout().is_terminal(),
            };
            explanations
                .iter()
                .map(|e| terminal::render(e, color))
                .collect::<Vec<_>>()
                .join("\n")
        }
    };
    write_out(args.out.as_deref(), &out)
}

fn report(
    args: &Args,
    ex: &mut Explainer,
    tok: &Tokenizer,
    max_length: usize,
    opts: &ExplainOptions,
    model_name: &str,
) -> anyhow::Result<()> {
    let path = args.input.as_ref().expect("clap requires --input");
    let read = ReadOptions {
        text_field: args.text_field.clone(),
        label_field: args.label_field.clone(),
        ..ReadOptions::default()
    };
    let data = read_examples(path, &read)?;
    if data.examples.is_empty() {
        bail!("{}: no examples", path.display());
    }
    let labels = ex.labels().to_vec();
    let bar = progress(data.examples.len(), "explaining");
    let mut items: Vec<(Explanation, String)> = Vec::with_capacity(data.examples.len());
    for e in &data.examples {
        let gold = match &e.label {
            LabelTarget::Single(l) => l.clone(),
            LabelTarget::Multi(_) => bail!(
                "{}:{}: the shortcut report needs single-label data",
                path.display(),
                e.line
            ),
        };
        if e.text_pair.is_some() {
            bail!(
                "{}:{}: text pairs are not supported by explain yet (single texts only)",
                path.display(),
                e.line
            );
        }
        if !labels.contains(&gold) {
            bail!(
                "{}:{}: label {gold:?} is not a label of the model (labels: {})",
                path.display(),
                e.line,
                labels.join(", ")
            );
        }
        // the report explains each example's predicted class
        let one = ExplainOptions {
            class: None,
            ..opts.clone()
        };
        items.push((explain_text(ex, tok, max_length, &e.text, &one)?, gold));
        bar.inc(1);
    }
    bar.finish_and_clear();
    let mut r = shortcut_report(
        &items,
        &labels,
        &ShortcutOptions {
            top_k: args.top_words,
            max_words: args.max_words,
            ..ShortcutOptions::default()
        },
    );
    r.model = model_name.to_string();
    r.data = path.display().to_string();
    let html_by_ext = args
        .out
        .as_ref()
        .and_then(|p| p.extension())
        .is_some_and(|e| e == "html" || e == "htm");
    let format = args
        .format
        .as_deref()
        .unwrap_or(if html_by_ext { "html" } else { "json" });
    let out = match format {
        "html" => {
            let ex: Vec<Explanation> = items.into_iter().map(|(e, _)| e).collect();
            render_shortcuts(&r, &ex)
        }
        "json" => serde_json::to_string_pretty(&r)? + "\n",
        other => bail!("--format {other} is not available with --report (json or html)"),
    };
    write_out(args.out.as_deref(), &out)
}
