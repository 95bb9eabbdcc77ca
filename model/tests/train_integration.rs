//! End-to-end training: a tiny BERT with a character vocabulary built from the data learns
//! to classify livedoor news titles (9 classes) from scratch in a few hundred steps.

use std::path::{Path, PathBuf};

use tokken_model::data::{read_examples, ReadOptions};
use tokken_model::train::LoraConfig;
use tokken_model::trainer::{Event, TrainConfig, Trainer};

mod common;
use common::{scratch, tiny_char_model, train_config};

fn livedoor() -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/livedoor/articles.jsonl");
    if p.is_file() {
        Some(p)
    } else {
        println!("skipping: ../shared/data/livedoor/articles.jsonl not found");
        None
    }
}

#[test]
fn tiny_model_learns_livedoor_titles() {
    let Some(data) = livedoor() else { return };
    let tmp = scratch("train-integration");
    let dir = tmp.path();
    let opts = ReadOptions {
        text_field: "title".into(),
        ..ReadOptions::default()
    };
    let all = read_examples(&data, &opts).unwrap();

    // Character vocabulary (chars seen at least twice) and a small random model.
    let labels = all.label_set();
    let texts = all.examples.iter().map(|e| e.text.as_str());
    let model_dir = tiny_char_model(dir, "model", texts, 2, labels.clone(), 1);

    // Full fine-tuning (the base setting) with dropout on the hidden states and the head.
    let mut train_config = TrainConfig {
        eval_split: Some(0.15),
        text_field: "title".into(),
        max_steps: Some(400),
        batch_size: 32,
        lr: 3e-3,
        warmup_ratio: 0.05,
        max_length: 40,
        seed: 3,
        eval_every_epoch: true,
        ..train_config(model_dir, data.clone())
    };
    train_config.setup.lora = LoraConfig::default();
    train_config.setup.hidden_dropout = 0.1;
    train_config.setup.classifier_dropout = 0.1;
    let run_dir = dir.join("run");
    let mut trainer = Trainer::new(train_config, &run_dir).unwrap();
    let mut losses = Vec::new();
    let mut evals = Vec::new();
    trainer
        .run(&mut |e| match e {
            Event::Step { loss, .. } => losses.push(*loss),
            Event::Eval { report, .. } => evals.push((report.accuracy, report.macro_f1)),
            _ => {}
        })
        .unwrap();
    assert_eq!(losses.len(), 400);
    let mean = |xs: &[f64]| xs.iter().sum::<f64>() / xs.len() as f64;
    let (first, last) = (mean(&losses[..30]), mean(&losses[370..]));

    // Majority-class baseline on the eval split.
    let eval = trainer.eval.as_ref().unwrap();
    let mut counts = vec![0usize; labels.len()];
    for &c in &eval.classes {
        counts[c as usize] += 1;
    }
    let majority = *counts.iter().max().unwrap() as f64 / eval.len() as f64;
    let (acc, f1) = *evals.last().unwrap();
    println!(
        "livedoor titles, tiny model from scratch: loss {first:.3} -> {last:.3}; eval accuracy \
         {acc:.3} (macro-F1 {f1:.3}) vs majority baseline {majority:.3} on {} examples",
        eval.len()
    );
    assert!(last < first - 0.4, "loss did not fall: {first} -> {last}");
    assert!(
        acc > majority + 0.2,
        "accuracy {acc} does not beat the majority baseline {majority} clearly"
    );
    // The run dir is a model: predictions through the Classifier API agree with training eval.
    let clf = tokken_model::Classifier::load(&run_dir).unwrap();
    assert_eq!(clf.labels(), &labels[..]);
}
