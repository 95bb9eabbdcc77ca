//! `gemm_prepacked` (weights packed once) against the GEMM it replaces, on every kernel this
//! CPU can run: bit for bit equal to `sgemm_with` / `gemm_f32_bf16_with` (`Trans::N`,
//! `Trans::T`) for beta 0 and 1 over randomized shapes, strides and thread counts, and
//! within one rounding of it for other beta. The unpacked GEMMs are themselves checked
//! against the scalar reference in `gemm.rs`. `gemm_prepacked_bias` (C tiles started at
//! residual + bias) against the unpacked layer: C filled with residual + bias, then that GEMM
//! with beta = 1, for one, two and three K blocks.

mod common;

use common::gemm::{
    assert_bitwise, operands, random_pad, random_vec, shapes, unpacked_gemm, Case, SENTINEL,
};
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
    // Several token columns (fixed tasks), and one column of up to 32 tokens (a headline:
    // W's panels claimed in ranges by the workers).
    for (m, n, k) in [(70, 500, 1600), (32, 2304, 768), (20, 771, 300)] {
        across_thread_counts(&mut rng, m, n, k);
    }
}

fn across_thread_counts(rng: &mut StdRng, m: usize, n: usize, k: usize) {
    let x = random_vec(rng, m * k);
    let w = random_vec(rng, n * k);
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
                "{kind:?} {m}x{n}x{k}: {threads} threads differ from 1"
            );
        }
    }
}

/// Every packed kind this CPU runs: each f32 kernel and each bf16 path.
fn all_kinds() -> Vec<PackedKind> {
    let f32s = Kernel::available().into_iter().map(PackedKind::F32);
    let bf16s = Bf16Kernel::available().into_iter().map(PackedKind::Bf16);
    f32s.chain(bf16s).collect()
}

/// `c += residual + bias` (or `+= bias`) over the `m x n` view: from C = -0 it is the
/// layer's starting value `residual + bias` exactly (-0 + v = v for every v), else the
/// separate pass after a beta = 0 GEMM.
fn bias_pass(
    c: &mut [f32],
    m: usize,
    n: usize,
    ldc: usize,
    bias: &[f32],
    res: Option<(&[f32], usize)>,
) {
    for t in 0..m {
        for f in 0..n {
            let o = &mut c[t * ldc + f];
            match res {
                Some((r, ldr)) => *o += r[t * ldr + f] + bias[f],
                None => *o += bias[f],
            }
        }
    }
}

/// `gemm_prepacked_bias` equals the unpacked layer bit for bit: C filled with
/// `residual + bias` (or `bias`), then the unpacked GEMM with beta = 1 (what
/// `model::linear` does above the prepacked row limit). Bias only and bias + residual,
/// padded strides of X, C and the residual, m from 1 to 70 (one token panel to three), K
/// in one, two and three K blocks of the AVX-512 kernels (KC = 1536: 200, 1600, 3072 as
/// BERT-base's FFN down, 3073 odd for the bf16 pairs; the 256-deep AVX2 / portable blocks
/// get up to 13), 1–3 threads (small m with several threads packs X split along K), every
/// kind. C's padding and nothing else is touched. With one K block it is also the GEMM
/// with beta = 0 followed by a separate `c += residual + bias` pass.
#[test]
fn prepacked_bias_equals_the_beta1_layer_bitwise() {
    let mut rng = StdRng::seed_from_u64(14);
    let pools: Vec<rayon::ThreadPool> = (1..=3)
        .map(|t| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(t)
                .build()
                .unwrap()
        })
        .collect();
    let ms = [1, 2, 13, 14, 31, 32, 33, 50, 64, 70];
    let nks = [
        (29, 40),
        (96, 200),
        (45, 1600),
        (300, 1600),
        (17, 3072),
        (20, 3073),
    ];
    for kind in all_kinds() {
        for (ci, &(n, k)) in nks.iter().enumerate() {
            let w = random_vec(&mut rng, n * k);
            let packed = PackedWeight::from_f32(kind, &w, n, k);
            let bias = random_vec(&mut rng, n);
            for (mi, &m) in ms.iter().enumerate() {
                let case = Case {
                    ta: Trans::N,
                    tb: Trans::T,
                    m,
                    n,
                    k,
                    alpha: 1.0,
                    beta: 0.0,
                    lda: k + random_pad(&mut rng),
                    ldb: k,
                    ldc: n + random_pad(&mut rng),
                };
                let ldr = n + random_pad(&mut rng);
                let x = random_vec(&mut rng, case.a_len());
                let res = random_vec(&mut rng, (m - 1) * ldr + n);
                let mut c0 = vec![SENTINEL; case.c_len()];
                for t in 0..m {
                    c0[t * case.ldc..t * case.ldc + n].fill(f32::NAN);
                }
                let threads = 1 + (ci + mi) % 3;
                pools[threads - 1].install(|| {
                    for residual in [None, Some((&res[..], ldr))] {
                        let what = format!(
                            "{kind:?} {case:?} ldr {ldr} residual {} threads {threads}",
                            residual.is_some()
                        );
                        let mut got = c0.clone();
                        gemm_prepacked_bias(
                            m, &x, case.lda, &packed, &bias, residual, &mut got, case.ldc,
                        );
                        // The layer: C = residual + bias (the model's `r + b`), GEMM beta = 1.
                        let mut want = c0.clone();
                        for t in 0..m {
                            want[t * case.ldc..t * case.ldc + n].fill(-0.0);
                        }
                        bias_pass(&mut want, m, n, case.ldc, &bias, residual);
                        let beta1 = Case {
                            beta: 1.0,
                            ..case.clone()
                        };
                        unpacked_gemm(kind, &beta1, &x, &w, &mut want);
                        assert_bitwise(format!("{what} (beta = 1 layer)"), &got, &want);
                        if k <= 200 {
                            // One K block on every kernel: also the beta = 0 GEMM + bias pass.
                            let mut sep = c0.clone();
                            unpacked_gemm(kind, &case, &x, &w, &mut sep);
                            bias_pass(&mut sep, m, n, case.ldc, &bias, residual);
                            assert_bitwise(&what, &got, &sep);
                        }
                    }
                });
            }
        }
    }
}

#[test]
fn prepacked_bias_degenerate_shapes() {
    // k = 0: C = residual + bias, the layer's starting value with nothing added.
    let packed = PackedWeight::from_f32(PackedKind::best_f32(), &[], 3, 0);
    let bias = [1.5, -0.0, 2.0];
    let res = [-0.0, -0.0, 1.0, 9.0, 0.5, 0.25, -1.0, 7.0];
    let mut c = vec![f32::NAN; 7];
    gemm_prepacked_bias(2, &[], 1, &packed, &bias, Some((&res, 5)), &mut c, 4);
    // Row 0 = [-0 + 1.5, -0 + -0 = -0, 1 + 2], padding, row 1.
    let want = [1.5, -0.0, 3.0, f32::NAN, 1.75, -1.0, 9.0];
    for (i, (g, w)) in c.iter().zip(want).enumerate() {
        assert!(
            g.to_bits() == w.to_bits() || (i == 3 && g.is_nan()),
            "{i}: {g} vs {w}"
        );
    }
    // m = 0: nothing touched.
    let packed = PackedWeight::from_f32(PackedKind::best_f32(), &[1.0; 6], 3, 2);
    let mut c = vec![5.0f32; 3];
    gemm_prepacked_bias(0, &[], 2, &packed, &bias, None, &mut c, 3);
    assert_eq!(c, vec![5.0; 3]);
}

#[test]
#[should_panic(expected = "bias has 2 elements")]
fn prepacked_bias_wrong_bias_length_panics_clearly() {
    let packed = PackedWeight::from_f32(PackedKind::best_f32(), &[1.0; 12], 3, 4);
    let mut c = vec![0.0f32; 6];
    gemm_prepacked_bias(2, &[1.0; 8], 4, &packed, &[1.0; 2], None, &mut c, 3);
}

#[test]
#[should_panic(expected = "residual has")]
fn prepacked_bias_short_residual_panics_clearly() {
    let packed = PackedWeight::from_f32(PackedKind::best_f32(), &[1.0; 12], 3, 4);
    let mut c = vec![0.0f32; 6];
    let res = [0.0f32; 5];
    gemm_prepacked_bias(
        2,
        &[1.0; 8],
        4,
        &packed,
        &[1.0; 3],
        Some((&res, 3)),
        &mut c,
        3,
    );
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
