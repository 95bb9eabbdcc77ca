//! criterion benches of the non-GEMM steps of a BERT-base layer at the batched shape
//! (32 sequences x 64 tokens): fused attention (scores, softmax, `P V`), the exact GELU
//! on the `[2048, 3072]` intermediate, and LayerNorm on `[2048, 768]`.
//!
//! Together they are ≈ 10 % of a 32 x 64 forward pass (the GEMMs are the rest); these
//! benches time them alone, where a 5 % change is visible above the noise of the whole
//! forward. Throughput is in elements (attention: query-key pairs per head).

use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use tokken_benches::random_f32;
use tokken_kernels::cpu::{attention, gelu, layernorm};

const B: usize = 32;
const T: usize = 64;
const C: usize = 768;
const NH: usize = 12;
const I: usize = 3072;

fn bench_layer_ops(c: &mut Criterion) {
    let mut group = c.benchmark_group("layer_ops_32x64");
    group
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));

    let qkv = random_f32(B * T * 3 * C, 1);
    let mask = vec![1u8; B * T];
    let (mut out, mut lse) = (vec![0.0f32; B * T * C], vec![0.0f32; B * NH * T]);
    group.throughput(Throughput::Elements((B * NH * T * T) as u64));
    group.bench_function("attention_forward", |bench| {
        bench.iter(|| {
            attention::attention_forward(&mut out, &mut lse, &qkv, &mask, B, T, C, NH, None)
        })
    });

    let pre = random_f32(B * T * I, 2);
    let mut act = vec![0.0f32; B * T * I];
    group.throughput(Throughput::Elements((B * T * I) as u64));
    group.bench_function("gelu_forward", |bench| {
        bench.iter(|| gelu::gelu_forward(&mut act, &pre))
    });

    let inp = random_f32(B * T * C, 3);
    let (gamma, beta) = (vec![1.0f32; C], vec![0.0f32; C]);
    let (mut y, mut mean, mut rstd) = (
        vec![0.0f32; B * T * C],
        vec![0.0f32; B * T],
        vec![0.0f32; B * T],
    );
    group.throughput(Throughput::Elements((B * T * C) as u64));
    group.bench_function("layernorm_forward", |bench| {
        bench.iter(|| {
            layernorm::layernorm_forward(
                &mut y,
                &mut mean,
                &mut rstd,
                &inp,
                &gamma,
                &beta,
                B * T,
                C,
                1e-12,
            )
        })
    });
    group.finish();
}

criterion_group!(benches, bench_layer_ops);
criterion_main!(benches);
