//! Manual speed probe for tuning (ignored by default; run with `--ignored --nocapture`).
//! `GEMM_SHAPE=m,n,k` `GEMM_TRANS=NT` `GEMM_REPS=5` pick the product.

use std::time::Instant;

use half::bf16;
use tokken_kernels::cpu::gemm::*;
use tokken_kernels::cpu::peak;

/// CPU time of all threads of this process, in seconds (Linux schedstat; 0 elsewhere).
fn cpu_secs() -> f64 {
    let Ok(dir) = std::fs::read_dir("/proc/self/task") else {
        return 0.0;
    };
    dir.filter_map(|e| std::fs::read_to_string(e.ok()?.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().next()?.parse::<f64>().ok())
        .sum::<f64>()
        / 1e9
}

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_string())
}

/// Attention-like batched products: `GEMM_BATCH` items of `[T, HS] x [HS, T]` (NT) and
/// `[T, T] x [T, HS]` (NN), T = 128, HS = 64.
#[test]
#[ignore]
fn batched_speed_probe() {
    let batch: usize = env_or("GEMM_BATCH", "384").parse().unwrap();
    let (t, hs) = (128usize, 64usize);
    let q: Vec<f32> = (0..batch * t * hs).map(|i| (i % 7) as f32 * 0.1).collect();
    let mut s = vec![0.0f32; batch * t * t];
    let mut o = vec![0.0f32; batch * t * hs];
    let flops = 2.0 * (batch * t * t * hs) as f64;
    for name in ["scores NT", "context NN"] {
        let mut best = f64::MAX;
        let mut best_cpu = f64::MAX;
        for _ in 0..5 {
            let (t0, c0) = (Instant::now(), cpu_secs());
            if name == "scores NT" {
                sgemm_batched(
                    Trans::N,
                    Trans::T,
                    t,
                    t,
                    hs,
                    1.0,
                    &q,
                    hs,
                    t * hs,
                    &q,
                    hs,
                    t * hs,
                    0.0,
                    &mut s,
                    t,
                    t * t,
                    batch,
                );
            } else {
                sgemm_batched(
                    Trans::N,
                    Trans::N,
                    t,
                    hs,
                    t,
                    1.0,
                    &s,
                    t,
                    t * t,
                    &q,
                    hs,
                    t * hs,
                    0.0,
                    &mut o,
                    hs,
                    t * hs,
                    batch,
                );
            }
            best = best.min(t0.elapsed().as_secs_f64());
            best_cpu = best_cpu.min(cpu_secs() - c0);
        }
        println!(
            "batched {name} x{batch}: best {:.2} ms, {:.1} GF/s wall, {:.1} GF per CPU-second",
            best * 1e3,
            flops / best / 1e9,
            flops / best_cpu / 1e9
        );
    }
}

#[test]
#[ignore]
fn speed_probe() {
    for _ in 0..1 {
        println!(
            "peak 1 thread: f32 {:.1} GF/s, bf16 {:.1} GF/s; all threads: f32 {:.1}, bf16 {:.1}",
            peak::measure_f32_peak(1),
            peak::measure_bf16_peak(1),
            peak::measure_f32_peak(64),
            peak::measure_bf16_peak(64)
        );
    }
    let shape: Vec<usize> = env_or("GEMM_SHAPE", "2048,3072,768")
        .split(',')
        .map(|s| s.parse().unwrap())
        .collect();
    let (m, n, k) = (shape[0], shape[1], shape[2]);
    let tr = env_or("GEMM_TRANS", "NT");
    let t = |c: char| if c == 'N' { Trans::N } else { Trans::T };
    let (ta, tb) = (t(tr.chars().next().unwrap()), t(tr.chars().nth(1).unwrap()));
    let reps: usize = env_or("GEMM_REPS", "5").parse().unwrap();
    let lda = if ta == Trans::N { k } else { m };
    let ldb = if tb == Trans::N { n } else { k };
    let a: Vec<f32> = (0..m * k).map(|i| (i % 7) as f32 * 0.1).collect();
    let b: Vec<f32> = (0..k * n).map(|i| (i % 5) as f32 * 0.1).collect();
    let b16: Vec<bf16> = b.iter().map(|&x| bf16::from_f32(x)).collect();
    let mut c = vec![0.0f32; m * n];
    let flops = 2.0 * (m * n * k) as f64;
    for (name, bf) in [("f32", false), ("f32_bf16", true)] {
        let mut best = f64::MAX;
        let mut best_cpu = f64::MAX;
        for _ in 0..reps {
            let t0 = Instant::now();
            let c0 = cpu_secs();
            if bf {
                gemm_f32_bf16(ta, tb, m, n, k, 1.0, &a, lda, &b16, ldb, 0.0, &mut c, n);
            } else {
                sgemm(ta, tb, m, n, k, 1.0, &a, lda, &b, ldb, 0.0, &mut c, n);
            }
            best = best.min(t0.elapsed().as_secs_f64());
            best_cpu = best_cpu.min(cpu_secs() - c0);
        }
        println!(
            "{name} {m}x{n}x{k} {tr}: best {:.2} ms, {:.1} GF/s wall, {:.1} GF per CPU-second",
            best * 1e3,
            flops / best / 1e9,
            flops / best_cpu / 1e9
        );
    }
}
