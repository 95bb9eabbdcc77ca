//! `gemm_prepacked` (weights packed once) against the GEMM it replaces, on every kernel this
//! CPU can run: bit for bit equal to `sgemm_with` / `gemm_f32_bf16_with` (`Trans::N`,
//! `Trans::T`) for beta 0 and 1 over randomized shapes, strides and thread counts, and
//! within one rounding of it for other beta. The unpacked GEMMs are themselves checked
//! against the scalar reference in `gemm.rs`.

use half::bf16;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokken_kernels::cpu::gemm::*;

/// One random `C[m, n] (+)= alpha X[m, k] · W[n, k]ᵀ` problem with padded leading dims.
#[derive(Clone, Debug)]
struct Case {
    m: usize,
    n: usize,
    k: usize,
    alpha: f32,
    beta: f32,
    ldx: usize,
    ldc: usize,
}

fn random_vec(rng: &mut StdRng, len: usize) -> Vec<f32> {
    (0..len).map(|_| rng.random_range(-1.0f32..1.0)).collect()
}

fn cases(seed: u64, count: usize) -> Vec<Case> {
    let mut rng = StdRng::seed_from_u64(seed);
    // Model-like and tile-boundary shapes first (one headline, tile edges, K blocks).
    let mut shapes = vec![
        (32, 96, 64),
        (32, 2304, 768),
        (1, 5, 3),
        (14, 32, 1),
        (15, 33, 2),
        (33, 13, 1537),
        (31, 29, 3073),
        (64, 42, 7),
    ];
    for _ in 0..count {
        let dim = |rng: &mut StdRng, hi: usize| {
            if rng.random_bool(0.5) {
                rng.random_range(1..=20)
            } else {
                rng.random_range(1..=hi)
            }
        };
        shapes.push((dim(&mut rng, 200), dim(&mut rng, 200), dim(&mut rng, 300)));
    }
    shapes
        .into_iter()
        .enumerate()
        .map(|(i, (m, n, k))| {
            let pad = |rng: &mut StdRng| {
                if rng.random_bool(0.5) {
                    0
                } else {
                    rng.random_range(1..7)
                }
            };
            Case {
                m,
                n,
                k,
                alpha: [1.0, -0.5, 1.75][i % 3],
                beta: [0.0, 1.0][(i / 3) % 2],
                ldx: k + pad(&mut rng),
                ldc: n + pad(&mut rng),
            }
        })
        .collect()
}

/// Operands of a case: X, W, and an initial C (NaN inside the view when beta is 0).
fn operands(rng: &mut StdRng, c: &Case) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let x = random_vec(rng, (c.m - 1) * c.ldx + c.k);
    let w = random_vec(rng, c.n * c.k);
    let mut c0 = vec![777.0f32; (c.m - 1) * c.ldc + c.n];
    for i in 0..c.m {
        for j in 0..c.n {
            c0[i * c.ldc + j] = if c.beta == 0.0 {
                f32::NAN
            } else {
                rng.random_range(-1.0..1.0)
            };
        }
    }
    (x, w, c0)
}

fn assert_bitwise(label: &str, case: &Case, got: &[f32], want: &[f32]) {
    if let Some((i, (g, w))) = got
        .iter()
        .zip(want)
        .enumerate()
        .find(|(_, (g, w))| g.to_bits() != w.to_bits())
    {
        panic!("{label} {case:?}: element {i} differs: prepacked {g} vs unpacked {w}");
    }
}

/// `C = alpha·X·Wᵀ + beta·C0` through the ordinary (packing) GEMM on `kernel`.
fn unpacked_f32(kernel: Kernel, case: &Case, x: &[f32], w: &[f32], c0: &[f32]) -> Vec<f32> {
    let mut c = c0.to_vec();
    sgemm_with(
        kernel,
        Trans::N,
        Trans::T,
        case.m,
        case.n,
        case.k,
        case.alpha,
        x,
        case.ldx,
        w,
        case.k,
        case.beta,
        &mut c,
        case.ldc,
    );
    c
}

/// The same product from prepacked weights.
fn prepacked(case: &Case, x: &[f32], packed: &PackedWeight, c0: &[f32]) -> Vec<f32> {
    let mut c = c0.to_vec();
    gemm_prepacked(
        case.m, case.alpha, x, case.ldx, packed, case.beta, &mut c, case.ldc,
    );
    c
}

#[test]
fn prepacked_f32_equals_sgemm_bitwise_on_every_kernel() {
    let mut rng = StdRng::seed_from_u64(7);
    for kernel in Kernel::available() {
        for case in cases(11, 40) {
            let (x, w, c0) = operands(&mut rng, &case);
            let want = unpacked_f32(kernel, &case, &x, &w, &c0);
            let packed = PackedWeight::from_f32(PackedKind::F32(kernel), &w, case.n, case.k);
            let got = prepacked(&case, &x, &packed, &c0);
            assert_bitwise(kernel.name(), &case, &got, &want);
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
            let mut want = c0.clone();
            gemm_f32_bf16_with(
                kernel,
                Trans::N,
                Trans::T,
                case.m,
                case.n,
                case.k,
                case.alpha,
                &x,
                case.ldx,
                &wb,
                case.k,
                case.beta,
                &mut want,
                case.ldc,
            );
            // Packed from the bf16 weights, and from f32 (rounded while packing): the same.
            for packed in [
                PackedWeight::from_bf16(PackedKind::Bf16(kernel), &wb, case.n, case.k),
                PackedWeight::from_f32(PackedKind::Bf16(kernel), &w, case.n, case.k),
            ] {
                let got = prepacked(&case, &x, &packed, &c0);
                assert_bitwise(kernel.name(), &case, &got, &want);
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
            let want = unpacked_f32(kernel, &case, &x, &w, &c0);
            let packed = PackedWeight::from_f32(PackedKind::F32(kernel), &w, case.n, case.k);
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
