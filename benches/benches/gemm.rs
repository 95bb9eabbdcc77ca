//! criterion GEMM benches on BERT-base linear-layer shapes (M = 2048 tokens), f32 and bf16,
//! forward / dX / dW. Throughput is reported in elements = flops, so criterion's
//! "Gelem/s" reads as GFLOP/s; the machine peak measured at start-up is printed first, and
//! each result's fraction of it is printed after the run.
//!
//! Default: the FFN-up layer (768 -> 3072) only, to keep `cargo bench` short;
//! `TOKKEN_BENCH_ALL=1` runs all four linear shapes.

use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use tokken_benches::{
    measure_and_print_peaks, random_f32, to_bf16, LinearGemm, BERT_BASE_LINEARS, TOKENS,
};
use tokken_kernels::cpu::gemm;

fn bench_gemm(c: &mut Criterion) {
    let peaks = measure_and_print_peaks();
    println!(
        "kernels: f32 {}, bf16 {}",
        gemm::selected_kernel(),
        gemm::selected_bf16_kernel()
    );
    let all = std::env::var_os("TOKKEN_BENCH_ALL").is_some();
    let shapes: Vec<(usize, usize)> = if all {
        BERT_BASE_LINEARS.to_vec()
    } else {
        vec![(768, 3072)]
    };
    let mut summary = Vec::new();
    for (k_in, n_out) in shapes {
        let mut group = c.benchmark_group(format!("gemm_{k_in}x{n_out}"));
        group
            .sample_size(10)
            .warm_up_time(Duration::from_millis(500))
            .measurement_time(Duration::from_secs(2));
        for g in LinearGemm::passes(TOKENS, k_in, n_out) {
            let (la, lb, lc) = g.lens();
            let (a, b) = (random_f32(la, 1), random_f32(lb, 2));
            let (a16, b16) = (to_bf16(&a), to_bf16(&b));
            let mut out = vec![0.0f32; lc];
            group.throughput(Throughput::Elements(g.flops()));
            for dtype in ["f32", "bf16"] {
                let mut run = || match (dtype, g.pass) {
                    ("f32", _) => gemm::sgemm(
                        g.ta, g.tb, g.m, g.n, g.k, 1.0, &a, g.lda, &b, g.ldb, g.beta, &mut out, g.n,
                    ),
                    (_, "dW") => gemm::gemm_bf16(
                        g.ta, g.tb, g.m, g.n, g.k, 1.0, &a16, g.lda, &b16, g.ldb, g.beta, &mut out,
                        g.n,
                    ),
                    _ => gemm::gemm_f32_bf16(
                        g.ta, g.tb, g.m, g.n, g.k, 1.0, &a, g.lda, &b16, g.ldb, g.beta, &mut out,
                        g.n,
                    ),
                };
                group.bench_function(format!("{}/{dtype}", g.pass), |bench| bench.iter(&mut run));
                // Our own best-of-5 for the fraction-of-peak summary line.
                let best = (0..5)
                    .map(|_| {
                        let t = Instant::now();
                        run();
                        t.elapsed().as_secs_f64()
                    })
                    .fold(f64::MAX, f64::min);
                let gflops = g.flops() as f64 / best / 1e9;
                let peak = if dtype == "f32" {
                    peaks.f32_gflops
                } else {
                    peaks.bf16_gflops
                };
                summary.push(format!(
                    "{k_in}x{n_out} {} {dtype}: {gflops:.1} GFLOP/s = {:.1}% of peak",
                    g.pass,
                    100.0 * gflops / peak
                ));
            }
        }
        group.finish();
    }
    println!(
        "fraction of peak (peak measured at start, {} threads):",
        peaks.threads
    );
    for line in summary {
        println!("  {line}");
    }
}

criterion_group!(benches, bench_gemm);
criterion_main!(benches);
