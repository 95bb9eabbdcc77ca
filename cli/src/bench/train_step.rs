//! `tokken-cli bench train-step`: seconds per LoRA training step (forward, backward, AdamW)
//! on a random-init model built in memory, next to this machine's peak measured in the same
//! run, and the peak resident memory.
//!
//! Output, one JSON object per line: the peak (`"kind": "peak"`), then the step timing
//! (`"kind": "train_step"`) with the achieved GFLOP/s (forward FLOPs × 2 for the backward's
//! input-gradient GEMMs; frozen weights get no weight-gradient GEMMs, LoRA's are not counted;
//! the last layer after its attention counts only the [CLS] rows it runs on, `--all-rows`
//! runs and counts every row)
//! and `VmHWM` from `/proc/self/status`; `prepacked_mib` is the part of it taken by the frozen
//! weights' packed copies (`tokken_model::train::frozen_packed`).

use std::time::Instant;

use anyhow::Context;
use serde_json::json;
use tokken_engine::Device;
use tokken_kernels::cpu::{gemm, peak};
use tokken_model::init::init_params;
use tokken_model::train::precision::base_for_training;
use tokken_model::train::{
    LoraConfig, LossConfig, Targets, TrainDtype, TrainMode, TrainModel, TrainSetup,
};
use tokken_model::trainer::optimizer::{AdamW, AdamWConfig, OptimParam};
use tokken_model::{BatchInput, BertConfig};

/// Flags of `tokken-cli bench train-step`.
#[derive(clap::Args)]
pub struct Args {
    /// Model size of the random-init model: tiny, base or large.
    #[arg(long, default_value = "base", value_parser = ["tiny", "base", "large"])]
    config: String,
    /// Training precision: f32, or bf16 (frozen base weights in bf16, f32 LoRA, optimizer
    /// and loss; see `tokken_model::train::precision`).
    #[arg(long, default_value = "f32", value_parser = ["f32", "bf16"])]
    dtype: String,
    /// Examples per step.
    #[arg(long, default_value_t = 16)]
    batch: usize,
    /// Tokens per example.
    #[arg(long, default_value_t = 64)]
    tokens: usize,
    /// Timed steps (after one warm-up step).
    #[arg(long, default_value_t = 5)]
    steps: usize,
    #[arg(long, default_value_t = 8)]
    lora_r: usize,
    #[arg(long, value_delimiter = ',', default_value = "query,value")]
    lora_targets: Vec<String>,
    /// Vocabulary size (BERT-japanese-v3's by default).
    #[arg(long, default_value_t = 32768)]
    vocab_size: usize,
    /// Pack the frozen weights on every GEMM call (as `finetune --no-prepack`).
    #[arg(long)]
    no_prepack: bool,
    /// Run the last layer after its attention on every token, not only on the [CLS] rows
    /// the loss reads (`TrainModel::set_last_layer_cls_only(false)`; same results).
    #[arg(long)]
    all_rows: bool,
}

/// A `/proc/self/status` field in MiB (Linux only).
fn status_mib(field: &str) -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some((kb / 1024.0 * 10.0).round() / 10.0)
}

/// CPU seconds (user + system) this process has used so far, from `/proc/self/stat`
/// (Linux; clock ticks at the usual 100 Hz).
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

/// Forward FLOPs over [B, T]: the dense GEMMs and attention's two products; with
/// `cls_rows_only` the last layer's dense blocks after attention count B rows, as run.
fn forward_flops(cfg: &BertConfig, b: usize, t: usize, cls_rows_only: bool) -> f64 {
    let (c, i, l) = (
        cfg.hidden_size as f64,
        cfg.intermediate_size as f64,
        cfg.num_hidden_layers as f64,
    );
    let tokens = (b * t) as f64;
    let qkv_and_attention = 2.0 * tokens * 3.0 * c * c + 4.0 * tokens * t as f64 * c;
    let after_attention = 2.0 * (c * c + 2.0 * c * i);
    let last_rows = if cls_rows_only { b as f64 } else { tokens };
    l * qkv_and_attention + (l - 1.0) * tokens * after_attention + last_rows * after_attention
}

pub fn run(args: Args, device: Device) -> anyhow::Result<()> {
    let dtype: TrainDtype = args.dtype.parse()?;
    anyhow::ensure!(
        args.batch > 0 && args.tokens >= 2 && args.steps > 0,
        "--batch, --steps must be positive and --tokens at least 2"
    );
    let threads = rayon::current_num_threads();
    // On a GPU the frozen base runs in bf16 whatever --dtype says, as `finetune --device cuda`.
    #[cfg(feature = "cuda")]
    let dtype = match device {
        Device::Cuda(_) => TrainDtype::Bf16,
        Device::Cpu => dtype,
    };
    // The CPU peak of the precision the frozen GEMMs run in (not measured for a GPU run).
    let on_cpu = device == Device::Cpu;
    let (peak_gflops, isa, kernel) = match dtype {
        _ if !on_cpu => (f64::NAN, "", ""),
        TrainDtype::F32 => (
            peak::measure_f32_peak(threads),
            peak::f32_peak_isa(),
            gemm::selected_kernel(),
        ),
        TrainDtype::Bf16 => (
            peak::measure_bf16_peak(threads),
            peak::bf16_peak_isa(),
            gemm::selected_bf16_kernel(),
        ),
    };
    if on_cpu {
        println!(
            "{}",
            json!({"kind": "peak", "dtype": dtype.name(), "gflops": (peak_gflops * 10.0).round() / 10.0,
                   "isa": isa, "threads": threads, "kernel": kernel, "blocking": gemm::selected_blocking()})
        );
    }

    let cfg = BertConfig::preset(&args.config, args.vocab_size, 2).context("unknown preset")?;
    let params = base_for_training(init_params(&cfg, 0)?, dtype, TrainMode::Lora)?;
    let setup = TrainSetup {
        mode: TrainMode::Lora,
        lora: LoraConfig {
            r: args.lora_r,
            alpha: 16.0,
            dropout: 0.1,
            target_modules: args.lora_targets.clone(),
        },
        loss: LossConfig::default(),
        hidden_dropout: 0.1,
        attention_dropout: 0.1,
        classifier_dropout: 0.1,
    };
    let mut model = TrainModel::new(params, setup, 0)?;
    model.set_prepack(!args.no_prepack && on_cpu);
    model.set_last_layer_cls_only(!args.all_rows);
    #[cfg(feature = "cuda")]
    let mut cuda_step = match device {
        Device::Cuda(n) => Some(tokken_model::cuda::CudaLoraStep::new(
            super::cuda::open(n)?,
            &mut model,
        )?),
        Device::Cpu => None,
    };
    let slots: Vec<(String, usize)> = model
        .trainable_mut()
        .iter()
        .map(|p| (p.name.to_string(), p.value.len()))
        .collect();
    let mut opt = AdamW::new(AdamWConfig::default(), &slots);

    // Random ids (no special-token structure needed for timing), full attention mask.
    let (b, t) = (args.batch, args.tokens);
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    let ids: Vec<u32> = (0..b * t)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % cfg.vocab_size as u64) as u32
        })
        .collect();
    let type_ids = vec![0u32; b * t];
    let mask = vec![1u8; b * t];
    let labels: Vec<i32> = (0..b as i32).map(|i| i % 2).collect();
    let batch = BatchInput {
        ids: &ids,
        type_ids: &type_ids,
        mask: &mask,
        b,
        t,
    };

    let mut step = |k: u64| -> anyhow::Result<f32> {
        model.zero_grads();
        let targets = Targets::Single(&labels);
        #[cfg(feature = "cuda")]
        let loss = match cuda_step.as_mut() {
            Some(gpu) => gpu.forward_backward(&mut model, &batch, &targets, None, k, 1.0)?,
            None => model.forward_backward(&batch, &targets, k, 1.0)?,
        };
        #[cfg(not(feature = "cuda"))]
        let loss = model.forward_backward(&batch, &targets, k, 1.0)?;
        let mut ps: Vec<OptimParam<'_>> = model
            .trainable_mut()
            .into_iter()
            .map(|p| OptimParam {
                name: p.name,
                value: p.value,
                grad: p.grad,
                weight_decay: p.weight_decay,
            })
            .collect();
        opt.update(&mut ps, 2e-4)?;
        Ok(loss)
    };
    step(0)?;
    let mut times = Vec::with_capacity(args.steps);
    let mut loss = 0.0;
    let cpu_start = cpu_seconds();
    for k in 0..args.steps {
        let start = Instant::now();
        loss = step(k as u64 + 1)?;
        times.push(start.elapsed().as_secs_f64());
    }
    // On a busy machine wall time overstates the step; CPU time / threads bounds it from below.
    let cpu_per_step = cpu_start
        .zip(cpu_seconds())
        .map(|(a, b)| ((b - a) / args.steps as f64 * 1e3).round() / 1e3);
    times.sort_by(f64::total_cmp);
    let median = times[times.len() / 2];
    let mean = times.iter().sum::<f64>() / times.len() as f64;
    // The GPU step runs every row of the last layer.
    let flops = 2.0 * forward_flops(&cfg, b, t, !args.all_rows && on_cpu);
    println!(
        "{}",
        json!({
            "kind": "train_step", "device": device.to_string(), "config": args.config,
            "dtype": dtype.name(), "mode": "lora",
            "lora_r": args.lora_r, "lora_targets": args.lora_targets, "batch": b, "tokens": t,
            "threads": threads, "steps": args.steps, "cls_rows_only": !args.all_rows && on_cpu,
            "s_per_step_median": (median * 1e4).round() / 1e4,
            "s_per_step_mean": (mean * 1e4).round() / 1e4,
            "s_per_step_min": (times[0] * 1e4).round() / 1e4,
            "gflops": (flops / median / 1e9 * 10.0).round() / 10.0,
            "tokens_per_s": ((b * t) as f64 / median).round(),
            "fraction_of_peak": on_cpu.then(|| ((flops / median / 1e9) / peak_gflops * 1000.0).round() / 1000.0),
            "cpu_s_per_step": cpu_per_step,
            "cpu_s_per_step_per_thread": cpu_per_step.map(|c| (c / threads as f64 * 1e3).round() / 1e3),
            "trainable_params": model.num_trainable(),
            "prepacked_mib": (model.prepacked_bytes() as f64 / 1048576.0 * 10.0).round() / 10.0,
            "loss": loss,
            "peak_rss_mib": status_mib("VmHWM:"),
            "rss_mib": status_mib("VmRSS:"),
        })
    );
    Ok(())
}
