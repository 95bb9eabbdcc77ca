//! Shared pieces of the GEMM tests (`gemm.rs`, `gemm_packed_b.rs`, `gemm_prepacked.rs`):
//! one problem with padded leading dims, its random shapes and operands, the ordinary
//! GEMM a packed kind stands for, and a bit-for-bit comparison.

use std::fmt::Display;

use half::bf16;
use rand::rngs::StdRng;
use rand::Rng;
use tokken_kernels::cpu::gemm::{gemm_f32_bf16_with, sgemm_with, PackedKind, Trans};

/// One `C[m, n] = alpha op(A) op(B) + beta C` problem with padded leading dims.
#[derive(Clone, Debug)]
pub struct Case {
    pub ta: Trans,
    pub tb: Trans,
    pub m: usize,
    pub n: usize,
    pub k: usize,
    pub alpha: f32,
    pub beta: f32,
    pub lda: usize,
    pub ldb: usize,
    pub ldc: usize,
}

impl Case {
    pub fn a_len(&self) -> usize {
        stored_len(self.ta, self.m, self.k, self.lda)
    }
    pub fn b_len(&self) -> usize {
        stored_len(self.tb, self.k, self.n, self.ldb)
    }
    pub fn c_len(&self) -> usize {
        stored_len(Trans::N, self.m, self.n, self.ldc)
    }
}

/// Stored rows x columns of an operand `op(X)` of `rows x cols`.
pub fn stored(t: Trans, rows: usize, cols: usize) -> (usize, usize) {
    match t {
        Trans::N => (rows, cols),
        Trans::T => (cols, rows),
    }
}

/// Elements a `rows x cols` op(X) stored with `ld` spans (the exact minimum).
pub fn stored_len(t: Trans, rows: usize, cols: usize, ld: usize) -> usize {
    let (sr, sc) = stored(t, rows, cols);
    if sr == 0 || sc == 0 {
        0
    } else {
        (sr - 1) * ld + sc
    }
}

/// `len` values uniform in `[-1, 1)`.
pub fn random_vec(rng: &mut StdRng, len: usize) -> Vec<f32> {
    super::randn(rng, len, 1.0)
}

/// A dimension: half the time in `1..=20` (tile edges), otherwise in `1..=hi`.
pub fn random_dim(rng: &mut StdRng, hi: usize) -> usize {
    if rng.random_bool(0.5) {
        rng.random_range(1..=20)
    } else {
        rng.random_range(1..=hi)
    }
}

/// Padding past a row: none half the time, otherwise 1–6 elements.
pub fn random_pad(rng: &mut StdRng) -> usize {
    if rng.random_bool(0.5) {
        0
    } else {
        rng.random_range(1..7)
    }
}

/// `fixed` (m, n, k) shapes, then `count` random ones (m, n up to 200, k up to 300).
pub fn shapes(
    rng: &mut StdRng,
    fixed: &[(usize, usize, usize)],
    count: usize,
) -> Vec<(usize, usize, usize)> {
    let mut out = fixed.to_vec();
    for _ in 0..count {
        out.push((
            random_dim(rng, 200),
            random_dim(rng, 200),
            random_dim(rng, 300),
        ));
    }
    out
}

/// Value of C's padding between rows, which every GEMM must leave untouched.
pub const SENTINEL: f32 = 12345.0;

/// Initial C: NaN inside the view when beta == 0 (must be ignored), random otherwise;
/// [`SENTINEL`] in the padding.
pub fn initial_c(rng: &mut StdRng, case: &Case) -> Vec<f32> {
    let mut c = vec![SENTINEL; case.c_len()];
    for i in 0..case.m {
        for j in 0..case.n {
            c[i * case.ldc + j] = if case.beta == 0.0 {
                f32::NAN
            } else {
                rng.random_range(-1.0..1.0)
            };
        }
    }
    c
}

/// Operands of a case: A, B and an initial C ([`initial_c`]).
pub fn operands(rng: &mut StdRng, case: &Case) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let a = random_vec(rng, case.a_len());
    let b = random_vec(rng, case.b_len());
    let c0 = initial_c(rng, case);
    (a, b, c0)
}

/// `c = alpha op(A) op(B) + beta c` through the ordinary (packing) GEMM that `kind` packs
/// for: `sgemm_with` on its f32 kernel, or `gemm_f32_bf16_with` on B rounded to bf16.
pub fn unpacked_gemm(kind: PackedKind, case: &Case, a: &[f32], b: &[f32], c: &mut [f32]) {
    let Case {
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
    } = *case;
    match kind {
        PackedKind::F32(kernel) => {
            sgemm_with(kernel, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
        }
        PackedKind::Bf16(kernel) => {
            let b: Vec<bf16> = b.iter().map(|&v| bf16::from_f32(v)).collect();
            gemm_f32_bf16_with(
                kernel, ta, tb, m, n, k, alpha, a, lda, &b, ldb, beta, c, ldc,
            )
        }
    }
}

/// Panics naming `what` and the first element whose bits differ.
pub fn assert_bitwise(what: impl Display, got: &[f32], want: &[f32]) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    if let Some((i, (g, w))) = got
        .iter()
        .zip(want)
        .enumerate()
        .find(|(_, (g, w))| g.to_bits() != w.to_bits())
    {
        panic!("{what}: element {i} differs: got {g} want {w}");
    }
}
