//! Dense layers in training: `y = x · Wᵀ + b` with W `[N, K]` either frozen (f32 or bf16,
//! memory-mapped) or trainable (f32 in the arena), and its backward:
//! `dx = dy · W` (input gradient, only when something below needs it),
//! `dW += dyᵀ · x`, `db += Σ_rows dy` (only for trainable weights).
//! Frozen weights packed once ([`super::frozen_packed`]) skip the per-call packing of W;
//! the results are bit for bit the same.

use half::bf16;
use tokken_engine::DType;
use tokken_kernels::cpu::bias::bias_backward;
use tokken_kernels::cpu::gemm::{
    gemm_f32_bf16, gemm_f32_bf16_bias, gemm_packed_b, gemm_packed_b_bias, sgemm, sgemm_bias, Trans,
};

use super::frozen_packed::DensePacked;
use crate::error::{ModelError, Result};
use crate::params::LinearParams;

/// A dense weight matrix as the GEMMs read it.
#[derive(Clone, Copy)]
pub enum WeightRef<'a> {
    F32(&'a [f32]),
    Bf16(&'a [bf16]),
}

/// A dense layer's weights: W `[N, K]` and bias `[N]`.
#[derive(Clone, Copy)]
pub struct Dense<'a> {
    pub w: WeightRef<'a>,
    pub b: &'a [f32],
    /// N (out features)
    pub n: usize,
    /// K (in features)
    pub k: usize,
    /// W packed once (frozen weights), used instead of `w` by the GEMMs.
    pub packed: Option<&'a DensePacked>,
}

impl<'a> Dense<'a> {
    /// A frozen layer of the base model, with its packed copies if any (they must have been
    /// packed from `lin.weight`).
    pub fn frozen(lin: &'a LinearParams, packed: Option<&'a DensePacked>) -> Result<Dense<'a>> {
        let w = match lin.weight.dtype() {
            DType::F32 => WeightRef::F32(lin.weight.as_f32()?),
            DType::BF16 => WeightRef::Bf16(lin.weight.as_bf16()?),
            other => {
                return Err(ModelError::Other(format!(
                    "training needs f32 or bf16 dense weights, found {other:?}"
                )))
            }
        };
        Ok(Dense {
            w,
            b: lin.bias.as_f32()?,
            n: lin.out_features,
            k: lin.in_features,
            packed,
        })
    }

    /// A trainable layer: views into the parameter arena.
    pub fn trainable(w: &'a [f32], b: &'a [f32], n: usize, k: usize) -> Dense<'a> {
        Dense {
            w: WeightRef::F32(w),
            b,
            n,
            k,
            packed: None,
        }
    }
}

/// `C = alpha · op(A) · op(W) + beta · C` with f32 A and W of either dtype.
#[allow(clippy::too_many_arguments)]
pub fn gemm_w(
    ta: Trans,
    tw: Trans,
    m: usize,
    n: usize,
    k: usize,
    alpha: f32,
    a: &[f32],
    lda: usize,
    w: WeightRef<'_>,
    ldw: usize,
    beta: f32,
    c: &mut [f32],
    ldc: usize,
) {
    match w {
        WeightRef::F32(w) => sgemm(ta, tw, m, n, k, alpha, a, lda, w, ldw, beta, c, ldc),
        WeightRef::Bf16(w) => gemm_f32_bf16(ta, tw, m, n, k, alpha, a, lda, w, ldw, beta, c, ldc),
    }
}

/// `out[rows, N] = inp[rows, K] · Wᵀ + b`.
pub fn dense_forward(out: &mut [f32], inp: &[f32], d: &Dense<'_>, rows: usize) {
    let out = &mut out[..rows * d.n];
    if let Some(p) = d.packed {
        // Each C tile starts at the bias inside the GEMM: the same bits as filling `out`
        // with the bias and then beta = 1, without the extra pass over `out`.
        gemm_packed_b_bias(Trans::N, rows, 1.0, inp, d.k, p.forward(), d.b, out, d.n);
        return;
    }
    // The same: each C tile starts at the bias while it is in cache.
    let (n, k) = (d.n, d.k);
    match d.w {
        WeightRef::F32(w) => sgemm_bias(rows, n, k, inp, k, w, k, d.b, None, out, n),
        WeightRef::Bf16(w) => gemm_f32_bf16_bias(rows, n, k, inp, k, w, k, d.b, None, out, n),
    }
}

/// `dinp[rows, K] (= or +=) dout[rows, N] · W`.
pub fn dense_backward_input(
    dinp: &mut [f32],
    accumulate: bool,
    dout: &[f32],
    d: &Dense<'_>,
    rows: usize,
) {
    let beta = if accumulate { 1.0 } else { 0.0 };
    if let Some(p) = d.packed {
        let dinp = &mut dinp[..rows * d.k];
        gemm_packed_b(
            Trans::N,
            rows,
            1.0,
            dout,
            d.n,
            p.input_grad(),
            beta,
            dinp,
            d.k,
        );
        return;
    }
    gemm_w(
        Trans::N,
        Trans::N,
        rows,
        d.k,
        d.n,
        1.0,
        dout,
        d.n,
        d.w,
        d.k,
        beta,
        &mut dinp[..rows * d.k],
        d.k,
    );
}

/// `dw[N, K] += dout[rows, N]ᵀ · inp[rows, K]`, `db[N] += Σ_rows dout`.
pub fn dense_backward_params(
    dw: &mut [f32],
    db: &mut [f32],
    dout: &[f32],
    inp: &[f32],
    rows: usize,
    n: usize,
    k: usize,
) {
    sgemm(
        Trans::T,
        Trans::N,
        n,
        k,
        rows,
        1.0,
        dout,
        n,
        inp,
        k,
        1.0,
        dw,
        k,
    );
    bias_backward(db, &dout[..rows * n], rows, n);
}
