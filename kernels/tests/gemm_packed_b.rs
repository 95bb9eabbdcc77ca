//! `gemm_packed_b` (op(B) packed once) against the GEMM it replaces, on every kernel this
//! CPU can run: bit for bit equal to `sgemm_with` / `gemm_f32_bf16_with` for both
//! orientations of A and B (training's `X · Wᵀ` forward and `dY · W` input gradient),
//! every beta, padded strides, several K blocks and 1–3 threads. The unpacked GEMMs are
//! themselves checked against the scalar reference in `gemm.rs`.

use half::bf16;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokken_kernels::cpu::gemm::*;

/// One random `C[m, n] = alpha op(A) op(B) + beta C` problem with padded leading dims.
#[derive(Clone, Debug)]
struct Case {
    ta: Trans,
    tb: Trans,
    m: usize,
    n: usize,
    k: usize,
    alpha: f32,
    beta: f32,
    lda: usize,
    ldb: usize,
    ldc: usize,
}

fn random_vec(rng: &mut StdRng, len: usize) -> Vec<f32> {
    (0..len).map(|_| rng.random_range(-1.0f32..1.0)).collect()
}

/// Stored rows x columns of an operand `op(X)` of `rows x cols`.
fn stored(t: Trans, rows: usize, cols: usize) -> (usize, usize) {
    match t {
        Trans::N => (rows, cols),
        Trans::T => (cols, rows),
    }
}

fn cases(seed: u64, count: usize) -> Vec<Case> {
    let mut rng = StdRng::seed_from_u64(seed);
    // Training-like shapes (scaled down), tile edges, several K blocks, odd K for bf16 pairs.
    let mut shapes = vec![
        (64, 96, 64),
        (100, 40, 1537),
        (1, 5, 3),
        (14, 32, 1),
        (15, 33, 2),
        (33, 13, 3073),
        (29, 70, 7),
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
                lda: stored(ta, m, k).1 + pad(&mut rng),
                ldb: stored(tb, k, n).1 + pad(&mut rng),
                ldc: n + pad(&mut rng),
            }
        })
        .collect()
}

/// Operands of a case: A, B, and an initial C (NaN inside the view when beta is 0).
fn operands(rng: &mut StdRng, c: &Case) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let (ar, _) = stored(c.ta, c.m, c.k);
    let (br, bc) = stored(c.tb, c.k, c.n);
    let (_, ac) = stored(c.ta, c.m, c.k);
    let a = random_vec(rng, (ar - 1) * c.lda + ac);
    let b = random_vec(rng, (br - 1) * c.ldb + bc);
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
    (a, b, c0)
}

fn assert_bitwise(label: &str, case: &Case, got: &[f32], want: &[f32]) {
    if let Some((i, (g, w))) = got
        .iter()
        .zip(want)
        .enumerate()
        .find(|(_, (g, w))| g.to_bits() != w.to_bits())
    {
        panic!("{label} {case:?}: element {i} differs: packed B {g} vs unpacked {w}");
    }
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
            let mut want = c0.clone();
            sgemm_with(
                kernel, case.ta, case.tb, case.m, case.n, case.k, case.alpha, &a, case.lda, &b,
                case.ldb, case.beta, &mut want, case.ldc,
            );
            let pb = PackedB::from_f32(
                PackedKind::F32(kernel),
                case.tb,
                &b,
                case.ldb,
                case.k,
                case.n,
            );
            assert_bitwise(kernel.name(), &case, &packed(&case, &a, &pb, &c0), &want);
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
            let mut want = c0.clone();
            gemm_f32_bf16_with(
                kernel, case.ta, case.tb, case.m, case.n, case.k, case.alpha, &a, case.lda, &bb,
                case.ldb, case.beta, &mut want, case.ldc,
            );
            // Packed from the bf16 operand, and from f32 (rounded while packing): the same.
            let kind = PackedKind::Bf16(kernel);
            for pb in [
                PackedB::from_bf16(kind, case.tb, &bb, case.ldb, case.k, case.n),
                PackedB::from_f32(kind, case.tb, &b, case.ldb, case.k, case.n),
            ] {
                assert_bitwise(kernel.name(), &case, &packed(&case, &a, &pb, &c0), &want);
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
        let wb: Vec<bf16> = w.iter().map(|&v| bf16::from_f32(v)).collect();
        for m in [1, 37, 300] {
            let x = random_vec(&mut rng, m * k);
            let dy = random_vec(&mut rng, m * n);
            let unpacked = |tb: Trans, a: &[f32], cols: usize, inner: usize| {
                let mut c = vec![0.0f32; m * cols];
                match kind {
                    PackedKind::F32(kern) => sgemm_with(
                        kern,
                        Trans::N,
                        tb,
                        m,
                        cols,
                        inner,
                        1.0,
                        a,
                        inner,
                        &w,
                        k,
                        0.0,
                        &mut c,
                        cols,
                    ),
                    PackedKind::Bf16(kern) => gemm_f32_bf16_with(
                        kern,
                        Trans::N,
                        tb,
                        m,
                        cols,
                        inner,
                        1.0,
                        a,
                        inner,
                        &wb,
                        k,
                        0.0,
                        &mut c,
                        cols,
                    ),
                }
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
                let same =
                    |a: &[f32], b: &[f32]| a.iter().zip(b).all(|(p, q)| p.to_bits() == q.to_bits());
                assert!(same(&y, &want_y), "{kind:?} m {m} threads {threads}: X·Wᵀ");
                assert!(
                    same(&dx, &want_dx),
                    "{kind:?} m {m} threads {threads}: dY·W"
                );
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
