//! Counterfactual augmentation lowers the flip rate: a tiny char-vocab BERT trained on
//! deliberately skewed synthetic headlines (a gender term perfectly correlated with the
//! class, the topic word right only 75 % of the time) flips its prediction on term-swapped
//! probe pairs far more often than the same model trained with the term-swapped copies
//! (`Mitigation::augment_counterfactual`). Fixed seeds; the margin is large.

use std::path::{Path, PathBuf};

use tokken_model::bias::{flip_stats, report::probe_predictions, Mitigation, ProbeSet};
use tokken_model::config::BertConfig;
use tokken_model::init::{write_atomic, write_random_model, TokenizerSource};
use tokken_model::rng::SplitMix64;
use tokken_model::trainer::{TrainConfig, Trainer};
use tokken_model::Classifier;
use tokken_tokenizer::vocab_build::{
    build_char_vocab, char_tokenizer_config, vocab_file_text, CharVocabOptions,
};

const SPORT: [&str; 6] = ["試合", "優勝", "選手", "得点", "決勝", "監督"];
const ECONOMY: [&str; 6] = ["株価", "円安", "決算", "増益", "投資", "金利"];
const FILLER: [&str; 4] = ["会見で", "初めて", "今年も", "ついに"];
const ENDING: [&str; 4] = ["話題に", "注目", "発表", "報道"];

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tokken-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// 160 headlines: class スポーツ always with 女性, 経済 always with 男性; the topic word
/// belongs to the other class in a quarter of them.
fn skewed_data() -> String {
    let mut rng = SplitMix64::new(7);
    let mut out = String::new();
    for i in 0..160 {
        let sport = i % 2 == 0;
        let (label, gender) = if sport {
            ("スポーツ", "女性")
        } else {
            ("経済", "男性")
        };
        let misleading = rng.below(4) == 0;
        let words = if sport != misleading { SPORT } else { ECONOMY };
        let text = format!(
            "{gender}が{}{}{}",
            FILLER[rng.below(4) as usize],
            words[rng.below(6) as usize],
            ENDING[rng.below(4) as usize]
        );
        out.push_str(&serde_json::json!({"text": text, "label": label}).to_string());
        out.push('\n');
    }
    out
}

/// Probes: the gender slot with one topic word of either class.
fn probe_file() -> String {
    let mut out = String::from(r#"{"group": "gender", "terms": [["男性", "女性"]]}"#);
    out.push('\n');
    for w in SPORT.iter().chain(&ECONOMY) {
        out.push_str(&format!(
            "{{\"template\": \"{{X}}が会見で{w}発表\", \"group\": \"gender\"}}\n"
        ));
    }
    out
}

/// A random tiny BERT over the characters of `texts`.
fn tiny_model(dir: &Path, texts: &[String]) -> PathBuf {
    let vocab = build_char_vocab(
        texts.iter().map(|s| s.as_str()),
        &CharVocabOptions {
            min_count: 1,
            max_size: None,
        },
    );
    let vocab_dir = dir.join("vocab");
    std::fs::create_dir_all(&vocab_dir).unwrap();
    write_atomic(
        &vocab_dir.join("vocab.txt"),
        vocab_file_text(&vocab).as_bytes(),
    )
    .unwrap();
    let tok = serde_json::to_vec(&char_tokenizer_config(64)).unwrap();
    write_atomic(&vocab_dir.join("tokenizer_config.json"), &tok).unwrap();
    let mut config = BertConfig::preset("tiny", vocab.len(), 2).unwrap();
    config.max_position_embeddings = 64;
    config.id2label = vec!["スポーツ".into(), "経済".into()];
    let out = dir.join("base");
    write_random_model(
        &out,
        &config,
        TokenizerSource::Vocab(&vocab_dir.join("vocab.txt")),
        3,
    )
    .unwrap();
    out
}

/// Full fine-tuning, no dropout, 120 steps of 16. Built from JSON so that fields added to
/// `TrainConfig` later (all `#[serde(default)]`) need no change here.
fn config(model: &Path, train: &Path, mitigation: Mitigation) -> TrainConfig {
    let mut cfg: TrainConfig = serde_json::from_value(serde_json::json!({
        "model": model, "train": train, "eval": null, "eval_split": null,
        "text_field": "text", "label_field": null, "multi_label": false, "labels": [],
        "setup": {
            "mode": "full",
            "lora": {"r": 4, "alpha": 8.0, "dropout": 0.0, "target_modules": ["query", "value"]},
            "loss": {"class_weights": null, "label_smoothing": 0.0, "multi_label": false},
            "hidden_dropout": 0.0, "attention_dropout": 0.0, "classifier_dropout": 0.0
        },
        "auto_class_weights": false, "epochs": 0, "max_steps": 120, "batch_size": 16,
        "grad_accum": 1, "lr": 1e-3,
        "adamw": {"beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "weight_decay": 0.01, "max_grad_norm": 1.0},
        "warmup_ratio": 0.1, "warmup_steps": null, "schedule": "linear", "max_length": 32,
        "seed": 11, "shuffle": true, "eval_every_epoch": false, "early_stopping": null,
        "checkpoint_every": null, "init_adapter": null, "dicdir": null
    }))
    .expect("a valid TrainConfig");
    cfg.mitigation = mitigation;
    cfg
}

#[test]
fn counterfactual_augmentation_lowers_the_flip_rate() {
    let dir = scratch("bias-mitigation");
    let train = dir.join("train.jsonl");
    let data = skewed_data();
    std::fs::write(&train, &data).unwrap();
    let probes_path = dir.join("probes.jsonl");
    let probes_text = probe_file();
    std::fs::write(&probes_path, &probes_text).unwrap();
    let probes = ProbeSet::load(&probes_path).unwrap();
    let pairs = probes.pairs();
    let mut texts: Vec<String> = data.lines().map(String::from).collect();
    texts.extend(pairs.iter().flat_map(|p| p.texts.clone()));
    let base = tiny_model(&dir, &texts);

    let mut rates = Vec::new();
    for (name, mitigation) in [
        ("skewed", Mitigation::default()),
        (
            "augmented",
            Mitigation {
                augment_counterfactual: Some(probes_path.clone()),
                ..Mitigation::default()
            },
        ),
    ] {
        let run = dir.join(name);
        let cfg = config(&base, &train, mitigation);
        let mut trainer = match Trainer::new(cfg, &run) {
            Ok(t) => t,
            Err(e) if e.to_string().contains("dictionary") => {
                eprintln!("skipping: no MeCab dictionary ({e})");
                return;
            }
            Err(e) => panic!("{e}"),
        };
        let n = trainer.train.len();
        trainer.run(&mut |_| {}).unwrap();
        let clf = Classifier::load(&run).unwrap();
        let probs = probe_predictions(&clf, &pairs).unwrap();
        let stats = flip_stats(&pairs, &probs, clf.labels(), 5).unwrap();
        println!(
            "{name}: {n} training examples, flip rate {:.3} ({} of {}), mean max |Δp| {:.3}",
            stats.flip_rate, stats.flips, stats.pairs, stats.mean_max_abs_dp
        );
        rates.push((stats.flip_rate, stats.mean_max_abs_dp, n));
    }
    let (skewed, augmented) = (rates[0], rates[1]);
    assert_eq!(
        augmented.2,
        2 * skewed.2,
        "every example has one gender term to swap"
    );
    assert!(
        skewed.0 >= 0.5,
        "the skewed model should follow the gender term: flip rate {:.3}",
        skewed.0
    );
    assert!(
        augmented.0 + 0.4 <= skewed.0,
        "augmentation should remove most flips: {:.3} vs {:.3}",
        augmented.0,
        skewed.0
    );
    assert!(augmented.1 < skewed.1);
    let _ = std::fs::remove_dir_all(&dir);
}
