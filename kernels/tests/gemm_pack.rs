//! Packing row-major operands: the same matrix stored row-major (each row's K values
//! contiguous, packed on AVX-512 CPUs by the row packer, `pack_avx512.rs`) or K-major (the
//! generic packer's strided path) gives the same panels, so every GEMM must give the same C
//! bit for bit either way. Covers A of `gemm_f32_bf16` (f32 -> bf16 pairs, or rounded f32
//! on the f32 kernels) and of `gemm_packed_b`, and B of `sgemm` (NR-column panels), on every
//! kernel this CPU runs, with partial panels, odd K, padded strides and operand values
//! that round specially (ties to even, subnormals, signed zeros, NaN, infinities). The
//! bitwise unit tests of the packer against `pack` are in `pack_avx512.rs`.

mod common;

use common::gemm::assert_bitwise;
use half::bf16;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokken_kernels::cpu::gemm::*;

/// Shapes (m, n, k): panel edges of the 14 x 32 kernels, odd and even K, several K blocks.
const SHAPES: [(usize, usize, usize); 12] = [
    (1, 1, 1),
    (14, 32, 2),
    (13, 31, 3),
    (15, 33, 17),
    (29, 5, 64),
    (33, 65, 97),
    (70, 40, 31),
    (3, 70, 1),
    (28, 64, 33),
    (47, 9, 128),
    (20, 20, 1537),
    (16, 48, 3073),
];

/// Values in [-1, 1) with every 5th one a value that rounds to bf16 specially; with
/// `non_finite`, some NaNs and infinities too.
fn values(rng: &mut StdRng, len: usize, non_finite: bool) -> Vec<f32> {
    let special: &[u32] = &[
        0x3F80_8000, // tie, rounds down to even
        0x3F81_8000, // tie, rounds up to even
        0xBF80_8000,
        0x3F80_7FFF,
        0x0000_0001, // subnormals
        0x8040_8000,
        0x0000_0000,
        0x8000_0000,
        0x3EFF_FFFF,
    ];
    let non_finite_bits: &[u32] = &[0x7FC0_0000, 0xFF80_0001, 0x7F80_0000, 0xFF80_0000];
    (0..len)
        .map(|i| {
            if i % 5 == 2 {
                f32::from_bits(special[rng.random_range(0..special.len())])
            } else if non_finite && i % 53 == 7 {
                f32::from_bits(non_finite_bits[rng.random_range(0..non_finite_bits.len())])
            } else {
                rng.random_range(-1.0..1.0)
            }
        })
        .collect()
}

/// `x` (`rows x cols`, row stride `ld`) transposed into `cols x rows` with row stride
/// `rows + pad`.
fn transpose(x: &[f32], rows: usize, cols: usize, ld: usize, pad: usize) -> Vec<f32> {
    let ldt = rows + pad;
    let mut t = vec![-7.0; (cols - 1) * ldt + rows];
    for i in 0..rows {
        for j in 0..cols {
            t[j * ldt + i] = x[i * ld + j];
        }
    }
    t
}

/// A `rows x cols` matrix with row stride `cols + pad` (padding holds -7).
fn matrix(rng: &mut StdRng, rows: usize, cols: usize, pad: usize, non_finite: bool) -> Vec<f32> {
    let ld = cols + pad;
    let v = values(rng, rows * ld, non_finite);
    (0..(rows - 1) * ld + cols)
        .map(|i| if i % ld < cols { v[i] } else { -7.0 })
        .collect()
}

/// `gemm_f32_bf16_with` on every bf16 path: A stored `[m, k]` (row-major, `Trans::N`) and
/// `[k, m]` (`Trans::T`) give the same C, bit for bit.
#[test]
fn f32_bf16_gemm_row_major_a_equals_k_major_a() {
    let mut rng = StdRng::seed_from_u64(11);
    for kernel in Bf16Kernel::available() {
        for (s, &(m, n, k)) in SHAPES.iter().enumerate() {
            let (pa, pb) = (s % 3, (s + 1) % 4);
            let lda = k + pa;
            let a = matrix(&mut rng, m, k, pa, s % 4 == 3);
            let at = transpose(&a, m, k, lda, pb);
            let b: Vec<bf16> = values(&mut rng, n * k, false)
                .into_iter()
                .map(bf16::from_f32)
                .collect();
            let run = |ta: Trans, a: &[f32], lda: usize| {
                let mut c = vec![0.5f32; m * n];
                gemm_f32_bf16_with(
                    kernel,
                    ta,
                    Trans::T,
                    m,
                    n,
                    k,
                    1.25,
                    a,
                    lda,
                    &b,
                    k,
                    1.0,
                    &mut c,
                    n,
                );
                c
            };
            let row_major = run(Trans::N, &a, lda);
            let k_major = run(Trans::T, &at, m + pb);
            assert_bitwise(
                format!("{} m {m} n {n} k {k}", kernel.name()),
                &row_major,
                &k_major,
            );
        }
    }
}

/// `sgemm_with` on every f32 kernel: B stored `[n, k]` (`Trans::T`, its NR-column panels
/// are rows of the stored matrix) and `[k, n]` (`Trans::N`) give the same C, bit for bit.
#[test]
fn sgemm_row_major_b_equals_k_major_b() {
    let mut rng = StdRng::seed_from_u64(12);
    for kernel in Kernel::available() {
        for (s, &(m, n, k)) in SHAPES.iter().enumerate() {
            let (pa, pb) = (s % 4, (s + 2) % 3);
            let a = values(&mut rng, m * k, false);
            let ldb = k + pa;
            let b = matrix(&mut rng, n, k, pa, s % 4 == 1);
            let bt = transpose(&b, n, k, ldb, pb);
            let run = |tb: Trans, b: &[f32], ldb: usize| {
                let mut c = vec![0.0f32; m * n];
                sgemm_with(
                    kernel,
                    Trans::N,
                    tb,
                    m,
                    n,
                    k,
                    1.0,
                    &a,
                    k,
                    b,
                    ldb,
                    0.0,
                    &mut c,
                    n,
                );
                c
            };
            let row_major = run(Trans::T, &b, ldb);
            let k_major = run(Trans::N, &bt, n + pb);
            assert_bitwise(
                format!("{} m {m} n {n} k {k}", kernel.name()),
                &row_major,
                &k_major,
            );
        }
    }
}

/// `gemm_packed_b` (training's frozen-weight products) on the fastest f32 and bf16 kinds:
/// A row-major and K-major give the same C, bit for bit.
#[test]
fn packed_b_gemm_row_major_a_equals_k_major_a() {
    let mut rng = StdRng::seed_from_u64(13);
    for kind in [PackedKind::best_f32(), PackedKind::best_bf16()] {
        for (s, &(m, n, k)) in SHAPES.iter().enumerate() {
            let pa = (s + 1) % 3;
            let w = values(&mut rng, n * k, false);
            let packed = PackedB::from_f32(kind, Trans::T, &w, k, k, n);
            let lda = k + pa;
            let a = matrix(&mut rng, m, k, pa, s % 4 == 2);
            let at = transpose(&a, m, k, lda, pa);
            let run = |ta: Trans, a: &[f32], lda: usize| {
                let mut c = vec![0.0f32; m * n];
                gemm_packed_b(ta, m, 1.0, a, lda, &packed, 0.0, &mut c, n);
                c
            };
            let row_major = run(Trans::N, &a, lda);
            let k_major = run(Trans::T, &at, m + pa);
            assert_bitwise(format!("{kind:?} m {m} n {n} k {k}"), &row_major, &k_major);
        }
    }
}
