//! Shared helpers for tokken-model's integration tests: the tiny-BERT fixtures, per-tensor
//! comparison by name, scratch dirs, random tiny char-vocab models and a base TrainConfig.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use safetensors::{Dtype, SafeTensors};
use tokken_model::config::BertConfig;
use tokken_model::init::{write_atomic, write_random_model, TokenizerSource};
use tokken_model::params::LinearParams;
use tokken_model::train::{LoraConfig, LossConfig, Targets, TrainMode, TrainModel, TrainSetup};
use tokken_model::trainer::optimizer::OptimParam;
use tokken_model::trainer::{AdamW, AdamWConfig, ScheduleKind, TrainConfig};
use tokken_model::{bert_forward, Arena, BatchInput, BertParams, ForwardOptions};
use tokken_tokenizer::vocab_build::{
    build_char_vocab, char_tokenizer_config, vocab_file_text, CharVocabOptions,
};

/// The workspace root (bundled data lives in `data/`).
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

pub fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

pub fn tiny_dir() -> PathBuf {
    fixtures().join("tiny-bert")
}

/// A tensor read from a fixture file, as f64 values and its shape.
pub struct FixtureTensor {
    pub shape: Vec<usize>,
    pub values: Vec<f64>,
}

impl FixtureTensor {
    pub fn f32(&self) -> Vec<f32> {
        self.values.iter().map(|&v| v as f32).collect()
    }
    pub fn u32(&self) -> Vec<u32> {
        self.values.iter().map(|&v| v as u32).collect()
    }
    pub fn u8(&self) -> Vec<u8> {
        self.values.iter().map(|&v| v as u8).collect()
    }
}

/// Every tensor of a safetensors fixture (f32 and i64 entries), by name.
pub fn read_fixture(name: &str) -> BTreeMap<String, FixtureTensor> {
    let path = fixtures().join(name);
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let st = SafeTensors::deserialize(&bytes).expect("fixture is valid safetensors");
    let mut out = BTreeMap::new();
    for (name, view) in st.tensors() {
        let data = view.data();
        let values: Vec<f64> = match view.dtype() {
            Dtype::F32 => data
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes(c.try_into().unwrap()) as f64)
                .collect(),
            Dtype::I64 => data
                .chunks_exact(8)
                .map(|c| i64::from_le_bytes(c.try_into().unwrap()) as f64)
                .collect(),
            other => panic!("{name}: unexpected fixture dtype {other:?}"),
        };
        out.insert(
            name,
            FixtureTensor {
                shape: view.shape().to_vec(),
                values,
            },
        );
    }
    out
}

/// Compare `got` to `want` element-wise; returns a failure line (with the max error and the
/// first differing values) or None. Always prints the max error.
pub fn compare(name: &str, got: &[f32], want: &[f32], tol: f32) -> Option<String> {
    if got.len() != want.len() {
        return Some(format!(
            "{name}: length {} vs expected {}",
            got.len(),
            want.len()
        ));
    }
    let mut max_err = 0.0f32;
    let mut first_bad = Vec::new();
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        let err = (g - w).abs();
        let within = err <= tol; // false for NaN
        if !within && first_bad.len() < 5 {
            first_bad.push(format!("[{i}] got {g} want {w}"));
        }
        if err > max_err || err.is_nan() {
            max_err = if err.is_nan() { f32::INFINITY } else { err };
        }
    }
    println!(
        "{name:<22} max |err| = {max_err:.3e} (tol {tol:.0e}, {} values)",
        got.len()
    );
    if first_bad.is_empty() {
        None
    } else {
        Some(format!(
            "{name}: max |err| {max_err:.3e} > {tol:.0e}; first: {}",
            first_bad.join(", ")
        ))
    }
}

/// Index of the largest value of each row of `[rows, n]`.
pub fn argmax_rows(v: &[f32], n: usize) -> Vec<usize> {
    v.chunks_exact(n)
        .map(|r| {
            r.iter()
                .enumerate()
                .fold((0, f32::NEG_INFINITY), |(bi, bv), (i, &x)| {
                    if x > bv {
                        (i, x)
                    } else {
                        (bi, bv)
                    }
                })
                .0
        })
        .collect()
}

/// A fresh, empty temp dir for one test, named `tokken-<name>-…`; removed when the
/// returned guard drops (also when the test panics), so keep it alive for the whole test.
pub fn scratch(name: &str) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(&format!("tokken-{name}-"))
        .tempdir()
        .unwrap()
}

/// `bytes` written as `name` in a fresh [`scratch`] dir named `tokken-<dir>-…`; the dir is
/// removed when the returned guard drops, so keep it alive while the file is used.
pub fn scratch_file(
    dir: &str,
    name: &str,
    bytes: impl AsRef<[u8]>,
) -> (tempfile::TempDir, PathBuf) {
    let tmp = scratch(dir);
    let path = tmp.path().join(name);
    std::fs::write(&path, bytes).unwrap();
    (tmp, path)
}

/// A random `tiny` BERT (64 positions) over the characters of `texts` seen at least
/// `min_count` times, with `labels` in index order, written to `dir/<name>` (the vocabulary
/// and its char tokenizer config to `dir/vocab`).
pub fn tiny_char_model<'a>(
    dir: &Path,
    name: &str,
    texts: impl IntoIterator<Item = &'a str>,
    min_count: usize,
    labels: Vec<String>,
    seed: u64,
) -> PathBuf {
    let vocab = build_char_vocab(
        texts,
        &CharVocabOptions {
            min_count,
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
    let mut config = BertConfig::preset("tiny", vocab.len(), labels.len()).unwrap();
    config.max_position_embeddings = 64;
    config.id2label = labels;
    let out = dir.join(name);
    write_random_model(
        &out,
        &config,
        TokenizerSource::Vocab(&vocab_dir.join("vocab.txt")),
        seed,
    )
    .unwrap();
    out
}

/// Training settings the tests start from and override (`TrainConfig { .., ..base }`):
/// full fine-tuning, LoRA r 4 / alpha 8 on query and value when a test switches to LoRA, no
/// dropout, 1 epoch of batch 8, lr 1e-3, no warmup, linear schedule, 32 tokens, seed 0,
/// shuffled, no eval data.
pub fn train_config(model: PathBuf, train: PathBuf) -> TrainConfig {
    TrainConfig {
        model,
        train,
        eval: None,
        eval_split: None,
        text_field: "text".into(),
        label_field: None,
        multi_label: false,
        labels: Vec::new(),
        setup: TrainSetup {
            mode: TrainMode::Full,
            lora: LoraConfig {
                r: 4,
                alpha: 8.0,
                dropout: 0.0,
                target_modules: vec!["query".into(), "value".into()],
            },
            loss: LossConfig::default(),
            hidden_dropout: 0.0,
            attention_dropout: 0.0,
            classifier_dropout: 0.0,
        },
        auto_class_weights: false,
        epochs: 1,
        max_steps: None,
        batch_size: 8,
        grad_accum: 1,
        lr: 1e-3,
        adamw: AdamWConfig::default(),
        warmup_ratio: 0.0,
        warmup_steps: None,
        schedule: ScheduleKind::Linear,
        max_length: 32,
        seed: 0,
        shuffle: true,
        eval_every_epoch: false,
        early_stopping: None,
        checkpoint_every: None,
        init_adapter: None,
        dicdir: None,
        mitigation: Default::default(),
        template: None,
        dtype: Default::default(),
    }
}

/// `mode` with LoRA r 4 / alpha 8 on `targets`, `loss`, no dropout (the gradient fixtures'
/// settings).
pub fn grad_setup(mode: TrainMode, targets: &[&str], loss: LossConfig) -> TrainSetup {
    TrainSetup {
        mode,
        lora: LoraConfig {
            r: 4,
            alpha: 8.0,
            dropout: 0.0,
            target_modules: targets.iter().map(|s| s.to_string()).collect(),
        },
        loss,
        hidden_dropout: 0.0,
        attention_dropout: 0.0,
        classifier_dropout: 0.0,
    }
}

/// Gradient parity with a torch fixture (`param.*`, inputs, `labels`, `loss`, `grad.*`):
/// the tiny model (with a new head over `labels` when given; its values come from the
/// fixture) under `setup` must have exactly torch's trainable tensors, and after one
/// forward/backward the loss within 1e-5 relative and every gradient within `rel_tol` of
/// its tensor's max |reference|. Key biases have an exactly zero gradient (softmax is
/// shift-invariant), so a tensor's scale is floored at 1% of the case's largest gradient.
pub fn check_grad_case(file: &str, setup: TrainSetup, labels: Option<Vec<String>>, rel_tol: f32) {
    let fx: BTreeMap<String, FixtureTensor> = read_fixture(file);
    let mut base = BertParams::load(&tiny_dir()).expect("tiny model loads");
    if let Some(labels) = labels {
        base.config.id2label = labels;
        base.classifier = None;
    }
    let multi = setup.loss.multi_label;
    let mut model = TrainModel::new(base, setup, 7).expect("train model");

    let state: Vec<(String, Vec<f32>, Vec<usize>)> = fx
        .iter()
        .filter_map(|(k, v)| {
            k.strip_prefix("param.")
                .map(|n| (n.to_string(), v.f32(), v.shape.clone()))
        })
        .collect();
    let mut ours = model.trainable_names();
    ours.sort();
    let mut theirs: Vec<String> = state.iter().map(|s| s.0.clone()).collect();
    theirs.sort();
    assert_eq!(
        ours, theirs,
        "{file}: trainable tensors differ from torch's"
    );
    model.load_state(&state).expect("load_state");

    let ids = fx["input_ids"].u32();
    let type_ids = fx["token_type_ids"].u32();
    let mask = fx["attention_mask"].u8();
    let (b, t) = (fx["input_ids"].shape[0], fx["input_ids"].shape[1]);
    let batch = BatchInput {
        ids: &ids,
        type_ids: &type_ids,
        mask: &mask,
        b,
        t,
    };
    let single: Vec<i32> = fx["labels"].values.iter().map(|&v| v as i32).collect();
    let multi_targets = fx["labels"].f32();
    let targets = if multi {
        Targets::Multi(&multi_targets)
    } else {
        Targets::Single(&single)
    };
    let loss = model
        .forward_backward(&batch, &targets, 0, 1.0)
        .expect("forward_backward");
    let want_loss = fx["loss"].values[0] as f32;
    println!("{file}: loss {loss} (torch {want_loss})");
    assert!(
        (loss - want_loss).abs() <= 1e-5 * want_loss.abs().max(1.0),
        "{file}: loss {loss} vs torch {want_loss}"
    );

    let max_abs = |v: &[f32]| v.iter().fold(0.0f32, |m, x| m.max(x.abs()));
    let floor = 0.01
        * fx.iter()
            .filter(|(k, _)| k.starts_with("grad."))
            .map(|(_, v)| max_abs(&v.f32()))
            .fold(0.0f32, f32::max);
    assert!(floor > 0.0, "{file}: torch gradients are all zero");
    let mut failures = Vec::new();
    let mut seen = 0;
    for p in model.trainable_mut() {
        let want = fx[&format!("grad.{}", p.name)].f32();
        let scale = max_abs(&want).max(floor);
        if let Some(f) = compare(p.name, p.grad, &want, rel_tol * scale) {
            failures.push(f);
        }
        seen += 1;
    }
    let torch_grads = fx.keys().filter(|k| k.starts_with("grad.")).count();
    assert_eq!(
        seen, torch_grads,
        "{file}: trainable tensor count differs from torch's gradients"
    );
    assert!(
        failures.is_empty(),
        "{file}: gradients differ:\n{}",
        failures.join("\n")
    );
}

/// Every trainable tensor's name and length, what [`AdamW::new`] takes.
pub fn trainable_sizes(model: &mut TrainModel) -> Vec<(String, usize)> {
    model
        .trainable_mut()
        .iter()
        .map(|p| (p.name.to_string(), p.value.len()))
        .collect()
}

/// One AdamW update at `lr` of every trainable tensor of `model` from its gradients.
pub fn adamw_update(model: &mut TrainModel, opt: &mut AdamW, lr: f64) {
    let mut params: Vec<OptimParam<'_>> = model
        .trainable_mut()
        .into_iter()
        .map(OptimParam::from)
        .collect();
    opt.update(&mut params, lr).expect("update");
}

/// Rows in [`PaddedBatch`].
pub const BATCH_B: usize = 6;
/// Tokens per row in [`PaddedBatch`].
pub const BATCH_T: usize = 11;

/// A fixed padded batch `[BATCH_B, BATCH_T]` (row lengths 11, 6, 3, 9, 11, 7): id 2 first,
/// then ids in `5..5 + id_span`, label `row % labels`.
pub struct PaddedBatch {
    pub ids: Vec<u32>,
    pub types: Vec<u32>,
    pub mask: Vec<u8>,
    pub labels: Vec<i32>,
}

impl PaddedBatch {
    /// With `two_segments`, each row's tokens past half its length get type id 1.
    pub fn new(labels: usize, id_span: usize, two_segments: bool) -> PaddedBatch {
        let (b, t) = (BATCH_B, BATCH_T);
        let lengths = [11usize, 6, 3, 9, 11, 7];
        let mut x = PaddedBatch {
            ids: vec![0; b * t],
            types: vec![0; b * t],
            mask: vec![0; b * t],
            labels: (0..b as i32).map(|i| i % labels as i32).collect(),
        };
        for (i, &n) in lengths.iter().enumerate() {
            for j in 0..n {
                x.ids[i * t + j] = if j == 0 {
                    2
                } else {
                    5 + ((i * 37 + j * 11) % id_span) as u32
                };
                if two_segments {
                    x.types[i * t + j] = u32::from(j > n / 2);
                }
                x.mask[i * t + j] = 1;
            }
        }
        x
    }

    pub fn input(&self) -> BatchInput<'_> {
        BatchInput {
            ids: &self.ids,
            type_ids: &self.types,
            mask: &self.mask,
            b: BATCH_B,
            t: BATCH_T,
        }
    }
}

/// Shifts every trainable value by a fixed pattern in ±0.05 so no tensor is zero (LoRA B
/// starts at zero, which would make every A gradient zero at the first step).
pub fn perturb_trainable(model: &mut TrainModel) {
    for (i, p) in model.trainable_mut().into_iter().enumerate() {
        for (j, v) in p.value.iter_mut().enumerate() {
            *v += 0.05 * (((i * 131 + j * 71) % 17) as f32 - 8.0) / 8.0;
        }
    }
}

/// A small model (hidden 128, intermediate 512, 4 heads, 2 layers) whose GEMMs are big
/// enough to run in parallel (≥ 2^22 flops at 3 × 37 tokens).
pub fn small_parallel_model(seed: u64) -> BertParams {
    let cfg = BertConfig {
        hidden_size: 128,
        intermediate_size: 512,
        num_attention_heads: 4,
        ..BertConfig::preset("tiny", 300, 3).unwrap()
    };
    tokken_model::init::init_params(&cfg, seed).unwrap()
}

/// A model whose FFN down projection has K = 1600 > 1536, two K blocks of the AVX-512
/// kernels (as BERT-base's K = 3072): a layer must add the blocks onto
/// `residual + bias` in the unpacked order, `acc1 + (acc0 + (residual + bias))`.
pub fn two_k_block_model(seed: u64) -> BertParams {
    let cfg = BertConfig {
        intermediate_size: 1600,
        ..BertConfig::preset("tiny", 300, 3).unwrap()
    };
    tokken_model::init::init_params(&cfg, seed).unwrap()
}

/// `got` equals `want` bit for bit (panics naming the first differing element).
pub fn assert_bitwise(what: &str, got: &[f32], want: &[f32]) {
    assert_eq!(got.len(), want.len(), "{what}: lengths");
    if let Some((i, (x, y))) = got
        .iter()
        .zip(want)
        .enumerate()
        .find(|(_, (x, y))| x.to_bits() != y.to_bits())
    {
        panic!("{what}: element {i}: got {x}, want {y}");
    }
}

/// Forward the standard padded batch of `b` sequences of `t` tokens: sequence r has
/// t - 2r real tokens (at least one), the second half of each has type id 1.
pub fn padded_forward(params: &BertParams, b: usize, t: usize, opts: ForwardOptions) -> Arena {
    let ids: Vec<u32> = (0..b * t).map(|i| (2 + i * 41 % 290) as u32).collect();
    let type_ids: Vec<u32> = (0..b * t).map(|i| u32::from(i % t >= t / 2)).collect();
    let mask: Vec<u8> = (0..b * t)
        .map(|i| u8::from(i % t < t.saturating_sub(2 * (i / t)).max(1)))
        .collect();
    let input = BatchInput {
        ids: &ids,
        type_ids: &type_ids,
        mask: &mask,
        b,
        t,
    };
    let mut arena = Arena::new();
    bert_forward(params, &input, &mut arena, opts).unwrap();
    arena
}

/// [B, C]: each sequence's [CLS] row of hidden state `i` of a (B, T) forward.
pub fn cls_rows(arena: &Arena, params: &BertParams, b: usize, t: usize, i: usize) -> Vec<f32> {
    let c = params.config.hidden_size;
    let h = arena.hidden_state(i);
    (0..b)
        .flat_map(|s| h[s * t * c..s * t * c + c].to_vec())
        .collect()
}

/// Replaces `lin`'s f32 weight by a new tensor of 1.5 × its values (as a LoRA merge
/// replaces a weight): a prepacked copy of the old one no longer matches it.
pub fn replace_weight_scaled(lin: &mut LinearParams) {
    let scaled: Vec<f32> = lin
        .weight
        .as_f32()
        .unwrap()
        .iter()
        .map(|w| 1.5 * w)
        .collect();
    lin.weight = tokken_engine::Tensor::from_f32(lin.weight.shape().to_vec(), scaled).unwrap();
}
