//! The token-lanes ops (`[features][32]` activations) against their row-major twins, bit
//! for bit: `layernorm_forward_lanes` vs `layernorm_forward` (C a multiple of 16, with a
//! remainder, below 16), `attention_forward_lanes` vs `attention_forward` (one and several
//! sequences, padded keys, a sequence with no real token, fewer tokens than lanes; lanes
//! past the tokens must come out zero). Attention skips where the CPU lacks AVX-512F.

mod common;

use common::{assert_lanes_eq, randn};
use rand::rngs::StdRng;
use rand::SeedableRng;
use tokken_kernels::cpu::attention::attention_forward;
use tokken_kernels::cpu::attention_lanes::attention_forward_lanes;
use tokken_kernels::cpu::gemm::LANE_TOKENS;
use tokken_kernels::cpu::layernorm::layernorm_forward;
use tokken_kernels::cpu::layernorm_lanes::layernorm_forward_lanes;

const L: usize = LANE_TOKENS;

/// `[m][c]` rows as `[c][32]` lanes (lanes past `m` zero).
fn to_lanes(rows: &[f32], m: usize, c: usize) -> Vec<f32> {
    let mut t = vec![0.0; c * L];
    for i in 0..m {
        for f in 0..c {
            t[f * L + i] = rows[i * c + f];
        }
    }
    t
}

#[test]
fn layernorm_lanes_equal_rows_bitwise() {
    let mut rng = StdRng::seed_from_u64(3);
    for c in [768, 50, 7] {
        for m in [32, 5] {
            // An offset mean makes the two-pass variance matter.
            let x: Vec<f32> = randn(&mut rng, m * c, 2.0)
                .iter()
                .map(|v| v + 3.0)
                .collect();
            let gamma = randn(&mut rng, c, 1.5);
            let beta = randn(&mut rng, c, 0.5);
            let (mut want, mut mean, mut rstd) = (vec![0.0; m * c], vec![0.0; m], vec![0.0; m]);
            layernorm_forward(
                &mut want, &mut mean, &mut rstd, &x, &gamma, &beta, m, c, 1e-12,
            );
            let x_t = to_lanes(&x, m, c);
            let mut out_t = vec![f32::NAN; c * L];
            layernorm_forward_lanes(&mut out_t, &x_t, &gamma, &beta, c, 1e-12);
            assert_lanes_eq(&out_t, &want, m, c, &format!("layernorm c {c} m {m}"));
        }
    }
}

#[test]
fn attention_lanes_equal_rows_bitwise() {
    if !is_x86_feature_detected!("avx512f") {
        eprintln!("skipping: this CPU lacks AVX-512F");
        return;
    }
    let mut rng = StdRng::seed_from_u64(11);
    let (c, nh) = (96, 3);
    // (B, T, padded keys per sequence); the last case has a sequence with no real token.
    for (b, t, pad) in [
        (1, 32, vec![0]),
        (1, 7, vec![2]),
        (2, 16, vec![0, 5]),
        (3, 9, vec![1, 0, 9]),
        (1, 31, vec![3]),
        (2, 13, vec![0, 4]),
    ] {
        let m = b * t;
        let qkv = randn(&mut rng, m * 3 * c, 2.0);
        let mask: Vec<u8> = (0..m).map(|i| u8::from(i % t < t - pad[i / t])).collect();
        let mut want = vec![0.0; m * c];
        let mut lse = vec![0.0; b * nh * t];
        attention_forward(&mut want, &mut lse, &qkv, &mask, b, t, c, nh, None);
        let qkv_t = to_lanes(&qkv, m, 3 * c);
        let mut out_t = vec![f32::NAN; c * L];
        attention_forward_lanes(&mut out_t, &qkv_t, &mask, b, t, c, nh);
        assert_lanes_eq(&out_t, &want, m, c, &format!("attention b {b} t {t}"));
        for f in 0..c {
            for i in m..L {
                assert_eq!(
                    out_t[f * L + i].to_bits(),
                    0,
                    "b {b} t {t}: lane {i} past the tokens not zero"
                );
            }
        }
    }
}
