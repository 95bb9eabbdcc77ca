//! `tokken-cli bench gemm`: f32 and bf16 GEMM speed on BERT-base linear-layer shapes, each as
//! a fraction of this machine's FMA peak measured by our probe in the same run.
//!
//! Output, one JSON object per line: first the two peaks (`"kind": "peak"`), then one line
//! per (shape, pass, dtype) (`"kind": "gemm"`). Shapes follow the model's layout: HF Linear
//! weights are stored `W [N_out, K_in]`, activations `x [M, K_in]` with M tokens:
//! - `forward`: `y = x W^T`, NT GEMM, `m = M, n = N_out, k = K_in`;
//! - `dX`: `dx = dy W`, NN GEMM, `m = M, n = K_in, k = N_out`;
//! - `dW`: `dW += dy^T x`, TN GEMM, `m = N_out, n = K_in, k = M` (accumulates, beta = 1).
//!
//! On a shared machine wall time depends on what else runs; each line therefore also gives
//! `cpu_gflops`: flops per CPU-second our threads actually ran over all timed calls (Linux
//! schedstat), a load-independent figure to compare with the single-thread peak
//! (`gflops_1_thread` of the peak lines); slightly pessimistic, as idle-spinning pool
//! threads count too.
//!
//! Last, two f32 `sgemm_batched` lines for attention with T = 128, HS = 64, 12 heads and
//! `tokens / 128` sequences: `scores` (`Q K^T`, NT, `T x T x HS` per head) and `context`
//! (`P V`, NN, `T x HS x T` per head).
//!
//! bf16 rows use the bf16 forward path: `gemm_f32_bf16` (f32 activations, bf16 weights) for
//! `forward` and `dX`, `gemm_bf16` (both operands bf16) for `dW`.

use std::time::{Duration, Instant};

use half::bf16;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::json;
use tokken_kernels::cpu::gemm::{self, Trans};
use tokken_kernels::cpu::peak;

/// Flags of `tokken-cli bench gemm`.
#[derive(clap::Args)]
pub struct Args {
    /// Tokens per batch (M of the forward product).
    #[arg(long, default_value_t = 2048)]
    tokens: usize,
    /// Time spent per measured case, in seconds (at least 3 repetitions each).
    #[arg(long, default_value_t = 0.5)]
    seconds: f64,
    /// Exact repetitions per case instead of a time budget.
    #[arg(long)]
    reps: Option<usize>,
    /// Only this dtype (`f32` or `bf16`); both by default.
    #[arg(long, value_parser = ["f32", "bf16"])]
    dtype: Option<String>,
}

/// BERT-base linear layers as `(K_in, N_out)`: attention output, fused QKV, FFN up, FFN down.
const SHAPES: [(usize, usize); 4] = [(768, 768), (768, 2304), (768, 3072), (3072, 768)];

pub fn run(args: Args) -> anyhow::Result<()> {
    anyhow::ensure!(args.tokens > 0, "--tokens must be positive");
    anyhow::ensure!(args.seconds > 0.0, "--seconds must be positive");
    anyhow::ensure!(args.reps != Some(0), "--reps must be positive");
    let threads = rayon::current_num_threads();
    let f32_peak = peak::measure_f32_peak(threads);
    let bf16_peak = peak::measure_bf16_peak(threads);
    let f32_core = peak::measure_f32_peak(1);
    let bf16_core = peak::measure_bf16_peak(1);
    println!(
        "{}",
        json!({"kind": "peak", "dtype": "f32", "gflops": round(f32_peak), "isa": peak::f32_peak_isa(),
               "threads": threads, "gflops_1_thread": round(f32_core), "kernel": gemm::selected_kernel(), "blocking": gemm::selected_blocking()})
    );
    println!(
        "{}",
        json!({"kind": "peak", "dtype": "bf16", "gflops": round(bf16_peak), "isa": peak::bf16_peak_isa(),
               "threads": threads, "gflops_1_thread": round(bf16_core), "kernel": gemm::selected_bf16_kernel(), "blocking": gemm::selected_blocking()})
    );

    let mut rng = StdRng::seed_from_u64(0);
    let m = args.tokens;
    for (k_in, n_out) in SHAPES {
        let x = random(&mut rng, m * k_in);
        let w = random(&mut rng, n_out * k_in);
        let dy = random(&mut rng, m * n_out);
        let (x16, w16, dy16) = (to_bf16(&x), to_bf16(&w), to_bf16(&dy));
        let mut y = vec![0.0f32; m * n_out];
        let mut dx = vec![0.0f32; m * k_in];
        let mut dw = vec![0.0f32; n_out * k_in];
        for dtype in ["f32", "bf16"] {
            if args.dtype.as_deref().is_some_and(|d| d != dtype) {
                continue;
            }
            let (peak, kernel) = if dtype == "f32" {
                (f32_peak, gemm::selected_kernel())
            } else {
                (bf16_peak, gemm::selected_bf16_kernel())
            };
            let bf = dtype == "bf16";
            let cases: [(&str, &str, usize, usize, usize); 3] = [
                ("forward", "NT", m, n_out, k_in),
                ("dX", "NN", m, k_in, n_out),
                ("dW", "TN", n_out, k_in, m),
            ];
            for (pass, layout, gm, gn, gk) in cases {
                let (secs, cpu) = time(&args, || match (pass, bf) {
                    ("forward", false) => gemm::sgemm(
                        Trans::N,
                        Trans::T,
                        m,
                        n_out,
                        k_in,
                        1.0,
                        &x,
                        k_in,
                        &w,
                        k_in,
                        0.0,
                        &mut y,
                        n_out,
                    ),
                    ("forward", true) => gemm::gemm_f32_bf16(
                        Trans::N,
                        Trans::T,
                        m,
                        n_out,
                        k_in,
                        1.0,
                        &x,
                        k_in,
                        &w16,
                        k_in,
                        0.0,
                        &mut y,
                        n_out,
                    ),
                    ("dX", false) => gemm::sgemm(
                        Trans::N,
                        Trans::N,
                        m,
                        k_in,
                        n_out,
                        1.0,
                        &dy,
                        n_out,
                        &w,
                        k_in,
                        0.0,
                        &mut dx,
                        k_in,
                    ),
                    ("dX", true) => gemm::gemm_f32_bf16(
                        Trans::N,
                        Trans::N,
                        m,
                        k_in,
                        n_out,
                        1.0,
                        &dy,
                        n_out,
                        &w16,
                        k_in,
                        0.0,
                        &mut dx,
                        k_in,
                    ),
                    (_, false) => gemm::sgemm(
                        Trans::T,
                        Trans::N,
                        n_out,
                        k_in,
                        m,
                        1.0,
                        &dy,
                        n_out,
                        &x,
                        k_in,
                        1.0,
                        &mut dw,
                        k_in,
                    ),
                    (_, true) => gemm::gemm_bf16(
                        Trans::T,
                        Trans::N,
                        n_out,
                        k_in,
                        m,
                        1.0,
                        &dy16,
                        n_out,
                        &x16,
                        k_in,
                        1.0,
                        &mut dw,
                        k_in,
                    ),
                });
                let flops = 2.0 * (gm * gn * gk) as f64;
                let (best, median) = (secs[0], secs[secs.len() / 2]);
                let gflops = flops / best / 1e9;
                let cpu_gflops = cpu.map(|c| flops * secs.len() as f64 / c / 1e9);
                println!(
                    "{}",
                    json!({"kind": "gemm", "dtype": dtype, "pass": pass, "layout": layout,
                           "k_in": k_in, "n_out": n_out, "m": gm, "n": gn, "k": gk,
                           "kernel": kernel, "threads": threads, "reps": secs.len(),
                           "best_ms": round(best * 1e3), "median_ms": round(median * 1e3),
                           "gflops": round(gflops), "median_gflops": round(flops / median / 1e9),
                           "fraction_of_peak": round(gflops / peak),
                           "cpu_gflops": cpu_gflops.map(round)})
                );
            }
        }
    }
    attention_batched(&args, &mut rng, f32_peak, threads);
    Ok(())
}

/// The two batched attention products per layer (see the module docs), f32.
fn attention_batched(args: &Args, rng: &mut StdRng, peak: f64, threads: usize) {
    let (t, hs, heads) = (128usize, 64usize, 12usize);
    let batch = (args.tokens / t).max(1) * heads;
    let q = random(rng, batch * t * hs);
    let kv = random(rng, batch * t * hs);
    let mut scores = random(rng, batch * t * t);
    let mut context = vec![0.0f32; batch * t * hs];
    for pass in ["scores", "context"] {
        let (secs, cpu) = time(args, || {
            if pass == "scores" {
                gemm::sgemm_batched(
                    Trans::N,
                    Trans::T,
                    t,
                    t,
                    hs,
                    1.0,
                    &q,
                    hs,
                    t * hs,
                    &kv,
                    hs,
                    t * hs,
                    0.0,
                    &mut scores,
                    t,
                    t * t,
                    batch,
                )
            } else {
                gemm::sgemm_batched(
                    Trans::N,
                    Trans::N,
                    t,
                    hs,
                    t,
                    1.0,
                    &scores,
                    t,
                    t * t,
                    &kv,
                    hs,
                    t * hs,
                    0.0,
                    &mut context,
                    hs,
                    t * hs,
                    batch,
                )
            }
        });
        let flops = 2.0 * (batch * t * t * hs) as f64;
        let (best, median) = (secs[0], secs[secs.len() / 2]);
        let gflops = flops / best / 1e9;
        println!(
            "{}",
            json!({"kind": "gemm_batched", "dtype": "f32", "pass": pass,
                   "layout": if pass == "scores" { "NT" } else { "NN" },
                   "batch": batch, "t": t, "hs": hs, "kernel": gemm::selected_kernel(),
                   "threads": threads, "reps": secs.len(),
                   "best_ms": round(best * 1e3), "median_ms": round(median * 1e3),
                   "gflops": round(gflops), "median_gflops": round(flops / median / 1e9),
                   "fraction_of_peak": round(gflops / peak),
                   "cpu_gflops": cpu.map(|c| round(flops * secs.len() as f64 / c / 1e9))})
        );
    }
}

/// Run `f` once to warm up, then by the time budget (or `--reps`). Returns the sorted wall
/// seconds per call and the CPU-seconds all timed calls took together (None off Linux).
fn time(args: &Args, mut f: impl FnMut()) -> (Vec<f64>, Option<f64>) {
    f();
    let budget = Duration::from_secs_f64(args.seconds);
    let start = Instant::now();
    let mut secs = Vec::new();
    let cpu_start = cpu_seconds();
    loop {
        let t = Instant::now();
        f();
        secs.push(t.elapsed().as_secs_f64());
        let done = match args.reps {
            Some(r) => secs.len() >= r,
            None => secs.len() >= 3 && start.elapsed() >= budget,
        };
        if done {
            break;
        }
    }
    let cpu = match (cpu_start, cpu_seconds()) {
        (Some(c0), Some(c1)) if c1 > c0 => Some(c1 - c0),
        _ => None,
    };
    secs.sort_by(f64::total_cmp);
    (secs, cpu)
}

/// CPU time all threads of this process have run, in seconds (Linux schedstat).
fn cpu_seconds() -> Option<f64> {
    let tasks = std::fs::read_dir("/proc/self/task").ok()?;
    let mut ns = 0.0;
    for task in tasks {
        let stat = std::fs::read_to_string(task.ok()?.path().join("schedstat")).ok()?;
        ns += stat.split_whitespace().next()?.parse::<f64>().ok()?;
    }
    Some(ns / 1e9)
}

fn random(rng: &mut StdRng, len: usize) -> Vec<f32> {
    (0..len).map(|_| rng.random_range(-1.0f32..1.0)).collect()
}

fn to_bf16(v: &[f32]) -> Vec<bf16> {
    v.iter().map(|&x| bf16::from_f32(x)).collect()
}

/// Four significant decimals are plenty for a JSON report.
fn round(x: f64) -> f64 {
    if x == 0.0 || !x.is_finite() {
        return x;
    }
    let scale = 10f64.powi(3 - x.abs().log10().floor() as i32);
    (x * scale).round() / scale
}
