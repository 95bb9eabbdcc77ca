//! Explanations: integrated-gradients completeness and gradient × input against finite
//! differences on the tiny-BERT fixture, attention weights against transformers'
//! `output_attentions`, rollout on a hand-computed case, a deletion test and the shortcut
//! report on a tiny model trained here on keyword data, and the HTML view.

mod common;

use std::sync::OnceLock;

use common::{adamw_update, read_fixture, tiny_dir, trainable_sizes};
use tokken_model::explain::attention::rollout;
use tokken_model::explain::explanation::explain_tokens;
use tokken_model::explain::grad_input::grad_input;
use tokken_model::explain::html::{render_explanations, render_shortcuts};
use tokken_model::explain::integrated_gradients::integrated_gradients;
use tokken_model::explain::shortcuts::{shortcut_report, ShortcutOptions};
use tokken_model::explain::{Baseline, ExplainOptions, Explainer, Explanation, Method, SpecialIds};
use tokken_model::init::init_params;
use tokken_model::train::{LoraConfig, LossConfig, Targets, TrainMode, TrainModel, TrainSetup};
use tokken_model::trainer::{AdamW, AdamWConfig};
use tokken_model::{BatchInput, BertConfig, BertParams};

/// The fixture vocab's `[PAD]`, `[CLS]`, `[SEP]`.
const SPECIALS: SpecialIds = SpecialIds {
    pad: 0,
    cls: 2,
    sep: 3,
};

fn tiny_explainer() -> Explainer {
    Explainer::new(BertParams::load(&tiny_dir()).unwrap(), SPECIALS).unwrap()
}

/// The fixture's single-text rows (token type 0 only: explanations are of single texts),
/// each cut to its real tokens, with their row index in the fixture batch.
fn fixture_rows_indexed() -> Vec<(usize, Vec<u32>)> {
    let fx = read_fixture("tiny-bert-forward.safetensors");
    let ids = &fx["input_ids"];
    let (b, t) = (ids.shape[0], ids.shape[1]);
    let mask = fx["attention_mask"].u8();
    let types = fx["token_type_ids"].u32();
    let ids = ids.u32();
    (0..b)
        .filter(|r| types[r * t..(r + 1) * t].iter().all(|&ty| ty == 0))
        .map(|r| {
            let n = mask[r * t..(r + 1) * t].iter().filter(|&&m| m == 1).count();
            (r, ids[r * t..r * t + n].to_vec())
        })
        .collect()
}

fn fixture_rows() -> Vec<Vec<u32>> {
    fixture_rows_indexed()
        .into_iter()
        .map(|(_, ids)| ids)
        .collect()
}

#[test]
fn integrated_gradients_are_complete_within_one_percent() {
    let mut ex = tiny_explainer();
    let rows = fixture_rows();
    for ids in rows.iter().filter(|r| r.len() >= 4) {
        for baseline in [Baseline::Pad, Baseline::Zero] {
            for class in 0..ex.num_labels() {
                let r = integrated_gradients(&mut ex, ids, class, 64, baseline, 1024).unwrap();
                let want = r.input_logit - r.baseline_logit;
                println!(
                    "T {:2} {baseline:?} class {class}: Σ IG {:+.6} vs Δlogit {want:+.6} (rel {:.2e})",
                    ids.len(),
                    r.sum,
                    r.relative_delta
                );
                assert!(
                    want.abs() > 1e-4,
                    "degenerate case: logit barely moves from the baseline"
                );
                assert!(
                    r.relative_delta < 0.01,
                    "completeness: Σ IG {} vs {want} ({:.3} %)",
                    r.sum,
                    100.0 * r.relative_delta
                );
                // the end points are the model's own logits
                let x = ex.word_embeddings(ids).unwrap();
                let (logits, _) = ex.gradients(ids, &x, class).unwrap();
                assert!((logits[class] - r.input_logit).abs() < 1e-5);
                if baseline == Baseline::Pad {
                    // [CLS] and [SEP] equal the baseline: exactly no attribution
                    assert_eq!(r.scores[0], 0.0);
                    assert_eq!(*r.scores.last().unwrap(), 0.0);
                }
            }
        }
    }
}

#[test]
fn integrated_gradients_do_not_depend_on_the_pass_size() {
    let mut ex = tiny_explainer();
    let ids = &fixture_rows()[0];
    let whole = integrated_gradients(&mut ex, ids, 1, 16, Baseline::Pad, 4096).unwrap();
    let split = integrated_gradients(&mut ex, ids, 1, 16, Baseline::Pad, ids.len() * 3).unwrap();
    for (a, b) in whole.scores.iter().zip(&split.scores) {
        assert!((a - b).abs() < 1e-5, "{a} vs {b}");
    }
}

#[test]
fn gradient_times_input_matches_finite_differences() {
    let mut ex = tiny_explainer();
    let c = ex.hidden_size();
    let ids = &fixture_rows()[0];
    // the inputs_embeds path gives the inference forward's logits
    let scores = ex.scores(ids).unwrap();
    let x = ex.word_embeddings(ids).unwrap();
    let (logits, _) = ex.gradients(ids, &x, 0).unwrap();
    for (a, b) in logits.iter().zip(&scores.logits) {
        assert!((a - b).abs() < 1e-5, "train forward {a} vs inference {b}");
    }
    let eps = 1e-2f32;
    let mut worst = 0.0f32;
    for class in 0..ex.num_labels() {
        let (gi, _) = grad_input(&mut ex, ids, class).unwrap();
        for t in 0..ids.len() {
            // d/dε f(x with row t scaled by 1 + ε) at ε = 0 is exactly x_t · ∇_t f
            let scaled = |s: f32| {
                let mut v = x.clone();
                for e in &mut v[t * c..(t + 1) * c] {
                    *e *= s;
                }
                v
            };
            let mut rows = scaled(1.0 + eps);
            rows.extend(scaled(1.0 - eps));
            let (l, _) = ex.gradients(ids, &rows, class).unwrap();
            let nl = ex.num_labels();
            let fd = (l[class] - l[nl + class]) / (2.0 * eps);
            let err = (fd - gi[t]).abs();
            worst = worst.max(err);
            assert!(
                err <= 2e-3 + 0.02 * gi[t].abs(),
                "class {class} token {t}: grad x input {} vs finite difference {fd}",
                gi[t]
            );
        }
    }
    println!("grad x input vs central differences: max |err| {worst:.2e}");
}

#[test]
fn attention_weights_match_transformers() {
    let fx = read_fixture("tiny-bert-forward.safetensors");
    let mut ex = tiny_explainer();
    let nh = ex.params().config.num_attention_heads;
    let t_pad = fx["input_ids"].shape[1];
    let mut worst = 0.0f32;
    let rows = fixture_rows_indexed();
    assert!(rows.len() >= 2);
    for (b, ids) in &rows {
        let b = *b;
        let n = ids.len();
        let (_, layers) = ex.attentions(ids).unwrap();
        for (l, got) in layers.iter().enumerate() {
            let want = fx[&format!("attentions.{l}")].f32();
            for h in 0..nh {
                for i in 0..n {
                    for j in 0..n {
                        let w = want[((b * nh + h) * t_pad + i) * t_pad + j];
                        let g = got[(h * n + i) * n + j];
                        worst = worst.max((g - w).abs());
                    }
                }
            }
        }
    }
    println!("attention weights vs transformers: max |err| {worst:.2e}");
    assert!(worst < 1e-5, "max |err| {worst}");
}

#[test]
fn rollout_of_a_hand_computed_two_layer_case() {
    // T = 2, NH = 2; per layer: mean of heads, + I, rows renormalised, R = Â2 · Â1.
    let layer1 = vec![1.0, 0.0, 0.5, 0.5, 0.6, 0.4, 0.2, 0.8]; // mean [[.8,.2],[.35,.65]]
    let layer2 = vec![0.5, 0.5, 0.5, 0.5, 0.0, 1.0, 1.0, 0.0]; // mean [[.25,.75],[.75,.25]]
                                                               // Â1 = [[.9,.1],[.175,.825]], Â2 = [[.625,.375],[.375,.625]]
    let want = [0.628125, 0.371875, 0.446875, 0.553125];
    let got = rollout(&[layer1, layer2], 2, 2);
    for (g, w) in got.iter().zip(want) {
        assert!((g - w).abs() < 1e-6, "{got:?} vs {want:?}");
    }
    // no layers: the identity
    assert_eq!(rollout(&[], 2, 2), vec![1.0, 0.0, 0.0, 1.0]);
}

// ---- a tiny model trained on keyword data -------------------------------------------

/// Ids: 0 [PAD], 1 [UNK], 2 [CLS], 3 [SEP], 4 [MASK]; 5, 6, 7 the keywords of classes
/// 0, 1, 2; 8 a second cue of class 0 only (the planted shortcut); 10..40 fillers. Class 3
/// is "no cue" (fillers only), so no class is a default the model falls back to.
const KEYWORD: u32 = 5;
const SHORTCUT: u32 = 8;
const FILLERS: std::ops::Range<u32> = 10..40;
const CONTENT: usize = 7;

/// A SplitMix64 stream (fixed seeds: the test is deterministic).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// `[CLS] content [SEP]`: fillers with `cue` at a random place.
fn sequence(rng: &mut Rng, cue: Option<u32>) -> Vec<u32> {
    let mut content: Vec<u32> = (0..CONTENT)
        .map(|_| FILLERS.start + rng.below(FILLERS.len()) as u32)
        .collect();
    if let Some(cue) = cue {
        content[rng.below(CONTENT)] = cue;
    }
    let mut ids = vec![SPECIALS.cls];
    ids.extend(content);
    ids.push(SPECIALS.sep);
    ids
}

/// A training example: class-0 texts carry keyword 5 or the shortcut 8 (half each). In a
/// quarter of them every filler is `[PAD]` with probability 1/2, so that the model learns
/// `[PAD]` as "no evidence", as the `Pad` baseline of integrated gradients assumes; without
/// it the all-`[PAD]` baseline is an input the model never saw, its prediction there is
/// arbitrary (for some seeds already the cue's class), and the attributions measured from it
/// say little about the cue.
fn training_example(rng: &mut Rng) -> (Vec<u32>, i32) {
    let class = rng.below(4);
    let cue = match class {
        3 => None,
        0 if rng.below(2) == 0 => Some(SHORTCUT),
        _ => Some(KEYWORD + class as u32),
    };
    let mut ids = sequence(rng, cue);
    if rng.below(4) == 0 {
        for id in &mut ids[1..=CONTENT] {
            if FILLERS.contains(id) && rng.below(2) == 0 {
                *id = SPECIALS.pad;
            }
        }
    }
    (ids, class as i32)
}

/// Full fine-tune from random init, 600 AdamW steps of 32 examples at learning rate 2e-3
/// (at 5e-3 some seeds stall on a plateau near loss 0.7; at 2e-3 all 16 tried converge).
fn train() -> BertParams {
    let mut cfg = BertConfig::preset("tiny", 40, 4).unwrap();
    cfg.hidden_size = 32;
    cfg.intermediate_size = 64;
    cfg.max_position_embeddings = 16;
    let setup = TrainSetup {
        mode: TrainMode::Full,
        lora: LoraConfig::default(),
        loss: LossConfig::default(),
        hidden_dropout: 0.0,
        attention_dropout: 0.0,
        classifier_dropout: 0.0,
    };
    let mut model = TrainModel::new(init_params(&cfg, 7).unwrap(), setup, 7).unwrap();
    let mut opt = AdamW::new(AdamWConfig::default(), &trainable_sizes(&mut model));
    let mut rng = Rng(42);
    let (b, t) = (32, CONTENT + 2);
    for step in 0..600u64 {
        let mut ids = Vec::new();
        let mut targets = Vec::new();
        for _ in 0..b {
            let (x, y) = training_example(&mut rng);
            ids.extend(x);
            targets.push(y);
        }
        let (types, mask) = (vec![0u32; b * t], vec![1u8; b * t]);
        let batch = BatchInput {
            ids: &ids,
            type_ids: &types,
            mask: &mask,
            b,
            t,
        };
        model.zero_grads();
        let loss = model
            .forward_backward(&batch, &Targets::Single(&targets), step, 1.0)
            .unwrap();
        if step % 100 == 0 || step == 599 {
            println!("train step {step}: loss {loss:.4}");
        }
        adamw_update(&mut model, &mut opt, 2e-3);
    }
    model.merged().unwrap()
}

fn trained() -> &'static BertParams {
    static MODEL: OnceLock<BertParams> = OnceLock::new();
    MODEL.get_or_init(train)
}

/// Token strings `w{id}` joined by spaces, with their char offsets.
fn as_text(ids: &[u32]) -> (String, Vec<String>, Vec<(usize, usize)>) {
    let mut text = String::new();
    let mut tokens = Vec::new();
    let mut offsets = Vec::new();
    for &id in ids {
        if SPECIALS.is_special(id) {
            tokens.push(if id == SPECIALS.cls { "[CLS]" } else { "[SEP]" }.to_string());
            offsets.push((0, 0));
            continue;
        }
        if !text.is_empty() {
            text.push(' ');
        }
        let word = format!("w{id}");
        let start = text.chars().count();
        text.push_str(&word);
        offsets.push((start, start + word.chars().count()));
        tokens.push(word);
    }
    (text, tokens, offsets)
}

/// Predicted-class probability after replacing `positions` with `[PAD]` (attention kept).
fn prob_without(ex: &mut Explainer, ids: &[u32], class: usize, positions: &[usize]) -> f32 {
    let mut masked = ids.to_vec();
    for &p in positions {
        masked[p] = SPECIALS.pad;
    }
    ex.scores(&masked).unwrap().probs[class]
}

/// Positions of the `k` largest scores among the content tokens.
fn top_k(scores: &[f32], k: usize) -> Vec<usize> {
    let mut pos: Vec<usize> = (1..scores.len() - 1).collect();
    pos.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    pos.truncate(k);
    pos
}

/// Deletion = the token replaced by `[PAD]` with its attention kept (the `pad` baseline's
/// reference token), probability of the class predicted before deletion.
#[test]
fn deleting_top_attributed_tokens_hurts_more_than_random_ones() {
    let mut ex = Explainer::new(trained().clone(), SPECIALS).unwrap();
    let mut rng = Rng(2024);
    let texts: Vec<Vec<u32>> = (0..24)
        .map(|i| sequence(&mut rng, Some(KEYWORD + (i % 3) as u32)))
        .collect();
    let correct = texts
        .iter()
        .enumerate()
        .filter(|(i, ids)| ex.scores(ids).unwrap().argmax() == i % 3)
        .count();
    assert!(correct >= 22, "the tiny model did not learn: {correct}/24");
    // Integrated gradients only: its scores add up to the logit change (completeness), so
    // its top tokens must carry the prediction. Gradient x input promises no such thing (a
    // well-trained model's saturated softmax leaves small, local gradients, and on some
    // seeds its top token is a filler); its own test is the finite-difference check above.
    for method in [Method::IntegratedGradients] {
        for k in [1usize, 2] {
            let (mut top_drop, mut random_drop) = (0.0f32, 0.0f32);
            for ids in &texts {
                let s = ex.scores(ids).unwrap();
                let class = s.argmax();
                let p = s.probs[class];
                let attr = match method {
                    Method::IntegratedGradients => {
                        integrated_gradients(&mut ex, ids, class, 32, Baseline::Pad, 1024)
                            .unwrap()
                            .scores
                    }
                    _ => grad_input(&mut ex, ids, class).unwrap().0,
                };
                top_drop += p - prob_without(&mut ex, ids, class, &top_k(&attr, k));
                let mut random: Vec<usize> = Vec::new();
                while random.len() < k {
                    let r = 1 + rng.below(CONTENT);
                    if !random.contains(&r) {
                        random.push(r);
                    }
                }
                random_drop += p - prob_without(&mut ex, ids, class, &random);
            }
            let n = texts.len() as f32;
            let (top, random) = (top_drop / n, random_drop / n);
            println!(
                "{}: k = {k}: mean drop top {top:.3} vs random {random:.3}",
                method.name()
            );
            assert!(
                top > random + 0.1,
                "{}: k = {k}: top-attributed deletion {top} not above random {random}",
                method.name()
            );
        }
    }
}

fn explain(ex: &mut Explainer, ids: &[u32], opts: &ExplainOptions) -> Explanation {
    let (text, tokens, offsets) = as_text(ids);
    explain_tokens(ex, &text, ids, &tokens, &offsets, opts).unwrap()
}

#[test]
fn the_shortcut_report_finds_the_planted_shortcut() {
    let mut ex = Explainer::new(trained().clone(), SPECIALS).unwrap();
    let labels = ex.labels().to_vec();
    let opts = ExplainOptions {
        steps: 16,
        ..ExplainOptions::default()
    };
    let mut rng = Rng(99);
    let mut items = Vec::new();
    // honest texts of every class, then class-1 texts whose only cue is the shortcut
    for i in 0..18 {
        let class = i % 3;
        let e = explain(
            &mut ex,
            &sequence(&mut rng, Some(KEYWORD + class as u32)),
            &opts,
        );
        items.push((e, labels[class].clone()));
    }
    for _ in 0..6 {
        let e = explain(&mut ex, &sequence(&mut rng, Some(SHORTCUT)), &opts);
        items.push((e, labels[1].clone()));
    }
    let report = shortcut_report(&items, &labels, &ShortcutOptions::default());
    let class0 = &report.classes[0];
    println!(
        "class 0: {} predicted, {} wrong; shortcuts {:?}",
        class0.n_predicted,
        class0.n_wrong,
        class0
            .shortcuts
            .iter()
            .map(|w| (&w.word, w.n_wrong, w.mass_wrong))
            .collect::<Vec<_>>()
    );
    assert!(
        class0.n_wrong >= 5,
        "the shortcut texts were not predicted as class 0"
    );
    let top = &class0.shortcuts[0];
    assert_eq!(top.word, format!("w{SHORTCUT}"));
    assert!(top.n_wrong >= 5 && top.lift > 1.0, "{top:?}");
    assert!(top.examples.iter().all(|x| x.gold == labels[1]));
    // the real keyword carries the correct predictions' mass
    let kw = class0
        .top_words
        .iter()
        .find(|w| w.word == format!("w{KEYWORD}"))
        .expect("keyword among class 0's top words");
    assert!(kw.n_correct >= 5 && kw.n_wrong == 0, "{kw:?}");
    let html = render_shortcuts(
        &report,
        &items.iter().map(|(e, _)| e.clone()).collect::<Vec<_>>(),
    );
    assert!(html.contains("w8") && html.contains("shortcut candidates"));
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["classes"][0]["shortcuts"][0]["word"], "w8");
}

#[test]
fn explanation_json_and_html_cover_every_token() {
    let mut ex = tiny_explainer();
    // 「けいざい」 + 「<b>」 to check escaping, as char tokens of the fixture vocab
    let text = "けいざい<b>&";
    let vocab: Vec<String> = std::fs::read_to_string(tiny_dir().join("vocab.txt"))
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    let mut ids = vec![SPECIALS.cls];
    let mut tokens = vec!["[CLS]".to_string()];
    let mut offsets = vec![(0, 0)];
    for (i, ch) in text.chars().enumerate() {
        let id = vocab.iter().position(|v| *v == ch.to_string()).unwrap_or(1) as u32;
        ids.push(id);
        tokens.push(ch.to_string());
        offsets.push((i, i + 1));
    }
    ids.push(SPECIALS.sep);
    tokens.push("[SEP]".into());
    offsets.push((0, 0));
    for method in [
        Method::IntegratedGradients,
        Method::GradInput,
        Method::Attention,
    ] {
        let opts = ExplainOptions {
            method,
            steps: 32,
            ..ExplainOptions::default()
        };
        let e = explain_tokens(&mut ex, text, &ids, &tokens, &offsets, &opts).unwrap();
        assert_eq!(e.tokens.len(), ids.len());
        assert_eq!(e.spans.len(), text.chars().count());
        let spans: String = e.spans.iter().map(|s| s.text.as_str()).collect();
        assert_eq!(spans, text);
        let json = serde_json::to_value(&e).unwrap();
        assert_eq!(json["method"], method.name());
        assert_eq!(json["tokens"].as_array().unwrap().len(), ids.len());
        assert_eq!(
            json["integrated_gradients"].is_object(),
            method == Method::IntegratedGradients
        );
        if method == Method::Attention {
            let w = &json["attention"]["weights"];
            assert_eq!(w.as_array().unwrap().len(), 2);
            // rollout rows are distributions
            for row in json["attention"]["rollout"].as_array().unwrap() {
                let s: f64 = row
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|v| v.as_f64().unwrap())
                    .sum();
                assert!((s - 1.0).abs() < 1e-4);
            }
        }
        let html = render_explanations("tiny", std::slice::from_ref(&e));
        assert!(html.starts_with("<!DOCTYPE html>") && html.trim_end().ends_with("</html>"));
        assert!(
            !html.contains("<script") && !html.contains("http://") && !html.contains("https://")
        );
        assert!(html.contains("&lt;b&gt;&amp;") || html.contains("&lt;</span>"));
        assert!(!html.contains("<b>&"), "unescaped text");
        assert_eq!(html.matches("class=\"tok\"").count(), e.spans.len());
        for t in &e.tokens {
            let cell = format!(
                "<td class=\"text\">{}</td>",
                tokken_model::report::html::escape(&t.token)
            );
            assert!(html.contains(&cell), "token {} missing", t.token);
        }
        assert_eq!(
            html.matches("<span").count(),
            html.matches("</span>").count()
        );
    }
}
