//! A run trained with a template keeps it (`template.json`) and the run dir, loaded as a
//! classifier, encodes inputs exactly as training did (same ids, type ids, truncation);
//! a different `--template` is refused, and eval applies the stored one. Tiny fixture
//! model, a few bundled headlines, one optimizer step. Needs the MeCab dictionary.

use std::path::{Path, PathBuf};

use tokken_model::data::{read_examples, ReadOptions};
use tokken_model::evaluate::{evaluate, EvalOptions};
use tokken_model::template::{builtin::builtin, Template, TEMPLATE_FILE};
use tokken_model::train::{ConfigDropouts, LoraConfig, LossConfig, TrainMode, TrainSetup};
use tokken_model::trainer::{ScheduleKind, TrainConfig, Trainer};
use tokken_model::{Classifier, ClassifierOptions, ModelError};

mod common;
use common::{repo, scratch, tiny_dir, train_config};

/// The first `n` bundled training headlines as a JSONL file.
fn headlines(dir: &Path, n: usize) -> PathBuf {
    let text = std::fs::read_to_string(repo().join("data/headlines/train.jsonl")).unwrap();
    let lines: Vec<&str> = text.lines().take(n).collect();
    let path = dir.join("train.jsonl");
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    path
}

/// Head-only, the fixture's dropouts, one step of 8, constant lr 1e-3, seed 3.
fn config(train: PathBuf, template: Option<Template>) -> TrainConfig {
    let model = tiny_dir();
    let dropouts = ConfigDropouts::from_file(&model.join("config.json")).unwrap();
    TrainConfig {
        setup: TrainSetup::with_dropouts(
            TrainMode::HeadOnly,
            LoraConfig::default(),
            LossConfig::default(),
            dropouts,
        ),
        max_steps: Some(1),
        schedule: ScheduleKind::Constant,
        // Shorter than the cot-ja steps + a headline: training cuts the steps.
        max_length: 40,
        seed: 3,
        template,
        ..train_config(model, train)
    }
}

/// Train one step into `run`; the training encodings and texts, or None without MeCab.
fn train(
    dir: &Path,
    template: Option<Template>,
) -> Option<(PathBuf, Vec<tokken_tokenizer::Encoding>, Vec<String>)> {
    let data = headlines(dir, 24);
    let run = dir.join("run");
    let mut trainer = match Trainer::new(config(data.clone(), template), &run) {
        Ok(t) => t,
        Err(ModelError::Tokenizer(e)) => {
            eprintln!("skipping: no MeCab dictionary ({e})");
            return None;
        }
        Err(e) => panic!("trainer starts: {e}"),
    };
    trainer.run(&mut |_| {}).unwrap();
    let texts = read_examples(&data, &ReadOptions::default())
        .unwrap()
        .examples
        .into_iter()
        .map(|e| e.text)
        .collect();
    Some((run, trainer.train.encodings.clone(), texts))
}

#[test]
fn the_stored_template_is_applied_at_predict_with_the_training_ids() {
    let tmp = scratch("template-run");
    let dir = tmp.path();
    let Some((run, trained, texts)) = train(dir, builtin("cot-ja")) else {
        return;
    };
    let stored = tokken_model::template::stored(&run).unwrap().unwrap();
    assert_eq!(stored, builtin("cot-ja").unwrap());
    assert!(run.join(TEMPLATE_FILE).is_file());
    assert_eq!(
        tokken_model::template::stored_max_length(&run).unwrap(),
        Some(40)
    );

    let clf = Classifier::load(&run).unwrap();
    assert_eq!(clf.template(), Some(&stored));
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let at_predict = clf.encode(&refs);
    assert_eq!(
        at_predict, trained,
        "predict encodes exactly as training did"
    );
    // The steps were cut to fit 40 tokens, the headline (segment B) kept.
    assert!(trained.iter().all(|e| e.len() <= 40));
    assert!(trained.iter().any(|e| e.len() == 40));
    assert!(trained.iter().all(|e| e.type_ids.contains(&1)));

    // The same template asked for: fine. Another: refused, naming both.
    let same = ClassifierOptions {
        template: builtin("cot-ja"),
        ..ClassifierOptions::default()
    };
    assert!(Classifier::load_with(&run, same).is_ok());
    // Same steps under another name (a copy of the file): also fine.
    let renamed = Template {
        name: "my-copy".into(),
        ..builtin("cot-ja").unwrap()
    };
    let copy = ClassifierOptions {
        template: Some(renamed),
        ..ClassifierOptions::default()
    };
    assert!(Classifier::load_with(&run, copy).is_ok());
    let other = ClassifierOptions {
        template: builtin("none"),
        ..ClassifierOptions::default()
    };
    let err = Classifier::load_with(&run, other)
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("trained with template `cot-ja`") && err.contains("`none` differs"),
        "{err}"
    );

    // eval applies it too: its predictions are those of the training encodings.
    let data = read_examples(&dir.join("train.jsonl"), &ReadOptions::default()).unwrap();
    let evaluation = evaluate(&clf, &data, &EvalOptions::default(), &mut |_, _| {}).unwrap();
    let direct = clf.predict_encoded(&trained).unwrap();
    for (r, p) in evaluation.results.iter().zip(&direct) {
        assert_eq!(r.pred_index, p.index);
        assert_eq!(r.probs, p.probs);
    }
}

#[test]
fn a_run_without_a_template_refuses_one_at_predict() {
    let tmp = scratch("template-none-run");
    let dir = tmp.path();
    let Some((run, trained, texts)) = train(dir, None) else {
        return;
    };
    assert!(!run.join(TEMPLATE_FILE).exists());
    let clf = Classifier::load(&run).unwrap();
    assert!(clf.template().is_none());
    // Predict without a template keeps the plain encoding; the training max length (40)
    // only binds with a template, and these headlines are shorter anyway.
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    assert!(trained.iter().all(|e| e.len() < 40));
    assert_eq!(clf.encode(&refs), trained);
    let asked = ClassifierOptions {
        template: builtin("cot-ja"),
        ..ClassifierOptions::default()
    };
    let err = Classifier::load_with(&run, asked)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("trained without a template"), "{err}");
    // `none` is no template at all: accepted.
    let none = ClassifierOptions {
        template: builtin("none"),
        ..ClassifierOptions::default()
    };
    assert!(Classifier::load_with(&run, none)
        .unwrap()
        .template()
        .is_none());
}

#[test]
fn cot_hier_is_stored_with_the_levels_of_the_labels_in_use() {
    let tmp = scratch("template-hier-run");
    let dir = tmp.path();
    let Some((run, _, _)) = train(dir, builtin("cot-hier")) else {
        return;
    };
    let stored = tokken_model::template::stored(&run).unwrap().unwrap();
    assert!(!stored.steps.contains("{levels}"), "{}", stored.steps);
    // Flat labels (no hierarchy in use): one level listing the run's labels.
    let labels = tokken_model::run_dir::LabelsFile::read_dir(&run)
        .unwrap()
        .labels;
    assert!(
        stored
            .steps
            .ends_with(&format!("分類（{}）", labels.join("、"))),
        "{}",
        stored.steps
    );
    // Asking for cot-hier at predict expands to the same text: accepted.
    let asked = ClassifierOptions {
        template: builtin("cot-hier"),
        ..ClassifierOptions::default()
    };
    assert!(Classifier::load_with(&run, asked).is_ok());
}
