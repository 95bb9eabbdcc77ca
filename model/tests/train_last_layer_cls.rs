//! The last encoder layer computed after its attention for the [CLS] rows only
//! (`TrainModel::set_last_layer_cls_only(true)`, the default) against every row (`false`):
//! three AdamW steps with every dropout on (hidden, attention, classifier, LoRA), on a
//! padded batch with one all-padding sequence, then eval logits and the explanations' input
//! gradient. LoRA (on query, value, attention.output.dense, intermediate.dense and
//! output.dense), full fine-tune, head-only, f32 and bf16, single-label, multi-label and
//! hierarchical losses, and a long batch whose rows span several GEMM K blocks.
//!
//! Every loss, gradient, logit and input gradient must be bit for bit the same. Signs of
//! zero are not compared (`-0.0 == 0.0`): the full path's zero-gradient rows can carry
//! either sign, and they only ever enter sums.

mod common;

use std::path::Path;

use common::{adamw_update, perturb_trainable, trainable_sizes, PaddedBatch, BATCH_B, BATCH_T};
use tokken_model::forward::BatchInput;
use tokken_model::hierarchy::{Hierarchy, HierarchyLoss};
use tokken_model::init::init_params;
use tokken_model::train::precision::base_for_training;
use tokken_model::train::{
    ConfigDropouts, LoraConfig, LossConfig, Targets, TrainDtype, TrainMode, TrainModel, TrainSetup,
};
use tokken_model::trainer::optimizer::{AdamW, AdamWConfig};
use tokken_model::BertConfig;

/// The loss under test.
#[derive(Clone, Copy, Debug)]
enum Loss {
    Single,
    Multi,
    Hierarchical,
}

const TREE: &str =
    r#"{"国内": ["政治", "経済"], "国際": ["政治", "経済", "紛争"], "スポーツ": []}"#;

fn tree() -> Hierarchy {
    Hierarchy::parse(TREE, Path::new("tree")).unwrap()
}

fn labels(loss: Loss) -> usize {
    match loss {
        Loss::Hierarchical => tree().paths().len(),
        _ => 3,
    }
}

/// Two layers, C 96, 4 heads, I 1,600 (the GEMMs take the parallel path and the FFN's K
/// spans two K blocks).
fn config(loss: Loss) -> BertConfig {
    let mut cfg = BertConfig::preset("tiny", 200, labels(loss)).unwrap();
    cfg.hidden_size = 96;
    cfg.num_attention_heads = 4;
    cfg.intermediate_size = 1600;
    cfg
}

/// A padded batch with its targets for every loss.
struct Batch {
    ids: Vec<u32>,
    types: Vec<u32>,
    mask: Vec<u8>,
    b: usize,
    t: usize,
    /// [B] class indices
    single: Vec<i32>,
    /// [B, NL] 0/1
    multi: Vec<f32>,
    /// [B] leaf nodes of [`TREE`]
    leaves: Vec<i32>,
}

impl Batch {
    fn new(ids: Vec<u32>, types: Vec<u32>, mask: Vec<u8>, b: usize, loss: Loss) -> Batch {
        let (t, nl) = (ids.len() / b, labels(loss));
        let leaves = tree().leaves().to_vec();
        Batch {
            ids,
            types,
            mask,
            b,
            t,
            single: (0..b).map(|i| (i % nl) as i32).collect(),
            multi: (0..b * nl)
                .map(|i| u8::from(i * 7 % 3 == 0) as f32)
                .collect(),
            leaves: (0..b).map(|i| leaves[i % leaves.len()] as i32).collect(),
        }
    }

    /// The shared padded batch (6 × 11) over 190 ids, two segments, with sequence 2 all
    /// padding.
    fn padded(loss: Loss) -> Batch {
        let x = PaddedBatch::new(labels(loss), 190, true);
        let mut mask = x.mask;
        mask[2 * BATCH_T..3 * BATCH_T].fill(0);
        Batch::new(x.ids, x.types, mask, BATCH_B, loss)
    }

    /// 4 × 420 tokens (1,680 rows: the weight-gradient sums over rows span two K blocks of
    /// every GEMM kernel), lengths 420, 333, 17, 400.
    fn long(loss: Loss) -> Batch {
        let (b, t) = (4, 420);
        let (mut ids, mut mask) = (vec![0u32; b * t], vec![0u8; b * t]);
        for (i, n) in [420usize, 333, 17, 400].into_iter().enumerate() {
            for j in 0..n {
                ids[i * t + j] = if j == 0 {
                    2
                } else {
                    5 + ((i * 37 + j * 11) % 190) as u32
                };
                mask[i * t + j] = 1;
            }
        }
        Batch::new(ids, vec![0; b * t], mask, b, loss)
    }

    fn input(&self) -> BatchInput<'_> {
        BatchInput {
            ids: &self.ids,
            type_ids: &self.types,
            mask: &self.mask,
            b: self.b,
            t: self.t,
        }
    }

    fn targets(&self, loss: Loss) -> Targets<'_> {
        match loss {
            Loss::Single => Targets::Single(&self.single),
            Loss::Multi => Targets::Multi(&self.multi),
            Loss::Hierarchical => Targets::Single(&self.leaves),
        }
    }
}

fn model(
    dtype: TrainDtype,
    mode: TrainMode,
    targets: &[&str],
    loss: Loss,
    cls: bool,
) -> TrainModel {
    let mut cfg = config(loss);
    cfg.max_position_embeddings = 512;
    let base = base_for_training(init_params(&cfg, 3).unwrap(), dtype, mode).unwrap();
    let lora = LoraConfig {
        r: 4,
        alpha: 8.0,
        dropout: 0.1,
        target_modules: targets.iter().map(|t| t.to_string()).collect(),
    };
    let d = ConfigDropouts {
        hidden: 0.1,
        attention: 0.1,
        classifier: 0.1,
    };
    let loss = match loss {
        Loss::Single => LossConfig::default(),
        Loss::Multi => LossConfig {
            multi_label: true,
            ..LossConfig::default()
        },
        Loss::Hierarchical => LossConfig {
            hierarchy: Some(HierarchyLoss::new(tree())),
            ..LossConfig::default()
        },
    };
    let setup = TrainSetup::with_dropouts(mode, lora, loss, d);
    let mut m = TrainModel::new(base, setup, 7).unwrap();
    m.set_last_layer_cls_only(cls);
    perturb_trainable(&mut m);
    m
}

/// Whether `name` is a parameter of the last layer after its attention (its gradient is
/// summed over the zero-padded [CLS] rows, `train::cls_backward`).
fn after_last_attention(name: &str, last: usize) -> bool {
    let pre = format!("bert.encoder.layer.{last}.");
    name.strip_prefix(&pre).is_some_and(|rest| {
        ["attention.output.", "intermediate.", "output."]
            .iter()
            .any(|p| rest.starts_with(p))
    })
}

/// Three AdamW steps (the loss and every gradient of each), then the eval logits and an
/// input gradient (logits and d(inputs_embeds)).
fn run(m: &mut TrainModel, x: &Batch, loss: Loss) -> Vec<(String, Vec<f32>)> {
    let mut out = Vec::new();
    let mut opt = AdamW::new(AdamWConfig::default(), &trainable_sizes(m));
    for seed in 0..3u64 {
        m.zero_grads();
        let l = m
            .forward_backward(&x.input(), &x.targets(loss), seed, 1.0)
            .unwrap();
        out.push((format!("step {seed} loss"), vec![l]));
        for p in m.trainable_mut() {
            out.push((format!("step {seed} grad {}", p.name), p.grad.to_vec()));
        }
        adamw_update(m, &mut opt, 1e-2);
    }
    out.push((
        "eval logits".into(),
        m.forward_logits(&x.input()).unwrap().to_vec(),
    ));
    let c = m.config().hidden_size;
    let dlogits: Vec<f32> = (0..x.b * labels(loss))
        .map(|i| (i % 5) as f32 - 2.0)
        .collect();
    let mut dembeds = vec![0.0f32; x.b * x.t * c];
    let logits = m
        .input_gradient(&x.input(), None, &dlogits, &mut dembeds)
        .unwrap();
    out.push(("input_gradient logits".into(), logits));
    out.push(("input_gradient d(inputs_embeds)".into(), dembeds));
    out
}

fn check(x: &Batch, dtype: TrainDtype, mode: TrainMode, targets: &[&str], loss: Loss) {
    let what = format!(
        "{dtype:?} {mode:?} {targets:?} {loss:?} B {} T {}",
        x.b, x.t
    );
    let mut cls = model(dtype, mode, targets, loss, true);
    let mut full = model(dtype, mode, targets, loss, false);
    let got = run(&mut cls, x, loss);
    let want = run(&mut full, x, loss);
    assert_eq!(got.len(), want.len());
    for ((name, g), (_, w)) in got.iter().zip(&want) {
        assert!(
            w.iter().any(|&v| v != 0.0),
            "{what} {name}: all zero (the test would prove nothing)"
        );
        assert_eq!(g.len(), w.len(), "{what} {name}: lengths");
        if let Some(i) = g.iter().zip(w).position(|(a, b)| a != b) {
            panic!(
                "{what} {name}: element {i} differs: [CLS]-only {} vs full {}",
                g[i], w[i]
            );
        }
    }
    // the arena is smaller unless it holds the zero-padded parameter-gradient scratch
    let last = cls.config().num_hidden_layers - 1;
    let pads = cls
        .trainable_names()
        .iter()
        .any(|n| after_last_attention(n, last));
    let (a_cls, a_full) = (cls.activation_bytes(), full.activation_bytes());
    println!(
        "{what}: {} values bit-identical; activation arena {a_cls} bytes [CLS]-only, {a_full} full",
        got.len()
    );
    assert!(
        pads || a_cls < a_full,
        "{what}: the [CLS]-only arena is not smaller than the full one"
    );
}

const QV: [&str; 2] = ["query", "value"];

const ALL_LORA: [&str; 5] = [
    "query",
    "value",
    "attention.output.dense",
    "intermediate.dense",
    "output.dense",
];

#[test]
fn lora_query_value_f32() {
    let x = Batch::padded(Loss::Single);
    check(&x, TrainDtype::F32, TrainMode::Lora, &QV, Loss::Single);
}

#[test]
fn lora_query_value_bf16() {
    let x = Batch::padded(Loss::Single);
    check(&x, TrainDtype::Bf16, TrainMode::Lora, &QV, Loss::Single);
}

#[test]
fn lora_every_module_f32() {
    let x = Batch::padded(Loss::Single);
    check(
        &x,
        TrainDtype::F32,
        TrainMode::Lora,
        &ALL_LORA,
        Loss::Single,
    );
}

#[test]
fn lora_every_module_bf16() {
    let x = Batch::padded(Loss::Single);
    check(
        &x,
        TrainDtype::Bf16,
        TrainMode::Lora,
        &ALL_LORA,
        Loss::Single,
    );
}

#[test]
fn full_fine_tune() {
    let x = Batch::padded(Loss::Single);
    check(&x, TrainDtype::F32, TrainMode::Full, &[], Loss::Single);
}

#[test]
fn head_only() {
    let x = Batch::padded(Loss::Single);
    check(&x, TrainDtype::F32, TrainMode::HeadOnly, &[], Loss::Single);
}

#[test]
fn multi_label() {
    let x = Batch::padded(Loss::Multi);
    check(&x, TrainDtype::F32, TrainMode::Lora, &ALL_LORA, Loss::Multi);
}

#[test]
fn hierarchical() {
    let x = Batch::padded(Loss::Hierarchical);
    check(
        &x,
        TrainDtype::F32,
        TrainMode::Lora,
        &QV,
        Loss::Hierarchical,
    );
}

#[test]
fn long_batch_full_fine_tune_and_lora() {
    let x = Batch::long(Loss::Single);
    check(&x, TrainDtype::F32, TrainMode::Full, &[], Loss::Single);
    check(
        &x,
        TrainDtype::F32,
        TrainMode::Lora,
        &ALL_LORA,
        Loss::Single,
    );
}
