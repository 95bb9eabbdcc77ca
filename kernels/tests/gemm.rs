//! Every GEMM entry point and every micro-kernel this CPU can run, against the scalar f64
//! reference over randomized shapes, transposes, alpha/beta and strided sub-matrix views.
//!
//! Tolerance (f32 accumulation): `|c - ref| <= (k + 2) * 2^-23 * (|alpha| sum_p |a_ip b_pj|
//! + |beta c0_ij|)`, the textbook bound for a length-k dot product in f32 plus the update.
//! bf16 paths: products of bf16 values are exact in f32, so `gemm_bf16` gets the same bound
//! against the reference on the widened inputs; `gemm_f32_bf16` rounds A to bf16 (round to
//! nearest even), so it must match the reference on the rounded A within the f32 bound, and
//! the unrounded A within that plus `2^-8 * |alpha| sum_p |a_ip b_pj|` (one bf16 rounding).
//! Padding of C outside the `m x n` view must be untouched.

mod common;

use common::gemm::{initial_c, random_dim, random_pad, random_vec, stored, Case, SENTINEL};
use half::bf16;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokken_kernels::cpu::gemm::*;

impl Case {
    fn random(rng: &mut StdRng) -> Case {
        let (m, n, k) = (
            random_dim(rng, 300),
            random_dim(rng, 300),
            random_dim(rng, 300),
        );
        Case::with_shape(rng, m, n, k)
    }

    fn with_shape(rng: &mut StdRng, m: usize, n: usize, k: usize) -> Case {
        let tr = |rng: &mut StdRng| {
            if rng.random_bool(0.5) {
                Trans::N
            } else {
                Trans::T
            }
        };
        let (ta, tb) = (tr(rng), tr(rng));
        let lda = stored(ta, m, k).1 + random_pad(rng);
        let ldb = stored(tb, k, n).1 + random_pad(rng);
        let ldc = n + random_pad(rng);
        let alpha = [1.0, -0.5, 1.75][rng.random_range(0..3)];
        let beta = [0.0, 0.0, 1.0, -0.3][rng.random_range(0..4)];
        Case {
            ta,
            tb,
            m,
            n,
            k,
            alpha,
            beta,
            lda,
            ldb,
            ldc,
        }
    }
}

/// Reference result and the per-element error scale `|alpha| |A||B| + |beta C0|`.
fn reference(case: &Case, a: &[f32], b: &[f32], c0: &[f32]) -> (Vec<f32>, Vec<f32>) {
    let mut want = c0.to_vec();
    reference_sgemm(
        case.ta, case.tb, case.m, case.n, case.k, case.alpha, a, case.lda, b, case.ldb, case.beta,
        &mut want, case.ldc,
    );
    let abs = |v: &[f32]| {
        v.iter()
            .map(|x| if x.is_nan() { 0.0 } else { x.abs() })
            .collect::<Vec<_>>()
    };
    let mut scale = abs(c0);
    reference_sgemm(
        case.ta,
        case.tb,
        case.m,
        case.n,
        case.k,
        case.alpha.abs(),
        &abs(a),
        case.lda,
        &abs(b),
        case.ldb,
        case.beta.abs(),
        &mut scale,
        case.ldc,
    );
    (want, scale)
}

/// Compare `got` with `want` elementwise: inside the view within `rel * scale + 1e-30`,
/// outside it bit-identical to the sentinel.
fn check(label: &str, case: &Case, got: &[f32], want: &[f32], scale: &[f32], rel: f64) {
    for (idx, (&g, &w)) in got.iter().zip(want).enumerate() {
        let (i, j) = (idx / case.ldc, idx % case.ldc);
        if j >= case.n {
            assert_eq!(
                g.to_bits(),
                SENTINEL.to_bits(),
                "{label}: padding C[{i},{j}] changed, {case:?}"
            );
            continue;
        }
        let tol = rel * scale[idx] as f64 + 1e-30;
        let err = (g as f64 - w as f64).abs();
        assert!(
            err <= tol,
            "{label}: C[{i},{j}] = {g}, want {w} (err {err:e} > tol {tol:e}), {case:?}"
        );
    }
}

fn f32_rel(k: usize) -> f64 {
    (k as f64 + 2.0) * 2f64.powi(-23)
}

/// Shapes that cross every blocking boundary (KC = 1536 for AVX-512, 256 elsewhere;
/// MC = 3072; NB = 1024 / 512) and the parallel threshold, in addition to the random ones.
fn boundary_shapes() -> Vec<(usize, usize, usize)> {
    vec![
        (50, 70, 1000),
        (3100, 33, 20),
        (20, 1000, 17),
        (200, 600, 800),
        (1, 1, 1),
        (1, 517, 3),
    ]
}

fn cases(seed: u64, count: usize) -> Vec<Case> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut out: Vec<Case> = (0..count).map(|_| Case::random(&mut rng)).collect();
    for (m, n, k) in boundary_shapes() {
        out.push(Case::with_shape(&mut rng, m, n, k));
    }
    out
}

#[test]
fn sgemm_every_kernel_matches_reference() {
    let kernels = Kernel::available();
    println!(
        "f32 kernels here: {:?}, selected: {}",
        kernels,
        selected_kernel()
    );
    for kernel in kernels {
        let mut rng = StdRng::seed_from_u64(7);
        for case in cases(1, 120) {
            let a = random_vec(&mut rng, case.a_len());
            let b = random_vec(&mut rng, case.b_len());
            let c0 = initial_c(&mut rng, &case);
            let (want, scale) = reference(&case, &a, &b, &c0);
            let mut got = c0.clone();
            sgemm_with(
                kernel, case.ta, case.tb, case.m, case.n, case.k, case.alpha, &a, case.lda, &b,
                case.ldb, case.beta, &mut got, case.ldc,
            );
            check(kernel.name(), &case, &got, &want, &scale, f32_rel(case.k));
        }
    }
}

#[test]
fn sgemm_default_entry_matches_reference() {
    let mut rng = StdRng::seed_from_u64(11);
    for case in cases(2, 40) {
        let a = random_vec(&mut rng, case.a_len());
        let b = random_vec(&mut rng, case.b_len());
        let c0 = initial_c(&mut rng, &case);
        let (want, scale) = reference(&case, &a, &b, &c0);
        let mut got = c0.clone();
        sgemm(
            case.ta, case.tb, case.m, case.n, case.k, case.alpha, &a, case.lda, &b, case.ldb,
            case.beta, &mut got, case.ldc,
        );
        check("sgemm", &case, &got, &want, &scale, f32_rel(case.k));
    }
}

fn to_bf16(v: &[f32]) -> Vec<bf16> {
    v.iter().map(|&x| bf16::from_f32(x)).collect()
}
fn widen(v: &[bf16]) -> Vec<f32> {
    v.iter().map(|x| x.to_f32()).collect()
}

#[test]
fn gemm_bf16_every_path_matches_reference() {
    let paths = Bf16Kernel::available();
    println!(
        "bf16 paths here: {:?}, selected: {}",
        paths,
        selected_bf16_kernel()
    );
    for path in paths {
        let mut rng = StdRng::seed_from_u64(13);
        for case in cases(3, 60) {
            let a = to_bf16(&random_vec(&mut rng, case.a_len()));
            let b = to_bf16(&random_vec(&mut rng, case.b_len()));
            let c0 = initial_c(&mut rng, &case);
            let (want, scale) = reference(&case, &widen(&a), &widen(&b), &c0);
            let mut got = c0.clone();
            gemm_bf16_with(
                path, case.ta, case.tb, case.m, case.n, case.k, case.alpha, &a, case.lda, &b,
                case.ldb, case.beta, &mut got, case.ldc,
            );
            check(path.name(), &case, &got, &want, &scale, f32_rel(case.k));
        }
    }
}

#[test]
fn gemm_f32_bf16_every_path_matches_reference() {
    for path in Bf16Kernel::available() {
        let mut rng = StdRng::seed_from_u64(17);
        for case in cases(4, 60) {
            let a = random_vec(&mut rng, case.a_len());
            let b = to_bf16(&random_vec(&mut rng, case.b_len()));
            let c0 = initial_c(&mut rng, &case);
            let mut got = c0.clone();
            gemm_f32_bf16_with(
                path, case.ta, case.tb, case.m, case.n, case.k, case.alpha, &a, case.lda, &b,
                case.ldb, case.beta, &mut got, case.ldc,
            );
            // Sharp: against the reference on A rounded to bf16 (checks RNE rounding).
            let a_rounded = widen(&to_bf16(&a));
            let (want, scale) = reference(&case, &a_rounded, &widen(&b), &c0);
            check(path.name(), &case, &got, &want, &scale, f32_rel(case.k));
            // Stated bound: against the unrounded A, one bf16 rounding (2^-8) per product.
            let (want, scale) = reference(&case, &a, &widen(&b), &c0);
            check(
                path.name(),
                &case,
                &got,
                &want,
                &scale,
                f32_rel(case.k) + 2f64.powi(-8),
            );
        }
    }
}

#[test]
fn sgemm_batched_matches_reference_per_item() {
    for kernel in Kernel::available() {
        let mut rng = StdRng::seed_from_u64(19);
        for round in 0..30 {
            // Mostly attention-like small items; a few large ones take the per-item parallel path.
            let case = if round % 10 == 9 {
                Case::with_shape(&mut rng, 150, 170, 200)
            } else {
                Case::random(&mut rng)
            };
            let batch = rng.random_range(1..=9);
            let shared_a = rng.random_bool(0.2);
            let stride_a = if shared_a {
                0
            } else {
                case.a_len() + rng.random_range(0..5)
            };
            let stride_b = case.b_len() + rng.random_range(0..5);
            let stride_c = case.c_len() + rng.random_range(0..5);
            let a = random_vec(&mut rng, (batch - 1) * stride_a + case.a_len());
            let b = random_vec(&mut rng, (batch - 1) * stride_b + case.b_len());
            let mut c0 = vec![SENTINEL; (batch - 1) * stride_c + case.c_len()];
            for i in 0..batch {
                let item = initial_c(&mut rng, &case);
                c0[i * stride_c..i * stride_c + item.len()].copy_from_slice(&item);
            }
            let mut got = c0.clone();
            sgemm_batched_with(
                kernel, case.ta, case.tb, case.m, case.n, case.k, case.alpha, &a, case.lda,
                stride_a, &b, case.ldb, stride_b, case.beta, &mut got, case.ldc, stride_c, batch,
            );
            for i in 0..batch {
                let ai = &a[i * stride_a..i * stride_a + case.a_len()];
                let bi = &b[i * stride_b..i * stride_b + case.b_len()];
                let ci = &c0[i * stride_c..i * stride_c + case.c_len()];
                let (want, scale) = reference(&case, ai, bi, ci);
                let gi = &got[i * stride_c..i * stride_c + case.c_len()];
                check(
                    &format!("batched {} item {i}", kernel.name()),
                    &case,
                    gi,
                    &want,
                    &scale,
                    f32_rel(case.k),
                );
            }
            // Gaps between items stay untouched.
            for i in 0..batch - 1 {
                let gap = &got[i * stride_c + case.c_len()..(i + 1) * stride_c];
                assert!(
                    gap.iter().all(|&x| x == SENTINEL),
                    "batched: gap after item {i} changed"
                );
            }
        }
    }
}

#[test]
fn k_zero_scales_c_and_beta_zero_ignores_nan() {
    for kernel in Kernel::available() {
        let a: Vec<f32> = vec![];
        let b: Vec<f32> = vec![];
        let mut c = vec![2.0f32, f32::NAN, 4.0];
        // k = 0, beta = 0.5 scales; NaN stays NaN (beta != 0 reads C).
        sgemm_with(
            kernel,
            Trans::N,
            Trans::N,
            1,
            3,
            0,
            1.0,
            &a,
            1,
            &b,
            3,
            0.5,
            &mut c,
            3,
        );
        assert_eq!(c[0], 1.0);
        assert!(c[1].is_nan());
        assert_eq!(c[2], 2.0);
        // beta = 0 overwrites, even NaN.
        sgemm_with(
            kernel,
            Trans::N,
            Trans::N,
            1,
            3,
            0,
            1.0,
            &a,
            1,
            &b,
            3,
            0.0,
            &mut c,
            3,
        );
        assert_eq!(c, vec![0.0; 3]);
        let mut c = vec![f32::NAN; 4];
        let a = vec![1.0f32, 2.0];
        let b = vec![3.0f32, 4.0];
        sgemm_with(
            kernel,
            Trans::N,
            Trans::T,
            2,
            2,
            1,
            1.0,
            &a,
            1,
            &b,
            1,
            0.0,
            &mut c,
            2,
        );
        assert_eq!(c, vec![3.0, 4.0, 6.0, 8.0]);
    }
}

#[test]
#[should_panic(expected = "gemm: b has 11 elements but a 3 x 4 matrix with ldb = 4 needs 12")]
fn too_short_b_panics_clearly() {
    let a = vec![0.0f32; 6];
    let b = vec![0.0f32; 11];
    let mut c = vec![0.0f32; 8];
    sgemm(
        Trans::N,
        Trans::N,
        2,
        4,
        3,
        1.0,
        &a,
        3,
        &b,
        4,
        0.0,
        &mut c,
        4,
    );
}

#[test]
#[should_panic(expected = "lda = 2 is smaller than the stored row length 3")]
fn too_small_lda_panics_clearly() {
    let a = vec![0.0f32; 6];
    let b = vec![0.0f32; 12];
    let mut c = vec![0.0f32; 8];
    sgemm(
        Trans::N,
        Trans::N,
        2,
        4,
        3,
        1.0,
        &a,
        2,
        &b,
        4,
        0.0,
        &mut c,
        4,
    );
}

#[test]
#[should_panic(expected = "gemm batched: stride_c = 3 makes C items overlap")]
fn overlapping_batched_c_panics() {
    let a = vec![0.0f32; 16];
    let b = vec![0.0f32; 16];
    let mut c = vec![0.0f32; 16];
    sgemm_batched(
        Trans::N,
        Trans::N,
        2,
        2,
        2,
        1.0,
        &a,
        2,
        4,
        &b,
        2,
        4,
        0.0,
        &mut c,
        2,
        3,
        2,
    );
}

/// Threads only split C into tiles; every element sums over K in the same blocks and order,
/// so results are bitwise identical for any pool size (reproducible training runs). The
/// second shape has more column blocks than threads on every blocking (up to 1024 columns
/// per block), so its columns are claimed in shrinking ranges.
#[test]
fn results_are_bitwise_identical_across_thread_counts() {
    for (m, n, k) in [(300, 700, 1700), (90, 2600, 200)] {
        bitwise_across_thread_counts(m, n, k);
    }
}

fn bitwise_across_thread_counts(m: usize, n: usize, k: usize) {
    let mut rng = StdRng::seed_from_u64(23);
    let a = random_vec(&mut rng, m * k);
    let b = random_vec(&mut rng, k * n);
    let run = |threads: usize, kernel: Kernel| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        let mut c = vec![0.0f32; m * n];
        pool.install(|| {
            sgemm_with(
                kernel,
                Trans::N,
                Trans::T,
                m,
                n,
                k,
                1.0,
                &a,
                k,
                &b,
                k,
                0.0,
                &mut c,
                n,
            )
        });
        c
    };
    for kernel in Kernel::available() {
        let one = run(1, kernel);
        for threads in [2, 3, 4] {
            assert!(
                one.iter()
                    .zip(run(threads, kernel))
                    .all(|(x, y)| x.to_bits() == y.to_bits()),
                "{}: {threads} threads differ from 1 ({m} x {n} x {k})",
                kernel.name()
            );
        }
    }
}
