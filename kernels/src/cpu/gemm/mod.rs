//! General matrix multiply, row-major: `C = alpha * op(A) * op(B) + beta * C`.
//!
//! `op(A)` is `m x k`, `op(B)` is `k x n`, `C` is `m x n`. With [`Trans::N`] A is stored
//! `m x k` with row stride `lda`; with [`Trans::T`] it is stored `k x m` with row stride `lda`
//! (same for B). `beta == 0` means C is write-only: its old contents (even NaN) are ignored.
//!
//! PLACEHOLDER: a naive loop so dependants compile; the packed, SIMD version replaces it.

/// Whether an operand is used as stored (`N`) or transposed (`T`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trans {
    N,
    T,
}

/// f32 GEMM (see module docs for the layout contract).
#[allow(clippy::too_many_arguments)]
pub fn sgemm(
    ta: Trans,
    tb: Trans,
    m: usize,
    n: usize,
    k: usize,
    alpha: f32,
    a: &[f32],
    lda: usize,
    b: &[f32],
    ldb: usize,
    beta: f32,
    c: &mut [f32],
    ldc: usize,
) {
    for i in 0..m {
        for j in 0..n {
            let mut acc = 0.0f32;
            for p in 0..k {
                let av = match ta {
                    Trans::N => a[i * lda + p],
                    Trans::T => a[p * lda + i],
                };
                let bv = match tb {
                    Trans::N => b[p * ldb + j],
                    Trans::T => b[j * ldb + p],
                };
                acc += av * bv;
            }
            let cv = &mut c[i * ldc + j];
            *cv = if beta == 0.0 { alpha * acc } else { alpha * acc + beta * *cv };
        }
    }
}
