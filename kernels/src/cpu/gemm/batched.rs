//! Batched f32 GEMM: `batch` independent products at fixed element strides.

use rayon::prelude::*;

use super::driver::PAR_MIN_FLOPS;
use super::pack::View;
use super::{check_operand, run_f32, Kernel, Trans};

/// `C_i = alpha * op(A_i) * op(B_i) + beta * C_i` for `i < batch`, where `A_i` starts at
/// `a[i * stride_a]` (likewise B, C) and each product follows [`super::sgemm`]'s contract.
///
/// Typical use: attention scores `[T, HS] x [HS, T]` for every (batch, head). A and B
/// strides may be 0 (shared operand); C items must not overlap
/// (`stride_c >= (m - 1) * ldc + n` when `batch > 1`). Many small products run in
/// parallel over the batch, each on one thread; a few large ones run one after another,
/// each parallel inside.
#[allow(clippy::too_many_arguments)]
pub fn sgemm_batched(
    ta: Trans,
    tb: Trans,
    m: usize,
    n: usize,
    k: usize,
    alpha: f32,
    a: &[f32],
    lda: usize,
    stride_a: usize,
    b: &[f32],
    ldb: usize,
    stride_b: usize,
    beta: f32,
    c: &mut [f32],
    ldc: usize,
    stride_c: usize,
    batch: usize,
) {
    sgemm_batched_with(
        Kernel::best(),
        ta,
        tb,
        m,
        n,
        k,
        alpha,
        a,
        lda,
        stride_a,
        b,
        ldb,
        stride_b,
        beta,
        c,
        ldc,
        stride_c,
        batch,
    )
}

/// [`sgemm_batched`] on a chosen kernel; panics if this CPU cannot run it.
#[allow(clippy::too_many_arguments)]
pub fn sgemm_batched_with(
    kernel: Kernel,
    ta: Trans,
    tb: Trans,
    m: usize,
    n: usize,
    k: usize,
    alpha: f32,
    a: &[f32],
    lda: usize,
    stride_a: usize,
    b: &[f32],
    ldb: usize,
    stride_b: usize,
    beta: f32,
    c: &mut [f32],
    ldc: usize,
    stride_c: usize,
    batch: usize,
) {
    if batch == 0 {
        return;
    }
    // The last item must fit; earlier ones start lower, so they fit too.
    let last = batch - 1;
    let tail = |len: usize, stride: usize, name: &str| -> usize {
        let start = last
            .checked_mul(stride)
            .expect("gemm batched: stride overflow");
        assert!(
            start <= len,
            "gemm batched: {name} has {len} elements but item {last} starts at {start}"
        );
        len - start
    };
    check_operand("a", ta, m, k, tail(a.len(), stride_a, "a"), lda);
    check_operand("b", tb, k, n, tail(b.len(), stride_b, "b"), ldb);
    check_operand("c", Trans::N, m, n, tail(c.len(), stride_c, "c"), ldc);
    if m == 0 || n == 0 {
        return;
    }
    let c_item = (m - 1) * ldc + n;
    assert!(
        batch == 1 || stride_c >= c_item,
        "gemm batched: stride_c = {stride_c} makes C items overlap (each spans {c_item})"
    );
    let (va, vb) = (View::a(ta, a, lda), View::b(tb, b, ldb));
    let id = super::conv::Identity;
    let item = |i: usize, ci: &mut [f32], parallel: bool| {
        let (ai, bi) = (va.at(i * stride_a), vb.at(i * stride_b));
        let rows_a = (ta == Trans::N).then(|| (&a[i * stride_a..], lda));
        let start = super::driver::CStart::Beta(beta);
        run_f32(
            kernel, m, n, k, alpha, ai, id, rows_a, bi, id, start, ci, ldc, parallel,
        );
    };
    let threads = rayon::current_num_threads();
    let small = m.saturating_mul(n).saturating_mul(k).saturating_mul(2) < PAR_MIN_FLOPS;
    if batch == 1 {
        item(0, c, true);
    } else if small || batch >= 4 * threads {
        c.par_chunks_mut(stride_c)
            .take(batch)
            .enumerate()
            .for_each(|(i, ci)| item(i, ci, false));
    } else {
        for (i, ci) in c.chunks_mut(stride_c).take(batch).enumerate() {
            item(i, ci, true);
        }
    }
}
