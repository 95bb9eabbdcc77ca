//! `gemm_packed_b_bias` (C starts at a bias, broadcast over rows) against what it replaces:
//! every row of C set to the bias, then `gemm_packed_b` with beta = 1. Bit for bit, on every
//! packed kind this CPU has (f32 and bf16 kernels), A as stored and transposed, tile edges
//! (partial row and column tiles), K over one and two K blocks, m = 1, padded strides, and
//! 1 and 2 threads. `gemm_packed_b` itself is checked against the unpacked GEMMs in
//! `gemm_packed_b.rs`.

mod common;

use common::gemm::{assert_bitwise, random_vec, stored, SENTINEL};
use rand::rngs::StdRng;
use rand::SeedableRng;
use tokken_kernels::cpu::gemm::*;

/// Every packed kind this CPU can run.
fn kinds() -> Vec<PackedKind> {
    let f32s = Kernel::available().into_iter().map(PackedKind::F32);
    let bf16s = Bf16Kernel::available().into_iter().map(PackedKind::Bf16);
    f32s.chain(bf16s).collect()
}

/// C with NaN in the `m x n` view (the bias variant must ignore it) and [`SENTINEL`] in the
/// padding between rows (left untouched).
fn initial_c(m: usize, n: usize, ldc: usize) -> Vec<f32> {
    let mut c = vec![SENTINEL; (m - 1) * ldc + n];
    for i in 0..m {
        c[i * ldc..i * ldc + n].fill(f32::NAN);
    }
    c
}

/// The old dense forward: rows of C set to the bias, then beta = 1.
#[allow(clippy::too_many_arguments)]
fn copy_then_gemm(
    ta: Trans,
    m: usize,
    alpha: f32,
    a: &[f32],
    lda: usize,
    b: &PackedB,
    bias: &[f32],
    c: &mut [f32],
    ldc: usize,
) {
    let n = b.n();
    for i in 0..m {
        c[i * ldc..i * ldc + n].copy_from_slice(bias);
    }
    gemm_packed_b(ta, m, alpha, a, lda, b, 1.0, c, ldc);
}

#[test]
fn bias_start_equals_copy_then_beta_one_bitwise() {
    let mut rng = StdRng::seed_from_u64(31);
    // (m, n, k): training-like, tile edges (14 x 32 AVX-512, 6 x 16 AVX2, 4 x 16 portable),
    // m = 1, odd K for bf16 pairs, and K over two K blocks (KC = 1536).
    let shapes = [
        (64, 96, 64),
        (1, 5, 3),
        (1, 77, 3077),
        (15, 33, 2),
        (29, 70, 7),
        (33, 13, 3077),
        (100, 40, 1537),
        (300, 200, 100),
    ];
    let pools: Vec<_> = [1, 2]
        .into_iter()
        .map(|t| {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(t);
            (t, pool.build().unwrap())
        })
        .collect();
    for kind in kinds() {
        for (i, &(m, n, k)) in shapes.iter().enumerate() {
            for ta in [Trans::N, Trans::T] {
                let tb = [Trans::T, Trans::N][i % 2];
                let alpha = [1.0, -0.5, 1.75][i % 3];
                let pad = i % 3;
                let (lda, ldb, ldc) = (stored(ta, m, k).1 + pad, stored(tb, k, n).1 + 1, n + pad);
                let a = random_vec(
                    &mut rng,
                    (stored(ta, m, k).0 - 1) * lda + stored(ta, m, k).1,
                );
                let b = random_vec(
                    &mut rng,
                    (stored(tb, k, n).0 - 1) * ldb + stored(tb, k, n).1,
                );
                let bias = random_vec(&mut rng, n);
                let pb = PackedB::from_f32(kind, tb, &b, ldb, k, n);
                for (threads, pool) in &pools {
                    let (got, want) = pool.install(|| {
                        let mut got = initial_c(m, n, ldc);
                        gemm_packed_b_bias(ta, m, alpha, &a, lda, &pb, &bias, &mut got, ldc);
                        let mut want = initial_c(m, n, ldc);
                        copy_then_gemm(ta, m, alpha, &a, lda, &pb, &bias, &mut want, ldc);
                        (got, want)
                    });
                    let what = format!("{kind:?} {ta:?}{tb:?} m {m} n {n} k {k} threads {threads}");
                    assert!(got.iter().all(|v| !v.is_nan()), "{what}: NaN left in C");
                    assert_bitwise(what, &got, &want);
                }
            }
        }
    }
}

/// Training-scale forwards `X · Wᵀ + b` on the default kinds, 1 and 2 threads: 512 rows
/// (tasks split over columns and rows), and more rows than one row block (MC = 3072) with
/// K over two K blocks, so tiles of a later row block start at the bias too.
#[test]
fn bias_start_training_forward_bitwise_across_threads() {
    let mut rng = StdRng::seed_from_u64(32);
    for (m, n, k) in [(512, 300, 768), (3080, 40, 1600)] {
        forward_case(&mut rng, m, n, k);
    }
}

fn forward_case(rng: &mut StdRng, m: usize, n: usize, k: usize) {
    let x = random_vec(rng, m * k);
    let w = random_vec(rng, n * k);
    let bias = random_vec(rng, n);
    for kind in [PackedKind::best_f32(), PackedKind::best_bf16()] {
        let pb = PackedB::from_f32(kind, Trans::T, &w, k, k, n);
        let mut want = vec![0.0f32; m * n];
        copy_then_gemm(Trans::N, m, 1.0, &x, k, &pb, &bias, &mut want, n);
        for threads in [1, 2] {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            let got = pool.install(|| {
                let mut y = vec![f32::NAN; m * n];
                gemm_packed_b_bias(Trans::N, m, 1.0, &x, k, &pb, &bias, &mut y, n);
                y
            });
            assert_bitwise(format!("{kind:?} m {m} threads {threads}"), &got, &want);
        }
    }
}

#[test]
fn bias_start_degenerate_shapes() {
    // k = 0 or alpha = 0: C = bias; m = 0: nothing touched.
    let bias = [1.5f32, -2.0, 0.25];
    let pb = PackedB::from_f32(PackedKind::best_f32(), Trans::N, &[], 3, 0, 3);
    let mut c = vec![f32::NAN; 7];
    c[3] = SENTINEL;
    gemm_packed_b_bias(Trans::N, 2, 1.0, &[], 1, &pb, &bias, &mut c, 4);
    assert_eq!(c, vec![1.5, -2.0, 0.25, SENTINEL, 1.5, -2.0, 0.25]);
    let pb = PackedB::from_f32(PackedKind::best_f32(), Trans::T, &[1.0; 6], 2, 2, 3);
    let mut c = vec![f32::NAN; 6];
    gemm_packed_b_bias(Trans::N, 2, 0.0, &[1.0; 4], 2, &pb, &bias, &mut c, 3);
    assert_eq!(c, [bias, bias].concat());
    let mut c = vec![5.0f32; 3];
    gemm_packed_b_bias(Trans::N, 0, 1.0, &[], 2, &pb, &bias, &mut c, 3);
    assert_eq!(c, vec![5.0; 3]);
}

#[test]
#[should_panic(expected = "bias has 2 elements")]
fn bias_of_wrong_length_panics_clearly() {
    let pb = PackedB::from_f32(PackedKind::best_f32(), Trans::T, &[1.0; 12], 4, 4, 3);
    let mut c = vec![0.0f32; 6];
    gemm_packed_b_bias(Trans::N, 2, 1.0, &[1.0; 8], 4, &pb, &[0.0; 2], &mut c, 3);
}
