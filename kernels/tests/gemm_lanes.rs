//! `gemm_prepacked_lanes` (activations in token lanes, `[features][32]`) against
//! `gemm_prepacked_bias` (row-major) on the same packed weight, which it must equal bit for
//! bit: with and without a residual, with GELU applied to the finished rows (against
//! `gelu_forward` on the row-major result), a partial last W panel, one and two K blocks, every
//! token count up to 32 (lanes past the tokens hold NaN and must not leak), 1, 2 and 3
//! threads. Skips where the CPU lacks AVX-512.

mod common;

use common::{assert_lanes_eq, randn};
use rand::rngs::StdRng;
use rand::SeedableRng;
use tokken_kernels::cpu::gelu::{gelu_forward, gelu_in_place};
use tokken_kernels::cpu::gemm::{
    gemm_prepacked_bias, gemm_prepacked_lanes, gemm_prepacked_lanes_from, lanes_supported,
    Bf16Kernel, Kernel, PackedKind, PackedWeight, RowsOp, LANE_PANEL_ROWS, LANE_TOKENS,
};

const L: usize = LANE_TOKENS;

/// `len` f32s at a 64-byte boundary of `buf` (the lanes GEMM loads X with aligned loads).
fn aligned(buf: &mut Vec<f32>, len: usize) -> &mut [f32] {
    *buf = vec![0.0; len + 16];
    let skip = buf.as_ptr().align_offset(64);
    &mut buf[skip..skip + len]
}

/// The kinds the lanes GEMM takes: f32 weights, and bf16 weights widened to f32 (X then
/// rounded to bf16, as the row-major GEMM packs it).
fn lane_kinds() -> [PackedKind; 2] {
    [
        PackedKind::F32(Kernel::Avx512),
        PackedKind::Bf16(Bf16Kernel::F32(Kernel::Avx512)),
    ]
}

fn check(rng: &mut StdRng, kind: PackedKind, m: usize, n: usize, k: usize, with_residual: bool) {
    // Packing for a kernel the CPU lacks panics: ask first.
    if !Kernel::Avx512.is_available() {
        eprintln!("skipping: this CPU has no AVX-512 f32 kernel");
        return;
    }
    let w = randn(rng, n * k, 1.0);
    let packed = PackedWeight::from_f32(kind, &w, n, k);
    assert!(
        lanes_supported(&packed),
        "AVX-512 packing must take token lanes"
    );
    let x = randn(rng, m * k, 1.0);
    let bias = randn(rng, n, 1.0);
    let residual = randn(rng, m * n, 1.0);

    let mut want = vec![f32::NAN; m * n];
    let res = with_residual.then_some((&residual[..], n));
    gemm_prepacked_bias(m, &x, k, &packed, &bias, res, &mut want, n);

    // Token lanes; lanes m..32 are NaN in X and in the residual.
    let mut xt_buf = Vec::new();
    let x_t = aligned(&mut xt_buf, k * L);
    x_t.fill(f32::NAN);
    let mut residual_t = vec![f32::NAN; n * L];
    for t in 0..m {
        for f in 0..k {
            x_t[f * L + t] = x[t * k + f];
        }
        for f in 0..n {
            residual_t[f * L + t] = residual[t * n + f];
        }
    }
    let mut out_t = vec![f32::NAN; n * L];
    let res_t = with_residual.then_some(&residual_t[..]);
    gemm_prepacked_lanes(x_t, &packed, &bias, res_t, &mut out_t, None);

    assert_lanes_eq(
        &out_t,
        &want,
        m,
        n,
        &format!("{kind:?} m {m} n {n} k {k} residual {with_residual}"),
    );

    // Only the features from a panel start on: those rows as above, the rows before it
    // untouched.
    let from = n / 2 / LANE_PANEL_ROWS * LANE_PANEL_ROWS;
    let sentinel = -7.5f32;
    let mut part_t = vec![sentinel; n * L];
    gemm_prepacked_lanes_from(x_t, &packed, &bias, res_t, &mut part_t, None, from);
    assert!(
        part_t[..from * L]
            .iter()
            .all(|v| v.to_bits() == sentinel.to_bits()),
        "m {m} n {n} k {k}: a row before feature {from} was written"
    );
    let want_from: Vec<f32> = want
        .chunks_exact(n)
        .flat_map(|row| row[from..].to_vec())
        .collect();
    assert_lanes_eq(
        &part_t[from * L..],
        &want_from,
        m,
        n - from,
        &format!("m {m} n {n} k {k} residual {with_residual}, features from {from}"),
    );

    // With an activation applied to the finished rows, as the FFN's intermediate runs.
    let mut act = vec![0.0; m * n];
    gelu_forward(&mut act, &want);
    let gelu: RowsOp<'_> = &gelu_in_place;
    gemm_prepacked_lanes(x_t, &packed, &bias, res_t, &mut out_t, Some(gelu));
    assert_lanes_eq(
        &out_t,
        &act,
        m,
        n,
        &format!("m {m} n {n} k {k} residual {with_residual}, then GELU"),
    );
}

#[test]
fn lanes_equal_the_row_major_prepacked_layer_bitwise() {
    let mut rng = StdRng::seed_from_u64(7);
    for threads in [1, 2, 3] {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .expect("thread pool");
        pool.install(|| {
            // 50 features: three whole 14-row panels and a partial one; K 1600 is two
            // K blocks; 768 x 768 and 61 x 1200 are big enough to split over the threads,
            // whose last claimed ranges are 7-row half panels.
            for (n, k) in [
                (50, 40),
                (50, 1600),
                (768, 768),
                (61, 1200),
                (57, 1600),
                (14, 1),
            ] {
                for m in [32, 31, 17, 1] {
                    for with_residual in [false, true] {
                        for kind in lane_kinds() {
                            check(&mut rng, kind, m, n, k, with_residual);
                        }
                    }
                }
            }
        });
    }
}
