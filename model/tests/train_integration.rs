//! End-to-end training: a tiny BERT with a character vocabulary built from the data learns
//! to classify livedoor news titles (9 classes) from scratch in a few hundred steps.

use std::path::{Path, PathBuf};

use tokken_model::config::BertConfig;
use tokken_model::data::{read_examples, ReadOptions};
use tokken_model::init::{write_atomic, write_random_model, TokenizerSource};
use tokken_model::train::{LoraConfig, LossConfig, TrainMode, TrainSetup};
use tokken_model::trainer::{AdamWConfig, Event, ScheduleKind, TrainConfig, Trainer};
use tokken_tokenizer::vocab_build::{
    build_char_vocab, char_tokenizer_config, vocab_file_text, CharVocabOptions,
};

fn livedoor() -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/livedoor/articles.jsonl");
    if p.is_file() {
        Some(p)
    } else {
        println!("skipping: ../shared/data/livedoor/articles.jsonl not found");
        None
    }
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tokken-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn tiny_model_learns_livedoor_titles() {
    let Some(data) = livedoor() else { return };
    let dir = scratch("train-integration");
    let opts = ReadOptions {
        text_field: "title".into(),
        ..ReadOptions::default()
    };
    let all = read_examples(&data, &opts).unwrap();

    // Character vocabulary (chars seen at least twice) and a small random model.
    let vocab_dir = dir.join("vocab");
    std::fs::create_dir_all(&vocab_dir).unwrap();
    let vocab = build_char_vocab(
        all.examples.iter().map(|e| e.text.as_str()),
        &CharVocabOptions {
            min_count: 2,
            max_size: None,
        },
    );
    write_atomic(
        &vocab_dir.join("vocab.txt"),
        vocab_file_text(&vocab).as_bytes(),
    )
    .unwrap();
    let tok = serde_json::to_vec(&char_tokenizer_config(64)).unwrap();
    write_atomic(&vocab_dir.join("tokenizer_config.json"), &tok).unwrap();
    let labels = all.label_set();
    let mut config = BertConfig::preset("tiny", vocab.len(), labels.len()).unwrap();
    config.max_position_embeddings = 64;
    config.id2label = labels.clone();
    let model_dir = dir.join("model");
    write_random_model(
        &model_dir,
        &config,
        TokenizerSource::Vocab(&vocab_dir.join("vocab.txt")),
        1,
    )
    .unwrap();

    let train_config = TrainConfig {
        model: model_dir,
        train: data.clone(),
        eval: None,
        eval_split: Some(0.15),
        text_field: "title".into(),
        label_field: None,
        multi_label: false,
        labels: Vec::new(),
        setup: TrainSetup {
            mode: TrainMode::Full,
            lora: LoraConfig::default(),
            loss: LossConfig::default(),
            hidden_dropout: 0.1,
            attention_dropout: 0.0,
            classifier_dropout: 0.1,
        },
        auto_class_weights: false,
        epochs: 1,
        max_steps: Some(400),
        batch_size: 32,
        grad_accum: 1,
        lr: 3e-3,
        adamw: AdamWConfig::default(),
        warmup_ratio: 0.05,
        warmup_steps: None,
        schedule: ScheduleKind::Linear,
        max_length: 40,
        seed: 3,
        shuffle: true,
        eval_every_epoch: true,
        early_stopping: None,
        checkpoint_every: None,
        init_adapter: None,
        dicdir: None,
        mitigation: Default::default(),
        template: None,
        dtype: Default::default(),
    };
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
    std::fs::remove_dir_all(&dir).ok();
}
