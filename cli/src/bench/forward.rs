//! `tokken-cli bench forward`: BERT forward latency / throughput as a fraction of this
//! machine's peak, measured by our probe in the same run.
//!
//! Output, one JSON object per line: the peak (`"kind": "peak"`), the model and its resident
//! memory (`"kind": "model"`), then one line per shape (`"kind": "forward"`). FLOPs counted:
//! every GEMM (2·m·n·k: QKV, attention output, FFN up and down, pooler, classifier) and
//! attention's two batched products (QKᵀ and PV: 2 · 2·B·NH·T·T·HS); embeddings,
//! LayerNorm, softmax and GELU are not counted. Like `predict`, the last layer's dense
//! blocks after attention run only on the [CLS] rows (`--all-rows` to run them on every
//! token); the FLOPs count what runs. Up to 32 tokens, the layers run in token lanes where
//! the CPU allows (`token_lanes_layers` says how many; `--rows-layout` keeps them
//! row-major, the same results).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context;
use serde_json::json;
use tokken_engine::{DType, Device};
use tokken_kernels::cpu::{gemm, peak};
use tokken_model::init::init_params;
use tokken_model::{bert_forward, Arena, BatchInput, BertConfig, BertParams, ForwardOptions};

/// Flags of `tokken-cli bench forward`.
#[derive(clap::Args)]
pub struct Args {
    /// Model size for a random-init model built in memory: tiny, base, large, or a
    /// config.json. Ignored with --model.
    #[arg(long, default_value = "base", value_name = "tiny|base|large|FILE")]
    config: String,
    /// Benchmark this model dir instead (f32 safetensors stay memory-mapped).
    #[arg(long, value_name = "DIR")]
    model: Option<PathBuf>,
    /// Dense-layer precision.
    #[arg(long, default_value = "f32", value_parser = ["f32", "bf16"])]
    dtype: String,
    /// Shapes to run, as BATCHxTOKENS.
    #[arg(long, value_delimiter = ',', default_value = "1x32,32x64")]
    shapes: Vec<String>,
    /// Time spent per shape, in seconds (at least 3 runs each, after one warm-up).
    #[arg(long, default_value_t = 2.0)]
    seconds: f64,
    /// Vocabulary size of the in-memory model (BERT-japanese-v3's by default).
    #[arg(long, default_value_t = 32768)]
    vocab_size: usize,
    /// Do not pack the dense weights once at load (every GEMM re-packs its weight panel,
    /// as before prepacking; mapped f32 weights stay zero-copy).
    #[arg(long)]
    no_prepack: bool,
    /// Run the last layer's dense blocks on every token, not just the [CLS] rows the
    /// classifier reads (predict and eval compute only those).
    #[arg(long)]
    all_rows: bool,
    /// Keep every layer's activations row-major, also for batches of up to 32 tokens that
    /// otherwise run in token lanes (the same results; for comparing the two).
    #[arg(long)]
    rows_layout: bool,
}

/// A `/proc/self/status` memory field in MiB (Linux; None elsewhere).
fn status_mib(field: &str) -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// Resident memory in MiB: total, anonymous (heap: copies, arena) and file-backed (mapped
/// weights, shared and reclaimable).
fn rss() -> serde_json::Value {
    let r = |f| status_mib(f).map(round);
    json!({"total": r("VmRSS:"), "anon": r("RssAnon:"), "file": r("RssFile:")})
}

/// CPU seconds (user + system) this process has used so far, from `/proc/self/stat`
/// (Linux; clock ticks at the usual 100 Hz). On a busy machine wall time overstates a run;
/// CPU time / threads bounds it from below.
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

/// FLOPs of one forward pass over a [B, T] batch (see module docs).
/// FLOPs of one forward; with `cls_rows_only` the last layer's dense blocks after
/// attention count B rows instead of B*T (what that option computes).
fn forward_flops(cfg: &BertConfig, b: usize, t: usize, cls_rows_only: bool) -> f64 {
    let (c, i, l) = (
        cfg.hidden_size as f64,
        cfg.intermediate_size as f64,
        cfg.num_hidden_layers as f64,
    );
    let (bf, tf) = (b as f64, t as f64);
    let tokens = bf * tf;
    let qkv = 2.0 * 3.0 * c * c;
    let after_attention = 2.0 * (c * c + 2.0 * c * i);
    let attention_per_layer = 4.0 * bf * tf * tf * c;
    let last_rows = if cls_rows_only { bf } else { tokens };
    let layers = l * (tokens * qkv + attention_per_layer)
        + (l - 1.0) * tokens * after_attention
        + last_rows * after_attention;
    let head = 2.0 * bf * c * c + 2.0 * bf * c * cfg.num_labels() as f64;
    layers + head
}

fn parse_shape(s: &str) -> anyhow::Result<(usize, usize)> {
    let (b, t) = s
        .split_once('x')
        .with_context(|| format!("shape {s:?} is not BATCHxTOKENS"))?;
    let b: usize = b
        .trim()
        .parse()
        .with_context(|| format!("shape {s:?}: bad batch"))?;
    let t: usize = t
        .trim()
        .parse()
        .with_context(|| format!("shape {s:?}: bad token count"))?;
    anyhow::ensure!(b > 0 && t > 0, "shape {s:?} must be positive");
    Ok((b, t))
}

pub fn run(args: Args, device: Device) -> anyhow::Result<()> {
    let shapes: Vec<(usize, usize)> = args
        .shapes
        .iter()
        .map(|s| parse_shape(s))
        .collect::<anyhow::Result<_>>()?;
    anyhow::ensure!(args.seconds > 0.0, "--seconds must be positive");
    let dtype: DType = args
        .dtype
        .parse()
        .map_err(|e| anyhow::anyhow!("--dtype: {e:?}"))?;
    #[cfg(feature = "cuda")]
    if let Device::Cuda(n) = device {
        return run_cuda(&args, n, &shapes);
    }
    let _ = device; // only CUDA builds have another device
    let threads = rayon::current_num_threads();
    let (peak_gflops, isa, kernel) = if dtype == DType::BF16 {
        (
            peak::measure_bf16_peak(threads),
            peak::bf16_peak_isa(),
            gemm::selected_bf16_kernel(),
        )
    } else {
        (
            peak::measure_f32_peak(threads),
            peak::f32_peak_isa(),
            gemm::selected_kernel(),
        )
    };
    println!(
        "{}",
        json!({"kind": "peak", "dtype": args.dtype, "gflops": round(peak_gflops), "isa": isa,
               "threads": threads, "kernel": kernel, "blocking": gemm::selected_blocking()})
    );

    let rss_before = rss();
    let load_start = Instant::now();
    let (params, source) = load(&args)?;
    let load_s = load_start.elapsed().as_secs_f64();
    let rss_loaded = rss();
    let mapped = params.embeddings.word_embeddings.is_mapped();
    let copied_mib = mib(copied_weight_bytes(&params));
    let mut params = if dtype == DType::BF16 {
        let converted = params.to_dtype(DType::BF16)?;
        drop(params); // free the f32 dense weights now that bf16 copies exist
        converted
    } else {
        params
    };
    let rss_dtype = rss();
    let pack_start = Instant::now();
    if !args.no_prepack {
        params.prepack()?;
    }
    let prepack_s = pack_start.elapsed().as_secs_f64();
    let packed_mib = params.prepacked.as_ref().map_or(0.0, |p| mib(p.bytes()));
    let cfg = params.config.clone();
    let n_params = param_count(&cfg);
    println!(
        "{}",
        json!({"kind": "model", "source": source, "params_m": round(n_params as f64 / 1e6),
               "f32_weights_mapped": mapped, "f32_weights_copied_mib": round(copied_mib),
               "load_s": round(load_s),
               "rss_mib_before_load": rss_before, "rss_mib_after_load": rss_loaded,
               "f32_weights_mib": round(mib(n_params * 4)),
               "rss_mib_after_dtype": rss_dtype, "prepacked": !args.no_prepack,
               "prepack_s": round(prepack_s), "prepacked_mib": round(packed_mib),
               "rss_mib_after_prepack": rss()})
    );

    let opts = ForwardOptions {
        cls_rows_only: !args.all_rows,
        rows_layout_only: args.rows_layout,
        ..ForwardOptions::default()
    };
    let mut arena = Arena::new();
    for (b, t) in shapes {
        anyhow::ensure!(
            t <= cfg.max_position_embeddings,
            "{t} tokens exceed max_position_embeddings {}",
            cfg.max_position_embeddings
        );
        let ids = synthetic_ids(&cfg, b, t);
        let type_ids = vec![0u32; b * t];
        let mask = vec![1u8; b * t];
        let input = BatchInput {
            ids: &ids,
            type_ids: &type_ids,
            mask: &mask,
            b,
            t,
        };
        bert_forward(&params, &input, &mut arena, opts)?; // warm-up
        let cpu_start = cpu_seconds();
        let times = timed_runs(args.seconds, || {
            bert_forward(&params, &input, &mut arena, opts)?;
            Ok(())
        })?;
        let cpu_ms = cpu_start
            .zip(cpu_seconds())
            .map(|(a, z)| round((z - a) / times.len() as f64 * 1e3));
        let median = times[times.len() / 2];
        let best = times[0];
        let flops = forward_flops(&cfg, b, t, opts.cls_rows_only);
        let gflops = flops / median / 1e9;
        println!(
            "{}",
            json!({"kind": "forward", "dtype": args.dtype, "prepacked": !args.no_prepack,
                   "cls_rows_only": opts.cls_rows_only, "token_lanes_layers": arena.lanes_layers(),
                   "batch": b, "tokens": t,
                   "runs": times.len(), "ms_median": round(median * 1e3), "ms_best": round(best * 1e3),
                   "sequences_per_s": round(b as f64 / median), "tokens_per_s": round((b * t) as f64 / median),
                   "gflop": round(flops / 1e9), "gflops": round(gflops),
                   "fraction_of_peak": round(gflops / peak_gflops),
                   "fraction_of_peak_best": round(flops / best / 1e9 / peak_gflops),
                   "cpu_ms_per_run": cpu_ms,
                   "cpu_ms_per_run_per_thread": cpu_ms.map(|c| round(c / threads as f64)),
                   "arena_mib": round(mib(arena.len() * 4)),
                   "f32_weights_copied_mib": round(mib(copied_weight_bytes(&params))),
                   "rss_mib": rss()})
        );
    }
    Ok(())
}

/// The benchmarked model: `--model` loaded, or a random init of `--config`; and where it
/// came from.
fn load(args: &Args) -> anyhow::Result<(BertParams, String)> {
    Ok(match &args.model {
        Some(dir) => (BertParams::load(dir)?, dir.display().to_string()),
        None => {
            let cfg = match args.config.as_str() {
                name @ ("tiny" | "base" | "large") => {
                    BertConfig::preset(name, args.vocab_size, 2).context("unknown preset")?
                }
                path => {
                    anyhow::ensure!(
                        std::path::Path::new(path).is_file(),
                        "--config: `{path}` is neither tiny, base, large nor a config.json file"
                    );
                    BertConfig::from_file(std::path::Path::new(path))?
                }
            };
            (
                init_params(&cfg, 0)?,
                format!("random init ({})", args.config),
            )
        }
    })
}

/// `[CLS] x.. [SEP]` rows of `t` ids spread over the vocabulary, no padding.
fn synthetic_ids(cfg: &BertConfig, b: usize, t: usize) -> Vec<u32> {
    (0..b * t)
        .map(|i| match i % t {
            0 => 2,
            j if j == t - 1 => 3,
            _ => (5 + (i * 7919) % (cfg.vocab_size - 5)) as u32,
        })
        .collect()
}

/// `bench forward --device cuda:N`: the same model and inputs on the GPU (dense weights as
/// bf16 there, whatever `--dtype` says; every row of the last layer runs).
#[cfg(feature = "cuda")]
fn run_cuda(args: &Args, n: usize, shapes: &[(usize, usize)]) -> anyhow::Result<()> {
    let dev = super::cuda::open(n)?;
    let (params, source) = load(args)?;
    let cfg = params.config.clone();
    println!(
        "{}",
        json!({"kind": "model", "source": source, "params_m": round(param_count(&cfg) as f64 / 1e6),
               "device_dtype": "bf16 dense weights, f32 activations"})
    );
    let mut inputs = Vec::new();
    for &(b, t) in shapes {
        anyhow::ensure!(
            t <= cfg.max_position_embeddings,
            "{t} tokens exceed max_position_embeddings {}",
            cfg.max_position_embeddings
        );
        inputs.push((b, t, synthetic_ids(&cfg, b, t)));
    }
    super::cuda::forward(dev, &params, &inputs, args.seconds, |b, t| {
        forward_flops(&cfg, b, t, false)
    })
}

/// Parameters of a BertForSequenceClassification of this config.
fn param_count(cfg: &BertConfig) -> usize {
    let (c, i) = (cfg.hidden_size, cfg.intermediate_size);
    let emb = (cfg.vocab_size + cfg.max_position_embeddings + cfg.type_vocab_size) * c + 2 * c;
    let layer = 4 * (c * c + c) + (i * c + i) + (c * i + c) + 4 * c;
    let head = (c * c + c) + cfg.num_labels() * (c + 1);
    emb + cfg.num_hidden_layers * layer + head
}

pub(super) fn round(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// Seconds of each call of `run`, sorted: at least 3 calls, and as many as fit in `seconds`.
pub(super) fn timed_runs(
    seconds: f64,
    mut run: impl FnMut() -> anyhow::Result<()>,
) -> anyhow::Result<Vec<f64>> {
    let mut times = Vec::new();
    let budget = Duration::from_secs_f64(seconds);
    let start = Instant::now();
    while times.len() < 3 || start.elapsed() < budget {
        let t0 = Instant::now();
        run()?;
        times.push(t0.elapsed().as_secs_f64());
    }
    times.sort_by(f64::total_cmp);
    Ok(times)
}

/// Bytes of the model's dense and embedding tensors held as copies (not read in place from
/// the mapped file): all of them for a random-init model or a converted dtype; for a
/// mapped f32 checkpoint none, unless something joined the stacked q|k|v weights.
fn copied_weight_bytes(p: &BertParams) -> usize {
    let e = &p.embeddings;
    let mut tensors = vec![
        &e.word_embeddings,
        &e.position_embeddings,
        &e.token_type_embeddings,
    ];
    let dense = p
        .layers
        .iter()
        .flat_map(|l| [&l.qkv, &l.attention_output, &l.intermediate, &l.output]);
    for lin in dense.chain(&p.pooler).chain(&p.classifier) {
        tensors.extend([&lin.weight, &lin.bias]);
    }
    tensors
        .iter()
        .filter(|t| !t.is_zero_copy())
        .map(|t| t.byte_len())
        .sum()
}

fn mib(bytes: usize) -> f64 {
    bytes as f64 / (1 << 20) as f64
}
