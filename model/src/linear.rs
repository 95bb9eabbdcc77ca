//! Dense layer forward: `y = x · Wᵀ + b (+ residual)` with W stored `[out, in]`.

use tokken_engine::DType;
use tokken_kernels::cpu::gemm::{gemm_f32_bf16_bias, gemm_prepacked_bias, sgemm_bias};

use crate::error::{ModelError, Result};
use crate::params::LinearParams;
use crate::prepacked::Prepacked;

/// Above this many rows the plain GEMM is faster than the prepacked one: packing W per
/// call is amortised over many rows, and the prepacked path's transposed tile copies cost
/// a few percent. Measured crossovers: on Zen 4 between 384 and 1024 rows while the plain
/// path still filled C in a separate pass; on an Intel Emerald Rapids VM, once C tiles
/// started at the bias inside the GEMM, a tie at 384 rows and the plain path ahead at 512
/// (8 x 64 and 16 x 32 tokens, 3 or 4 of 4 alternating pairs).
pub const PREPACKED_MAX_ROWS: usize = 384;

/// `out[rows, out] = inp[rows, in] · Wᵀ + bias (+ residual[rows, out])`.
///
/// f32 weights use `sgemm_bias`; bf16 weights use `gemm_f32_bf16_bias` (f32 activations,
/// f32 accumulation).
pub fn linear_forward(
    out: &mut [f32],
    inp: &[f32],
    residual: Option<&[f32]>,
    lin: &LinearParams,
    rows: usize,
) -> Result<()> {
    linear_forward_packed(out, inp, residual, lin, None, rows)
}

/// [`linear_forward`] through `packed` when it was packed from `lin.weight` (bit for bit the
/// same result without re-packing W), else the plain GEMM.
pub fn linear_forward_packed(
    out: &mut [f32],
    inp: &[f32],
    residual: Option<&[f32]>,
    lin: &LinearParams,
    packed: Option<&Prepacked>,
    rows: usize,
) -> Result<()> {
    let (n, k) = (lin.out_features, lin.in_features);
    let out = &mut out[..rows * n];
    let inp = &inp[..rows * k];
    let bias = lin.bias.as_f32()?;
    if let Some(pw) = packed
        .filter(|_| rows <= PREPACKED_MAX_ROWS)
        .and_then(|p| p.get(&lin.weight))
    {
        // X·Wᵀ + (residual + bias) in one pass: each C tile starts at residual + bias and
        // every K block accumulates onto it, the roundings of the beta = 1 path below.
        let residual = residual.map(|r| (&r[..rows * n], n));
        gemm_prepacked_bias(rows, inp, k, pw, bias, residual, out, n);
        return Ok(());
    }
    // X·Wᵀ + (residual + bias): each C tile starts at residual + bias while it is in cache.
    let residual = residual.map(|r| (&r[..rows * n], n));
    if let (DType::F32, Some(parts)) = (lin.weight.dtype(), lin.weight.stacked_parts()) {
        // A fused weight stacked from parts (q|k|v of a mapped checkpoint): one GEMM per
        // part into its block of columns, reading each part in place. Every output element
        // sums the same products in the same order as the fused GEMM.
        let mut col = 0;
        for part in parts {
            let (w, n_part) = (part.as_f32()?, part.shape()[0]);
            let bias = &bias[col..col + n_part];
            let residual = residual.map(|(r, ld)| (&r[col..], ld));
            sgemm_bias(
                rows,
                n_part,
                k,
                inp,
                k,
                w,
                k,
                bias,
                residual,
                &mut out[col..],
                n,
            );
            col += n_part;
        }
        return Ok(());
    }
    match lin.weight.dtype() {
        DType::F32 => {
            let w = lin.weight.as_f32()?;
            sgemm_bias(rows, n, k, inp, k, w, k, bias, residual, out, n);
        }
        DType::BF16 => {
            let w = lin.weight.as_bf16()?;
            gemm_f32_bf16_bias(rows, n, k, inp, k, w, k, bias, residual, out, n);
        }
        other => {
            return Err(ModelError::Other(format!(
                "dense weights in {other:?} are not supported on CPU (use f32 or bf16)"
            )))
        }
    }
    Ok(())
}
