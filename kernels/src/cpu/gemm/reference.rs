//! Scalar reference GEMM: the obvious triple loop with f64 accumulation, kept for tests.

use super::{check_args, Trans};

/// Scalar reference for [`super::sgemm`] (same arguments and contract), accumulating in f64.
///
/// Slow on purpose: it is the yardstick every SIMD kernel is compared against.
#[allow(clippy::too_many_arguments)]
pub fn reference_sgemm(
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
    check_args(ta, tb, m, n, k, a.len(), lda, b.len(), ldb, c.len(), ldc);
    for i in 0..m {
        for j in 0..n {
            let mut acc = 0.0f64;
            for p in 0..k {
                let av = match ta {
                    Trans::N => a[i * lda + p],
                    Trans::T => a[p * lda + i],
                };
                let bv = match tb {
                    Trans::N => b[p * ldb + j],
                    Trans::T => b[j * ldb + p],
                };
                acc += av as f64 * bv as f64;
            }
            let cv = &mut c[i * ldc + j];
            let prod = alpha as f64 * acc;
            *cv = if beta == 0.0 {
                prod as f32
            } else {
                (prod + beta as f64 * *cv as f64) as f32
            };
        }
    }
}
