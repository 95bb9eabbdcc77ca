//! GPU bench of the model on CUDA (ignored: `scripts/gpu-check.sh` runs it with
//! `--ignored`). Prints one JSON object per line prefixed `BENCH `:
//! - the LoRA fine-tune step of a randomly initialised BERT-base (v3 shape: vocab 32768, 12
//!   layers, C 768, 12 heads, I 3072, 9 labels) at batch 32 × 128, set up as
//!   `scripts/reference/peft_lora_baseline.py` (r 8, alpha 8, query + value, LoRA dropout 0,
//!   hidden / attention / classifier dropout 0.1, no padding, AdamW without clipping):
//!   median step time over 20 steps after 5 warm-ups, forward + backward + optimizer;
//! - one headline (1 × 24 tokens) predicted by `CudaBert`: median latency over 50 after 10
//!   warm-ups; and batch 32 × 128 inference throughput.
#![cfg(feature = "cuda")]

use std::time::Instant;

use tokken_model::config::BertConfig;
use tokken_model::cuda::{open_device, CudaBert, CudaLoraStep};
use tokken_model::init::init_params;
use tokken_model::train::{LoraConfig, LossConfig, Targets, TrainMode, TrainModel, TrainSetup};
use tokken_model::trainer::batching::PaddedBatch;
use tokken_model::trainer::{AdamW, AdamWConfig};

mod common;

fn bert_base_v3() -> BertConfig {
    let mut cfg = BertConfig::preset("base", 32768, 9).expect("preset");
    cfg.max_position_embeddings = 512;
    cfg
}

/// Median of `samples` (seconds).
fn median(mut samples: Vec<f64>) -> f64 {
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

/// A full batch (no padding) of pseudo-random ids in 5..32768.
fn batch(b: usize, t: usize, seed: u64) -> PaddedBatch {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let ids = (0..b * t)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            5 + (x % (32768 - 5)) as u32
        })
        .collect();
    PaddedBatch {
        ids,
        type_ids: vec![0; b * t],
        mask: vec![1; b * t],
        b,
        t,
        ..PaddedBatch::default()
    }
}

/// Median seconds of `runs` calls of `f` after `warmups` untimed ones.
fn median_secs(warmups: usize, runs: usize, mut f: impl FnMut()) -> f64 {
    for _ in 0..warmups {
        f();
    }
    let times = (0..runs)
        .map(|_| {
            let s = Instant::now();
            f();
            s.elapsed().as_secs_f64()
        })
        .collect();
    median(times)
}

#[test]
#[ignore = "GPU bench: scripts/gpu-check.sh runs it"]
fn cuda_model_bench() {
    let dev = match open_device(0) {
        Ok(d) => d,
        Err(e) => {
            println!("skipping: no CUDA device: {e}");
            return;
        }
    };
    // Which GEMM and attention kernels run and whether predict replays a CUDA graph
    // ($TOKKEN_CUDA_GEMM, $TOKKEN_CUDA_ATTENTION, $TOKKEN_CUDA_GRAPHS): every line says.
    let kernels = format!(
        "{:?}+{:?}{}",
        dev.tensor_core_kernel(),
        dev.attention_kernel(),
        if dev.graphs() { "+graphs" } else { "" }
    );
    let cfg = bert_base_v3();
    let params = init_params(&cfg, 0).expect("random BERT-base");

    // one headline: 1 x 24 tokens
    let gpu = CudaBert::new(dev.clone(), &params).expect("upload");
    let headline = batch(1, 24, 1);
    let one = headline.input();
    let lat = median_secs(10, 50, || {
        gpu.logits(&one).expect("predict");
    });
    println!(
        "BENCH {{\"what\":\"predict one headline 1 x 24 tokens\",\"kernels\":\"{kernels}\",\"model\":\"bert-base v3 shape, random\",\"ms\":{:.4}}}",
        lat * 1e3
    );
    // inference throughput at 32 x 128
    let full = batch(32, 128, 2);
    let big = full.input();
    let inf = median_secs(3, 10, || {
        gpu.logits(&big).expect("predict");
    });
    println!(
        "BENCH {{\"what\":\"inference forward 32 x 128\",\"kernels\":\"{kernels}\",\"ms\":{:.3},\"tokens_per_s\":{:.1}}}",
        inf * 1e3,
        32.0 * 128.0 / inf
    );
    drop(gpu);

    // LoRA fine-tune step at 32 x 128
    let setup = TrainSetup {
        mode: TrainMode::Lora,
        lora: LoraConfig {
            r: 8,
            alpha: 8.0,
            dropout: 0.0,
            target_modules: vec!["query".into(), "value".into()],
        },
        loss: LossConfig::default(),
        hidden_dropout: 0.1,
        attention_dropout: 0.1,
        classifier_dropout: 0.1,
    };
    let mut model = TrainModel::new(params, setup, 0).expect("train model");
    let mut step = CudaLoraStep::new(dev, &mut model).expect("cuda step");
    let names = common::trainable_sizes(&mut model);
    let trainable: usize = names.iter().map(|n| n.1).sum();
    let mut opt = AdamW::new(
        AdamWConfig {
            max_grad_norm: None,
            ..AdamWConfig::default()
        },
        &names,
    );
    let (b, t) = (32, 128);
    let data = batch(b, t, 3);
    let input = data.input();
    let targets: Vec<i32> = (0..b).map(|r| (data.ids[r * t] % 9) as i32).collect();
    let mut one_step = |s: u64| -> f32 {
        model.zero_grads();
        let loss = step
            .forward_backward(&mut model, &input, &Targets::Single(&targets), None, s, 1.0)
            .expect("step");
        common::adamw_update(&mut model, &mut opt, 1e-4);
        loss
    };
    for s in 0..5 {
        one_step(s);
    }
    let mut losses = Vec::new();
    let times: Vec<f64> = (0..20)
        .map(|s| {
            let start = Instant::now();
            losses.push(one_step(100 + s));
            start.elapsed().as_secs_f64()
        })
        .collect();
    let med = median(times);
    assert!(
        losses.iter().all(|l| l.is_finite()),
        "non-finite loss: {losses:?}"
    );
    println!(
        "BENCH {{\"what\":\"lora finetune step (r 8, query+value, dropout 0.1, bf16 frozen weights)\",\"kernels\":\"{kernels}\",\"batch\":{b},\"seq\":{t},\"step_ms\":{:.3},\"tokens_per_s\":{:.1},\"trainable_params\":{trainable},\"first_loss\":{:.4},\"last_loss\":{:.4}}}",
        med * 1e3,
        (b * t) as f64 / med,
        losses[0],
        losses[losses.len() - 1]
    );
}
