//! `compare` and `experiment few-shot` on the bundled headlines with tiny char-vocab BERTs
//! (the main-job recipe: character vocabulary from the training file, C 64, 2 layers).

use std::path::{Path, PathBuf};

use tokken_model::compare::{mcnemar_exact_p, Comparison, McNemar};
use tokken_model::data::{read_examples, ReadOptions};
use tokken_model::evaluate::{evaluate, EvalOptions};
use tokken_model::experiment::{run_few_shot, FewShotConfig};
use tokken_model::report::slices::all_slices;
use tokken_model::train::TrainMode;
use tokken_model::trainer::{TrainConfig, Trainer};
use tokken_model::Classifier;

mod common;
use common::{repo, scratch, tiny_char_model, train_config};

fn headlines(name: &str) -> PathBuf {
    repo().join(format!("data/headlines/{name}.jsonl"))
}

/// A random tiny BERT over the characters of the training headlines, labels sorted.
fn tiny_model(dir: &Path, seed: u64) -> PathBuf {
    let train = read_examples(&headlines("train"), &ReadOptions::default()).unwrap();
    let texts = train.examples.iter().map(|e| e.text.as_str());
    let name = format!("model-{seed}");
    tiny_char_model(dir, &name, texts, 1, train.label_set(), seed)
}

/// Training settings of the tiny model (no dropout, 3 epochs of batch 16, LoRA r 4).
fn tiny_template(model: PathBuf) -> TrainConfig {
    let mut config = TrainConfig {
        epochs: 3,
        batch_size: 16,
        lr: 0.0,
        warmup_ratio: 0.1,
        max_length: 48,
        ..train_config(model, PathBuf::new())
    };
    config.setup.mode = TrainMode::Lora;
    config
}

#[test]
fn mcnemar_matches_exact_binomial_tables() {
    // p = min(1, 2 · Σ_{i ≤ min(b,c)} C(b+c, i) / 2^(b+c)), computed exactly with Python's
    // fractions.Fraction and math.comb.
    let cases = [
        (3, 11, 235.0 / 4096.0),
        (0, 5, 1.0 / 16.0),
        (7, 2, 23.0 / 128.0),
        (10, 10, 1.0),
        (1, 0, 1.0),
        (0, 0, 1.0),
        (25, 40, 0.08168153394154005),
        (150, 190, 0.0342700465332938),
        (1200, 1300, 0.047681865221043604),
    ];
    for (b, c, want) in cases {
        let got = mcnemar_exact_p(b, c);
        assert!(
            (got - want).abs() <= 1e-12 * want.max(1e-300),
            "b {b} c {c}: {got} vs {want}"
        );
        assert_eq!(mcnemar_exact_p(c, b), got, "symmetric");
    }
}

#[test]
fn mcnemar_table_from_paired_predictions() {
    // 0 = right for both, etc.: rr, A-only, B-only, ww = 2, 3, 1, 1.
    let y = [0, 1, 2, 0, 1, 2, 0];
    let a = [0, 1, 2, 0, 1, 1, 1];
    let b = [0, 1, 0, 1, 2, 2, 2];
    let m = McNemar::of(&y, &a, &b).unwrap();
    assert_eq!((m.both_right, m.b, m.c, m.both_wrong), (2, 3, 1, 1));
    assert_eq!(m.p_value, 0.625); // 2 · (1 + 4) / 16
    let labels: Vec<String> = ["x", "y", "z"].map(String::from).to_vec();
    let cmp = Comparison::new("A", "B", &labels, &y, &a, &b, &[]).unwrap();
    assert!((cmp.accuracy_a - 5.0 / 7.0).abs() < 1e-12);
    assert!((cmp.accuracy_b - 3.0 / 7.0).abs() < 1e-12);
    for c in &cmp.per_class {
        assert!((c.delta - (c.f1_b - c.f1_a)).abs() < 1e-15);
    }
}

#[test]
fn compare_two_models_on_the_bundled_data() {
    let tmp = scratch("compare-models");
    let dir = tmp.path();
    // A: random weights; B: A fully fine-tuned for one epoch on the training headlines.
    let ma = tiny_model(dir, 1);
    let mb = dir.join("run-b");
    let mut config = tiny_template(ma.clone());
    config.train = headlines("train");
    config.setup.mode = TrainMode::Full;
    config.epochs = 1;
    config.batch_size = 32;
    config.lr = 3e-3;
    Trainer::new(config, &mb).unwrap().run(&mut |_| {}).unwrap();
    let data = read_examples(&headlines("test"), &ReadOptions::default()).unwrap();
    let opts = EvalOptions::default();
    let (ca, cb) = (
        Classifier::load(&ma).unwrap(),
        Classifier::load(&mb).unwrap(),
    );
    let ea = evaluate(&ca, &data, &opts, &mut |_, _| {}).unwrap();
    let eb = evaluate(&cb, &data, &opts, &mut |_, _| {}).unwrap();
    let slices = all_slices(&data.examples, &[10, 20], &[]);
    assert_ne!(
        ea.results.iter().map(|r| r.pred_index).collect::<Vec<_>>(),
        eb.results.iter().map(|r| r.pred_index).collect::<Vec<_>>(),
        "training changed no prediction"
    );
    let cmp = Comparison::from_evaluations("a", "b", ca.labels(), &ea, cb.labels(), &eb, &slices)
        .unwrap();
    let m = &cmp.mcnemar;
    assert_eq!(cmp.n, data.examples.len());
    assert_eq!((m.both_right + m.b + m.c + m.both_wrong) as usize, cmp.n);
    assert_eq!(cmp.accuracy_a, ea.report.accuracy);
    assert_eq!(cmp.accuracy_b, eb.report.accuracy);
    assert_eq!(cmp.macro_f1_b, eb.report.macro_f1);
    // Accuracy difference is exactly (c − b) / n.
    let diff = (m.c as f64 - m.b as f64) / cmp.n as f64;
    assert!((cmp.accuracy_b - cmp.accuracy_a - diff).abs() < 1e-12);
    assert_eq!(m.p_value, mcnemar_exact_p(m.b, m.c));
    assert!(m.b + m.c > 0);
    // Slices partition the data.
    assert_eq!(cmp.slices.iter().map(|s| s.n).sum::<usize>(), cmp.n);
    // Comparing a model with itself: no discordant pairs, p = 1.
    let same =
        Comparison::from_evaluations("a", "a", ca.labels(), &ea, ca.labels(), &ea, &[]).unwrap();
    assert_eq!(
        (same.mcnemar.b, same.mcnemar.c, same.mcnemar.p_value),
        (0, 0, 1.0)
    );
    println!("{cmp}");
}

#[test]
fn few_shot_two_seeds_three_modes_and_resume() {
    let tmp = scratch("few-shot");
    let dir = tmp.path();
    let model = tiny_model(dir, 3);
    let template = tiny_template(model);
    let out = dir.join("exp");
    let config = FewShotConfig {
        pool: headlines("train"),
        test: headlines("test"),
        read: ReadOptions::default(),
        shots: 5,
        per_class: true,
        seeds: vec![0, 1],
        modes: vec![
            (TrainMode::HeadOnly, 1e-2),
            (TrainMode::Lora, 3e-3),
            (TrainMode::Full, 3e-3),
        ],
        template,
        out: out.clone(),
        keep_runs: false,
    };
    let mut lines = Vec::new();
    let results = run_few_shot(&config, &mut |l| lines.push(l.to_string())).unwrap();
    assert_eq!(results.cells.len(), 6);
    assert_eq!(results.summary.len(), 3);
    let n_labels = read_examples(&headlines("train"), &ReadOptions::default())
        .unwrap()
        .label_set()
        .len();
    for c in &results.cells {
        assert_eq!(c.train_examples, 5 * n_labels, "{c:?}");
        // 35 examples / batch 16 = 3 steps per epoch, 3 epochs: the same budget everywhere.
        assert_eq!(c.steps, 9, "{c:?}");
        assert!((0.0..=1.0).contains(&c.accuracy) && (0.0..=1.0).contains(&c.macro_f1));
    }
    for (s, mode) in results.summary.iter().zip(["head", "lora", "full"]) {
        assert_eq!((s.mode.as_str(), s.runs), (mode, 2));
        let accs: Vec<f64> = results
            .cells
            .iter()
            .filter(|c| c.mode == mode)
            .map(|c| c.accuracy)
            .collect();
        assert!((s.accuracy_mean - (accs[0] + accs[1]) / 2.0).abs() < 1e-12);
        assert!((s.accuracy_std - (accs[0] - accs[1]).abs() / 2f64.sqrt()).abs() < 1e-12);
    }
    let md = std::fs::read_to_string(out.join("results.md")).unwrap();
    assert_eq!(
        md.lines().filter(|l| l.starts_with("| ")).count(),
        4,
        "{md}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("results.json")).unwrap()).unwrap();
    assert_eq!(json["cells"].as_array().unwrap().len(), 6);
    assert!(
        !out.join("seed-0/lora-run").exists(),
        "run dirs are removed"
    );

    // Resume: drop one cell; the rerun trains only that one and reproduces it exactly.
    let dropped = out.join("seed-1/full.json");
    std::fs::remove_file(&dropped).unwrap();
    let mut lines2 = Vec::new();
    let again = run_few_shot(&config, &mut |l| lines2.push(l.to_string())).unwrap();
    assert_eq!(
        lines2.iter().filter(|l| l.contains("done before")).count(),
        5,
        "{lines2:#?}"
    );
    // (Cells read back from JSON may differ in the last bit: serde_json's float parsing.)
    assert_eq!(again.cells.len(), results.cells.len());
    for (x, y) in again.cells.iter().zip(&results.cells) {
        assert_eq!((x.seed, &x.mode, x.steps), (y.seed, &y.mode, y.steps));
        assert!((x.accuracy - y.accuracy).abs() < 1e-12, "{x:?} vs {y:?}");
        assert!((x.macro_f1 - y.macro_f1).abs() < 1e-12, "{x:?} vs {y:?}");
    }

    // Other settings in the same out dir are refused.
    let mut other = config.clone();
    other.shots = 6;
    assert!(run_few_shot(&other, &mut |_| {}).is_err());
}
