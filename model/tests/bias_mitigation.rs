//! Counterfactual augmentation lowers the flip rate: a tiny char-vocab BERT trained on
//! deliberately skewed synthetic headlines (a gender term perfectly correlated with the
//! class, the topic word right only 75 % of the time) flips its prediction on term-swapped
//! probe pairs far more often than the same model trained with the term-swapped copies
//! (`Mitigation::augment_counterfactual`). Fixed seeds; the margin is large.

use std::path::Path;

use tokken_model::bias::{flip_stats, report::probe_predictions, Mitigation, ProbeSet};
use tokken_model::rng::SplitMix64;
use tokken_model::trainer::{TrainConfig, Trainer};
use tokken_model::Classifier;

mod common;
use common::{scratch, tiny_char_model, train_config};

const SPORT: [&str; 6] = ["試合", "優勝", "選手", "得点", "決勝", "監督"];
const ECONOMY: [&str; 6] = ["株価", "円安", "決算", "増益", "投資", "金利"];
const FILLER: [&str; 4] = ["会見で", "初めて", "今年も", "ついに"];
const ENDING: [&str; 4] = ["話題に", "注目", "発表", "報道"];

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

/// Full fine-tuning, no dropout, 120 steps of 16.
fn config(model: &Path, train: &Path, mitigation: Mitigation) -> TrainConfig {
    TrainConfig {
        epochs: 0,
        max_steps: Some(120),
        batch_size: 16,
        warmup_ratio: 0.1,
        seed: 11,
        mitigation,
        ..train_config(model.to_path_buf(), train.to_path_buf())
    }
}

#[test]
fn counterfactual_augmentation_lowers_the_flip_rate() {
    let tmp = scratch("bias-mitigation");
    let dir = tmp.path();
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
    let labels = vec!["スポーツ".into(), "経済".into()];
    let base = tiny_char_model(dir, "base", texts.iter().map(String::as_str), 1, labels, 3);

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
}
