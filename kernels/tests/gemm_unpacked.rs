//! `sgemm_unpacked` (A, and B stored `[k, n]`, read in place) against `sgemm`, which it
//! must equal bit for bit: every orientation of A and B, every beta (NaN in C ignored when
//! beta is 0), alpha 0, padded strides (C's padding untouched), tile edges, several K
//! blocks, and rows 4 KiB apart (the kernel's two-pass case). `sgemm` itself is checked
//! against the scalar reference in `gemm.rs`.

mod common;

use common::gemm::{assert_bitwise, operands, random_pad, shapes, stored, Case};
use rand::rngs::StdRng;
use rand::SeedableRng;
use tokken_kernels::cpu::gemm::{sgemm, sgemm_unpacked, Trans};

fn run(
    f: impl Fn(&Case, &[f32], &[f32], &mut [f32]),
    case: &Case,
    a: &[f32],
    b: &[f32],
    c0: &[f32],
) -> Vec<f32> {
    let mut c = c0.to_vec();
    f(case, a, b, &mut c);
    c
}

fn check(case: &Case, rng: &mut StdRng) {
    let (a, b, c0) = operands(rng, case);
    let want = run(
        |s, a, b, c| {
            sgemm(
                s.ta, s.tb, s.m, s.n, s.k, s.alpha, a, s.lda, b, s.ldb, s.beta, c, s.ldc,
            )
        },
        case,
        &a,
        &b,
        &c0,
    );
    let got = run(
        |s, a, b, c| {
            sgemm_unpacked(
                s.ta, s.tb, s.m, s.n, s.k, s.alpha, a, s.lda, b, s.ldb, s.beta, c, s.ldc,
            )
        },
        case,
        &a,
        &b,
        &c0,
    );
    assert_bitwise(format!("{case:?}"), &got, &want);
}

#[test]
fn equals_sgemm_bitwise() {
    let mut rng = StdRng::seed_from_u64(11);
    // Attention and LoRA shapes (the 8 x 768 x 1024 one runs its strips in parallel), tile
    // edges, one and several K blocks (KC = 1536).
    let fixed = [
        (64, 64, 64),
        (8, 768, 1024),
        (64, 8, 768),
        (8, 96, 200),
        (1, 1, 1),
        (14, 32, 1),
        (15, 33, 2),
        (13, 17, 1537),
        (29, 70, 3077),
        (3, 5, 0),
    ];
    let dims = shapes(&mut rng, &fixed, 40);
    for (i, &(m, n, k)) in dims.iter().enumerate() {
        for (ta, tb) in [
            (Trans::N, Trans::N),
            (Trans::N, Trans::T),
            (Trans::T, Trans::N),
            (Trans::T, Trans::T),
        ] {
            let case = Case {
                ta,
                tb,
                m,
                n,
                k,
                alpha: [1.0, -0.5, 0.125, 0.0][i % 4],
                beta: [0.0, 1.0, -0.3][(i / 4) % 3],
                lda: stored(ta, m, k).1.max(1) + random_pad(&mut rng),
                ldb: stored(tb, k, n).1.max(1) + random_pad(&mut rng),
                ldc: n + random_pad(&mut rng),
            };
            check(&case, &mut rng);
        }
    }
}

/// A's rows 4 KiB apart (1024 floats): the kernel splits each tile into two passes of 7
/// rows; still the same bits.
#[test]
fn rows_4kib_apart_equal_sgemm_bitwise() {
    let mut rng = StdRng::seed_from_u64(12);
    for (m, n, k) in [(14, 32, 64), (29, 40, 300), (9, 7, 1024)] {
        for tb in [Trans::N, Trans::T] {
            let case = Case {
                ta: Trans::N,
                tb,
                m,
                n,
                k,
                alpha: 1.0,
                beta: 0.5,
                lda: 1024,
                ldb: stored(tb, k, n).1,
                ldc: n,
            };
            check(&case, &mut rng);
        }
    }
}
