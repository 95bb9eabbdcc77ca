//! `gemm_prepacked` (weights packed once) against the GEMM it replaces, on every kernel this
//! CPU can run: bit for bit equal to `sgemm_with` / `gemm_f32_bf16_with` (`Trans::N`,
//! `Trans::T`) for beta 0 and 1 over randomized shapes, strides and thread counts, and
//! within one rounding of it for other beta. The unpacked GEMMs are themselves checked
//! against the scalar reference in `gemm.rs`.

mod common;

use common::gemm::{assert_bitwise, operands, random_pad, random_vec, shapes, unpacked_gemm, Case};
use half::bf16;
use rand::rngs::StdRng;
use rand::SeedableRng;
use tokken_kernels::cpu::gemm::*;

/// Model-like and tile-boundary shapes first (one headline, tile edges, K blocks), then
/// `count` random ones: `C[m, n] = alpha X[m, k] · W[n, k]ᵀ + beta C` (A = X, B = W) with
/// padded row strides of X and C, beta 0 or 1.
fn cases(seed: u64, count: usize) -> Vec<Case> {
    let mut rng = StdRng::seed_from_u64(seed);
    let fixed = [
        (32, 96, 64),
        (32, 2304, 768),
        (1, 5, 3),
        (14, 32, 1),
        (15, 33, 2),
        (33, 13, 1537),
        (31, 29, 3073),
        (64, 42, 7),
    ];
    shapes(&mut rng, &fixed, count)
        .into_iter()
        .enumerate()
        .map(|(i, (m, n, k))| Case {
            ta: Trans::N,
            tb: Trans::T,
            m,
            n,
            k,
            alpha: [1.0, -0.5, 1.75][i % 3],
            beta: [0.0, 1.0][(i / 3) % 2],
            lda: k + random_pad(&mut rng),
            ldb: k,
            ldc: n + random_pad(&mut rng),
        })
        .collect()
}

/// `C = alpha·X·Wᵀ + beta·C0` through the ordinary (packing) GEMM `kind` stands for.
fn unpacked(kind: PackedKind, case: &Case, x: &[f32], w: &[f32], c0: &[f32]) -> Vec<f32> {
    let mut c = c0.to_vec();
    unpacked_gemm(kind, case, x, w, &mut c);
    c
}

/// The same product from prepacked weights.
fn prepacked(case: &Case, x: &[f32], packed: &PackedWeight, c0: &[f32]) -> Vec<f32> {
    let mut c = c0.to_vec();
    gemm_prepacked(
        case.m, case.alpha, x, case.lda, packed, case.beta, &mut c, case.ldc,
    );
    c
}

#[test]
fn prepacked_f32_equals_sgemm_bitwise_on_every_kernel() {
    let mut rng = StdRng::seed_from_u64(7);
    for kernel in Kernel::available() {
        for case in cases(11, 40) {
            let (x, w, c0) = operands(&mut rng, &case);
            let kind = PackedKind::F32(kernel);
            let want = unpacked(kind, &case, &x, &w, &c0);
            let packed = PackedWeight::from_f32(kind, &w, case.n, case.k);
            let got = prepacked(&case, &x, &packed, &c0);
            assert_bitwise(format!("{} {case:?}", kernel.name()), &got, &want);
        }
    }
}

#[test]
fn prepacked_bf16_equals_gemm_f32_bf16_bitwise_on_every_path() {
    let mut rng = StdRng::seed_from_u64(8);
    for kernel in Bf16Kernel::available() {
        for case in cases(12, 40) {
            let (x, w, c0) = operands(&mut rng, &case);
            let wb: Vec<bf16> = w.iter().map(|&v| bf16::from_f32(v)).collect();
            let want = unpacked(PackedKind::Bf16(kernel), &case, &x, &w, &c0);
            // Packed from the bf16 weights, and from f32 (rounded while packing): the same.
            for packed in [
                PackedWeight::from_bf16(PackedKind::Bf16(kernel), &wb, case.n, case.k),
                PackedWeight::from_f32(PackedKind::Bf16(kernel), &w, case.n, case.k),
            ] {
                let got = prepacked(&case, &x, &packed, &c0);
                assert_bitwise(format!("{} {case:?}", kernel.name()), &got, &want);
            }
        }
    }
}

/// Beta other than 0 and 1: a kernel may round `beta * C` separately on partial tiles,
/// so the two orientations agree within a few ulps of the result.
#[test]
fn prepacked_general_beta_within_rounding() {
    let mut rng = StdRng::seed_from_u64(9);
    for kernel in Kernel::available() {
        for mut case in cases(13, 10) {
            case.beta = -0.3;
            let (x, w, c0) = operands(&mut rng, &case);
            let kind = PackedKind::F32(kernel);
            let want = unpacked(kind, &case, &x, &w, &c0);
            let packed = PackedWeight::from_f32(kind, &w, case.n, case.k);
            let got = prepacked(&case, &x, &packed, &c0);
            for (g, w) in got.iter().zip(&want) {
                let tol = 4.0 * f32::EPSILON * (1.0 + w.abs());
                assert!(
                    (g - w).abs() <= tol,
                    "{} {case:?}: {g} vs {w}",
                    kernel.name()
                );
            }
        }
    }
}

#[test]
fn prepacked_is_bitwise_identical_across_thread_counts() {
    let mut rng = StdRng::seed_from_u64(10);
    let (m, n, k) = (70, 500, 1600);
    let x = random_vec(&mut rng, m * k);
    let w = random_vec(&mut rng, n * k);
    for kind in [PackedKind::best_f32(), PackedKind::best_bf16()] {
        let packed = PackedWeight::from_f32(kind, &w, n, k);
        let run = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            let mut c = vec![0.0f32; m * n];
            pool.install(|| gemm_prepacked(m, 1.0, &x, k, &packed, 0.0, &mut c, n));
            c
        };
        let one = run(1);
        for threads in [2, 3] {
            assert!(
                one.iter()
                    .zip(run(threads))
                    .all(|(a, b)| a.to_bits() == b.to_bits()),
                "{kind:?}: {threads} threads differ from 1"
            );
        }
    }
}

#[test]
fn prepacked_degenerate_shapes() {
    // k = 0: C = beta C; m = 0: nothing touched.
    let packed = PackedWeight::from_f32(PackedKind::best_f32(), &[], 3, 0);
    let mut c = vec![2.0f32; 6];
    gemm_prepacked(2, 1.0, &[], 1, &packed, 0.0, &mut c, 3);
    assert_eq!(c, vec![0.0; 6]);
    let packed = PackedWeight::from_f32(PackedKind::best_f32(), &[1.0; 6], 3, 2);
    let mut c = vec![5.0f32; 3];
    gemm_prepacked(0, 1.0, &[], 2, &packed, 1.0, &mut c, 3);
    assert_eq!(c, vec![5.0; 3]);
}

#[test]
#[should_panic(expected = "x has")]
fn prepacked_short_x_panics_clearly() {
    let packed = PackedWeight::from_f32(PackedKind::best_f32(), &[1.0; 12], 3, 4);
    let mut c = vec![0.0f32; 6];
    gemm_prepacked(2, 1.0, &[1.0; 7], 4, &packed, 0.0, &mut c, 3);
}
