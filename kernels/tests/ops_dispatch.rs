//! Every runtime-dispatched copy (portable, AVX2+FMA, AVX-512F — those this CPU has) of
//! the element-wise and row-wise kernels gives bit-identical results, for any thread count.

mod common;

use common::{randn, rng};
use tokken_kernels::cpu::vectorize::{detected_isa, limit_isa, Isa};
use tokken_kernels::cpu::*;

/// Runs every kernel once and returns all outputs, concatenated.
fn run_all() -> Vec<f32> {
    let mut r = rng(70);
    let (n, c) = (37, 101);
    let x = randn(&mut r, n * c, 6.0);
    let dy = randn(&mut r, n * c, 1.0);
    let g = randn(&mut r, c, 1.0);
    let mut all = Vec::new();
    let mut buf = vec![0.0f32; n * c];
    let mut buf2 = vec![0.0f32; n * c];

    gelu::gelu_forward(&mut buf, &x);
    all.extend_from_slice(&buf);
    gelu::gelu_backward(&mut buf, &x, &dy);
    all.extend_from_slice(&buf);
    gelu::gelu_tanh_forward(&mut buf, &x);
    all.extend_from_slice(&buf);
    gelu::gelu_tanh_backward(&mut buf, &x, &dy);
    all.extend_from_slice(&buf);
    tanh::tanh_forward(&mut buf, &x);
    all.extend_from_slice(&buf);
    tanh::tanh_backward(&mut buf2, &buf, &dy);
    all.extend_from_slice(&buf2);

    let (mut mean, mut rstd) = (vec![0.0; n], vec![0.0; n]);
    layernorm::layernorm_forward(&mut buf, &mut mean, &mut rstd, &x, &g, &g, n, c, 1e-5);
    all.extend_from_slice(&buf);
    let (mut dg, mut db) = (vec![0.0; c], vec![0.0; c]);
    layernorm::layernorm_backward(&mut buf, &mut dg, &mut db, &dy, &x, &mean, &rstd, &g, n, c);
    all.extend(buf.iter().chain(&dg).chain(&db));

    softmax::softmax_forward(&mut buf, &x, n, c);
    all.extend_from_slice(&buf);
    let mut y = x.clone();
    bias::bias_forward(&mut y, &g, n, c);
    all.extend_from_slice(&y);
    let mut dbias = vec![0.0; c];
    bias::bias_backward(&mut dbias, &dy, n, c);
    all.extend_from_slice(&dbias);
    residual::residual_forward(&mut buf, &x, &dy);
    all.extend_from_slice(&buf);
    dropout::dropout_forward(&mut buf, &x, 0.3, 5);
    all.extend_from_slice(&buf);

    let (mut p, mut m, mut v) = (x.clone(), vec![0.0; n * c], vec![0.0; n * c]);
    for step in 1..=3 {
        adamw::adamw_step(
            &mut p,
            &dy,
            &mut m,
            &mut v,
            step,
            &adamw::AdamWParams::default(),
        );
    }
    all.extend(p.iter().chain(&m).chain(&v));

    // Attention: its softmax passes are multiversioned (the GEMMs dispatch on their own).
    let (b, t, cc, nh) = (2, 19, 24, 3);
    let qkv = randn(&mut r, b * t * 3 * cc, 1.0);
    let mut mask = vec![1u8; b * t];
    mask[t + 11..].fill(0);
    let (mut out, mut lse) = (vec![0.0; b * t * cc], vec![0.0; b * nh * t]);
    attention::attention_forward(&mut out, &mut lse, &qkv, &mask, b, t, cc, nh, None);
    let dout = randn(&mut r, b * t * cc, 1.0);
    let mut dqkv = vec![0.0; qkv.len()];
    attention::attention_backward(&mut dqkv, &dout, &qkv, &out, &lse, &mask, b, t, cc, nh);
    all.extend(out.iter().chain(&lse).chain(&dqkv));
    all
}

#[test]
fn all_dispatched_copies_are_bit_identical() {
    limit_isa(Isa::Portable);
    let reference = run_all();
    for isa in [Isa::Avx2, Isa::Avx512] {
        if isa > detected_isa() {
            println!("skipping {isa:?}: not supported by this CPU");
            continue;
        }
        limit_isa(isa);
        let got = run_all();
        let first = got
            .iter()
            .zip(&reference)
            .position(|(a, b)| a.to_bits() != b.to_bits());
        assert!(
            first.is_none(),
            "{isa:?} differs from portable at output element {first:?}"
        );
    }
    limit_isa(Isa::Avx512);
}

#[test]
fn results_do_not_depend_on_the_thread_count() {
    // Reductions (dgamma, dbias, losses, norms) use fixed blocks summed in a fixed order.
    let pool = |n| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build()
            .unwrap()
    };
    let one = pool(1).install(run_all);
    let three = pool(3).install(run_all);
    assert!(one
        .iter()
        .zip(&three)
        .all(|(a, b)| a.to_bits() == b.to_bits()));
}
