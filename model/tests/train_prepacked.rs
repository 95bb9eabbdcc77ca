//! Training with the frozen dense weights packed once (`train::frozen_packed`, the
//! default) against packing them on every GEMM call (`TrainModel::set_prepack(false)`):
//! bit-identical losses, logits, every trainable gradient and the input gradient of the
//! explanations path, in f32 and bf16, LoRA (input gradients through every frozen weight,
//! both packed orientations) and head-only, over several AdamW steps with dropout on.
//! The model is sized so the GEMMs take the parallel path and the FFN's K (1,600) spans two
//! K blocks.

mod common;

use common::{adamw_update, perturb_trainable, trainable_sizes, PaddedBatch, BATCH_B, BATCH_T};
use tokken_model::init::init_params;
use tokken_model::train::precision::base_for_training;
use tokken_model::train::{
    ConfigDropouts, LoraConfig, LossConfig, Targets, TrainDtype, TrainMode, TrainModel, TrainSetup,
};
use tokken_model::trainer::optimizer::{AdamW, AdamWConfig};
use tokken_model::BertConfig;

const B: usize = BATCH_B;
const T: usize = BATCH_T;
const LABELS: usize = 3;

fn config() -> BertConfig {
    let mut cfg = BertConfig::preset("tiny", 200, LABELS).unwrap();
    cfg.hidden_size = 96;
    cfg.num_attention_heads = 4;
    cfg.intermediate_size = 1600;
    cfg
}

/// The shared padded batch over 190 ids, two segments.
fn batch() -> PaddedBatch {
    PaddedBatch::new(LABELS, 190, true)
}

fn model(dtype: TrainDtype, mode: TrainMode, prepack: bool) -> TrainModel {
    let base = base_for_training(init_params(&config(), 3).unwrap(), dtype, mode).unwrap();
    let lora = LoraConfig {
        r: 4,
        alpha: 8.0,
        dropout: 0.1,
        target_modules: vec!["query".into(), "value".into(), "output.dense".into()],
    };
    let d = ConfigDropouts {
        hidden: 0.1,
        attention: 0.1,
        classifier: 0.1,
    };
    let setup = TrainSetup::with_dropouts(mode, lora, LossConfig::default(), d);
    let mut m = TrainModel::new(base, setup, 7).unwrap();
    m.set_prepack(prepack);
    perturb_trainable(&mut m);
    m
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

/// Everything a few training steps produce: per step the loss and every gradient, then the
/// eval logits and an input gradient.
fn run(m: &mut TrainModel, x: &PaddedBatch) -> Vec<(String, Vec<u32>)> {
    let mut out = Vec::new();
    let mut opt = AdamW::new(AdamWConfig::default(), &trainable_sizes(m));
    for step in 0..3u64 {
        m.zero_grads();
        let loss = m
            .forward_backward(&x.input(), &Targets::Single(&x.labels), step, 1.0)
            .unwrap();
        out.push((format!("step {step} loss"), bits(&[loss])));
        for p in m.trainable_mut() {
            out.push((format!("step {step} grad {}", p.name), bits(p.grad)));
        }
        adamw_update(m, &mut opt, 1e-2);
    }
    let logits = m.forward_logits(&x.input()).unwrap().to_vec();
    out.push(("eval logits".into(), bits(&logits)));
    let c = m.config().hidden_size;
    let dlogits: Vec<f32> = (0..B * LABELS).map(|i| (i % 5) as f32 - 2.0).collect();
    let mut dembeds = vec![0.0f32; B * T * c];
    let logits = m
        .input_gradient(&x.input(), None, &dlogits, &mut dembeds)
        .unwrap();
    out.push(("input_gradient logits".into(), bits(&logits)));
    out.push(("input_gradient d(inputs_embeds)".into(), bits(&dembeds)));
    out
}

fn check(dtype: TrainDtype, mode: TrainMode) {
    let x = batch();
    let mut packed = model(dtype, mode, true);
    let mut plain = model(dtype, mode, false);
    let got = run(&mut packed, &x);
    let want = run(&mut plain, &x);
    assert!(
        packed.prepacked_bytes() > 0,
        "{dtype:?} {mode:?}: nothing was packed"
    );
    assert_eq!(plain.prepacked_bytes(), 0);
    assert_eq!(got.len(), want.len());
    for ((name, g), (_, w)) in got.iter().zip(&want) {
        assert!(
            g.iter().any(|&b| f32::from_bits(b) != 0.0),
            "{dtype:?} {mode:?} {name}: all zero (the test would prove nothing)"
        );
        if let Some(i) = g.iter().zip(w).position(|(a, b)| a != b) {
            panic!(
                "{dtype:?} {mode:?} {name}: element {i} differs: packed {} vs per-call {}",
                f32::from_bits(g[i]),
                f32::from_bits(w[i])
            );
        }
    }
}

#[test]
fn lora_f32_prepacked_is_bitwise_identical() {
    check(TrainDtype::F32, TrainMode::Lora);
}

#[test]
fn lora_bf16_prepacked_is_bitwise_identical() {
    check(TrainDtype::Bf16, TrainMode::Lora);
}

#[test]
fn head_only_prepacked_is_bitwise_identical() {
    check(TrainDtype::F32, TrainMode::HeadOnly);
}

/// Head-only training needs no input gradient through the frozen weights, so only the
/// forward orientation is packed; the LoRA model packs both.
#[test]
fn head_only_packs_only_the_forward_orientation() {
    let x = batch();
    let mut head = model(TrainDtype::F32, TrainMode::HeadOnly, true);
    let mut lora = model(TrainDtype::F32, TrainMode::Lora, true);
    for m in [&mut head, &mut lora] {
        m.zero_grads();
        m.forward_backward(&x.input(), &Targets::Single(&x.labels), 0, 1.0)
            .unwrap();
    }
    let (h, l) = (head.prepacked_bytes(), lora.prepacked_bytes());
    assert!(
        h > 0 && l > h * 3 / 2,
        "head-only {h} bytes, LoRA {l} bytes"
    );
}
