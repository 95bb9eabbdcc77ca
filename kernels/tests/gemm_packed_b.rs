//! `gemm_packed_b` (op(B) packed once) against the GEMM it replaces, on every kernel this
//! CPU can run: bit for bit equal to `sgemm_with` / `gemm_f32_bf16_with` for both
//! orientations of A and B (training's `X · Wᵀ` forward and `dY · W` input gradient),
//! every beta, padded strides, several K blocks and 1–3 threads. The unpacked GEMMs are
//! themselves checked against the scalar reference in `gemm.rs`.

mod common;

use common::gemm::{
    assert_bitwise, operands, random_pad, random_vec, shapes, stored, unpacked_gemm, Case,
};
use half::bf16;
use rand::rngs::StdRng;
use rand::SeedableRng;
use tokken_kernels::cpu::gemm::*;

/// Training-like shapes (scaled down), tile edges, several K blocks and odd K for bf16
/// pairs, then `count` random ones, over both orientations of A and B, every beta and
/// padded strides.
fn cases(seed: u64, count: usize) -> Vec<Case> {
    let mut rng = StdRng::seed_from_u64(seed);
    let fixed = [
        (64, 96, 64),
        (100, 40, 1537),
        (1, 5, 3),
        (14, 32, 1),
        (15, 33, 2),
        (33, 13, 3073),
        (29, 70, 7),
    ];
    shapes(&mut rng, &fixed, count)
        .into_iter()
        .enumerate()
        .map(|(i, (m, n, k))| {
            let ta = [Trans::N, Trans::T][i % 2];
            let tb = [Trans::T, Trans::N][(i / 2) % 2];
            Case {
                ta,
                tb,
                m,
                n,
                k,
                alpha: [1.0, -0.5, 1.75][i % 3],
                beta: [0.0, 1.0, -0.3][(i / 3) % 3],
                lda: stored(ta, m, k).1 + random_pad(&mut rng),
                ldb: stored(tb, k, n).1 + random_pad(&mut rng),
                ldc: n + random_pad(&mut rng),
            }
        })
        .collect()
}

fn packed(case: &Case, a: &[f32], b: &PackedB, c0: &[f32]) -> Vec<f32> {
    let mut c = c0.to_vec();
    gemm_packed_b(
        case.ta, case.m, case.alpha, a, case.lda, b, case.beta, &mut c, case.ldc,
    );
    c
}

#[test]
fn packed_b_f32_equals_sgemm_bitwise_on_every_kernel() {
    let mut rng = StdRng::seed_from_u64(21);
    for kernel in Kernel::available() {
        for case in cases(22, 40) {
            let (a, b, c0) = operands(&mut rng, &case);
            let kind = PackedKind::F32(kernel);
            let mut want = c0.clone();
            unpacked_gemm(kind, &case, &a, &b, &mut want);
            let pb = PackedB::from_f32(kind, case.tb, &b, case.ldb, case.k, case.n);
            let what = format!("{} {case:?}", kernel.name());
            assert_bitwise(what, &packed(&case, &a, &pb, &c0), &want);
        }
    }
}

#[test]
fn packed_b_bf16_equals_gemm_f32_bf16_bitwise_on_every_path() {
    let mut rng = StdRng::seed_from_u64(23);
    for kernel in Bf16Kernel::available() {
        for case in cases(24, 40) {
            let (a, b, c0) = operands(&mut rng, &case);
            let bb: Vec<bf16> = b.iter().map(|&v| bf16::from_f32(v)).collect();
            let kind = PackedKind::Bf16(kernel);
            let mut want = c0.clone();
            unpacked_gemm(kind, &case, &a, &b, &mut want);
            // Packed from the bf16 operand, and from f32 (rounded while packing): the same.
            let what = format!("{} {case:?}", kernel.name());
            for pb in [
                PackedB::from_bf16(kind, case.tb, &bb, case.ldb, case.k, case.n),
                PackedB::from_f32(kind, case.tb, &b, case.ldb, case.k, case.n),
            ] {
                assert_bitwise(&what, &packed(&case, &a, &pb, &c0), &want);
            }
        }
    }
}

/// Training's shapes: the forward `X · Wᵀ` and the input gradient `dY · W` of one frozen
/// weight, each from its own packed orientation, at several row counts and thread counts.
#[test]
fn packed_b_training_orientations_bitwise_across_threads() {
    let mut rng = StdRng::seed_from_u64(25);
    let (n, k) = (200, 1600);
    let w = random_vec(&mut rng, n * k);
    for kind in [PackedKind::best_f32(), PackedKind::best_bf16()] {
        let fwd = PackedB::from_f32(kind, Trans::T, &w, k, k, n);
        let bwd = PackedB::from_f32(kind, Trans::N, &w, k, n, k);
        for m in [1, 37, 300] {
            let x = random_vec(&mut rng, m * k);
            let dy = random_vec(&mut rng, m * n);
            // op(W) of `inner x cols`, W stored [n, k].
            let unpacked = |tb: Trans, a: &[f32], cols: usize, inner: usize| {
                let case = Case {
                    ta: Trans::N,
                    tb,
                    m,
                    n: cols,
                    k: inner,
                    alpha: 1.0,
                    beta: 0.0,
                    lda: inner,
                    ldb: k,
                    ldc: cols,
                };
                let mut c = vec![0.0f32; m * cols];
                unpacked_gemm(kind, &case, a, &w, &mut c);
                c
            };
            let want_y = unpacked(Trans::T, &x, n, k);
            let want_dx = unpacked(Trans::N, &dy, k, n);
            for threads in [1, 2, 3] {
                let pool = rayon::ThreadPoolBuilder::new()
                    .num_threads(threads)
                    .build()
                    .unwrap();
                let (y, dx) = pool.install(|| {
                    let mut y = vec![0.0f32; m * n];
                    gemm_packed_b(Trans::N, m, 1.0, &x, k, &fwd, 0.0, &mut y, n);
                    let mut dx = vec![0.0f32; m * k];
                    gemm_packed_b(Trans::N, m, 1.0, &dy, n, &bwd, 0.0, &mut dx, k);
                    (y, dx)
                });
                let what = format!("{kind:?} m {m} threads {threads}");
                assert_bitwise(format!("{what}: X·Wᵀ"), &y, &want_y);
                assert_bitwise(format!("{what}: dY·W"), &dx, &want_dx);
            }
        }
    }
}

#[test]
fn packed_b_degenerate_shapes() {
    // k = 0: C = beta C; m = 0: nothing touched.
    let pb = PackedB::from_f32(PackedKind::best_f32(), Trans::N, &[], 3, 0, 3);
    let mut c = vec![2.0f32; 6];
    gemm_packed_b(Trans::N, 2, 1.0, &[], 1, &pb, 0.0, &mut c, 3);
    assert_eq!(c, vec![0.0; 6]);
    let pb = PackedB::from_f32(PackedKind::best_f32(), Trans::T, &[1.0; 6], 2, 2, 3);
    let mut c = vec![5.0f32; 3];
    gemm_packed_b(Trans::N, 0, 1.0, &[], 2, &pb, 1.0, &mut c, 3);
    assert_eq!(c, vec![5.0; 3]);
}

#[test]
#[should_panic(expected = "a has")]
fn packed_b_short_a_panics_clearly() {
    let pb = PackedB::from_f32(PackedKind::best_f32(), Trans::T, &[1.0; 12], 4, 4, 3);
    let mut c = vec![0.0f32; 6];
    gemm_packed_b(Trans::N, 2, 1.0, &[1.0; 7], 4, &pb, 0.0, &mut c, 3);
}

/// f32 kernels that read a row-major A in place (AVX-512: `tile_rows`) give the same bits as
/// packing it: the same product with A stored transposed (always packed) and row-major at
/// a stride `k + 3` (one 14-row pass) and at a multiple of 4 KiB (two 7-row passes, as such
/// rows alias in L1), through both `sgemm_with` and `gemm_packed_b`, on every kernel and
/// 1–2 threads.
#[test]
fn a_read_in_place_equals_packed_a_bitwise() {
    let mut rng = StdRng::seed_from_u64(26);
    for kernel in Kernel::available() {
        for &(m, n, k) in &[
            (300usize, 70usize, 200usize),
            (13, 33, 1000),
            (29, 64, 1),
            (25, 40, 300),
        ] {
            let a = random_vec(&mut rng, m * k);
            let w = random_vec(&mut rng, n * k);
            let at_stride = |lda: usize| {
                let mut out = vec![0.0f32; (m - 1) * lda + k];
                for (i, row) in a.chunks_exact(k).enumerate() {
                    out[i * lda..i * lda + k].copy_from_slice(row);
                }
                out
            };
            // A stored transposed is always packed: the reference. Row-major A is read in
            // place, in one pass (stride k + 3) or, at a 4 KiB multiple, in two half-tile
            // passes (AVX-512).
            let mut a_t = vec![0.0f32; k * m];
            for (i, row) in a.chunks_exact(k).enumerate() {
                for (p, &v) in row.iter().enumerate() {
                    a_t[p * m + i] = v;
                }
            }
            let packed = (Trans::T, a_t, m);
            let in_place = (Trans::N, at_stride(k + 3), k + 3);
            let aliased = (Trans::N, at_stride(1024), 1024);
            let pb = PackedB::from_f32(PackedKind::F32(kernel), Trans::T, &w, k, k, n);
            for threads in [1, 2] {
                let pool = rayon::ThreadPoolBuilder::new()
                    .num_threads(threads)
                    .build()
                    .unwrap();
                let run = |(ta, x, lda): &(Trans, Vec<f32>, usize)| {
                    pool.install(|| {
                        let mut c1 = vec![0.0f32; m * n];
                        sgemm_with(
                            kernel,
                            *ta,
                            Trans::T,
                            m,
                            n,
                            k,
                            1.0,
                            x,
                            *lda,
                            &w,
                            k,
                            0.0,
                            &mut c1,
                            n,
                        );
                        let mut c2 = vec![1.0f32; m * n];
                        gemm_packed_b(*ta, m, 0.5, x, *lda, &pb, 1.0, &mut c2, n);
                        (bits(&c1), bits(&c2))
                    })
                };
                let reference = run(&packed);
                for (what, case) in [("in place", &in_place), ("aliased", &aliased)] {
                    assert_eq!(
                        run(case),
                        reference,
                        "{} {what} {m}x{n}x{k}, {threads} threads",
                        kernel.name()
                    );
                }
            }
        }
    }
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}
