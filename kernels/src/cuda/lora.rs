//! LoRA linear layer on CUDA (PEFT `Linear`, without LoRA dropout):
//!
//! ```text
//! u  = x Aᵀ                          [M, R]   (saved for the backward)
//! y  = x Wᵀ + bias + s · u Bᵀ        [M, N]   (one tensor-core GEMM, low-rank epilogue)
//! ```
//! Backward (parameter gradients accumulate, activation gradients overwrite):
//! ```text
//! dB += s · dyᵀ u        [N, R]
//! du  = s · dy B         [M, R]
//! dA += duᵀ x            [R, K]
//! dx  = dy W + du A      [M, K]    (tensor-core GEMM, low-rank epilogue with V = Aᵀ)
//! ```
//! Shapes: x `[M, K]`, W `[N, K]` (frozen, 16-bit), A `[R, K]`, B `[N, R]` (f32 masters).

use cudarc::driver::CudaSlice;

use super::context::{check_exact, CudaDevice};
use super::error::CudaError;
use super::gemm::{gemm_cuda, sgemm_cuda, sgemm_named, Half, LowRank};
use crate::cpu::gemm::Trans;

/// Sizes of one LoRA linear layer applied to `m` rows.
#[derive(Clone, Copy, Debug)]
pub struct LoraShape {
    /// Rows (B·T tokens).
    pub m: usize,
    /// Output features.
    pub n: usize,
    /// Input features.
    pub k: usize,
    /// Rank.
    pub r: usize,
    /// `alpha / r` (or `alpha / sqrt(r)` for rsLoRA).
    pub scale: f32,
}

/// Forward: writes `y` `[M, N]` and `u` `[M, R]` (see module docs).
#[allow(clippy::too_many_arguments)]
pub fn lora_forward_cuda(
    dev: &CudaDevice,
    dtype: Half,
    s: LoraShape,
    y: &mut CudaSlice<f32>,
    u: &mut CudaSlice<f32>,
    x: &CudaSlice<u16>,
    w: &CudaSlice<u16>,
    bias: Option<&CudaSlice<f32>>,
    a: &CudaSlice<f32>,
    b: &CudaSlice<f32>,
) -> Result<(), CudaError> {
    const K: &str = "lora_forward_cuda";
    check_exact(K, "y", y, s.m * s.n)?;
    check_exact(K, "u", u, s.m * s.r)?;
    check_exact(K, "x", x, s.m * s.k)?;
    check_exact(K, "w", w, s.n * s.k)?;
    check_exact(K, "a", a, s.r * s.k)?;
    check_exact(K, "b", b, s.n * s.r)?;
    let down = match dtype {
        Half::Bf16 => "sgemm_nt_bf16_f32",
        Half::F16 => "sgemm_nt_f16_f32",
    };
    sgemm_named(
        dev,
        down,
        Trans::N,
        Trans::T,
        s.m,
        s.r,
        s.k,
        1.0,
        x,
        s.k,
        a,
        s.k,
        0.0,
        u,
        s.r,
    )?;
    let lora = LowRank {
        u,
        rank: s.r,
        v: b,
        v_stride_n: s.r,
        v_stride_r: 1,
        scale: s.scale,
    };
    gemm_cuda(
        dev,
        dtype,
        Trans::N,
        Trans::T,
        s.m,
        s.n,
        s.k,
        1.0,
        x,
        s.k,
        w,
        s.k,
        0.0,
        y,
        s.n,
        bias,
        Some(lora),
    )
}

/// Inputs of [`lora_backward_cuda`].
pub struct LoraSaved<'a> {
    /// `[M, N]` upstream gradient in f32 (for the skinny products) ...
    pub dy: &'a CudaSlice<f32>,
    /// ... and the same in 16-bit (for the tensor-core `dy W`).
    pub dy16: &'a CudaSlice<u16>,
    /// `[M, K]` layer input (16-bit).
    pub x: &'a CudaSlice<u16>,
    /// `[N, K]` frozen weight (16-bit).
    pub w: &'a CudaSlice<u16>,
    /// `[M, R]` saved `x Aᵀ`.
    pub u: &'a CudaSlice<f32>,
    /// `[R, K]`, `[N, R]` adapter weights.
    pub a: &'a CudaSlice<f32>,
    pub b: &'a CudaSlice<f32>,
}

/// Backward: `dx` overwritten, `da`, `db` accumulated; `du` `[M, R]` is scratch.
#[allow(clippy::too_many_arguments)]
pub fn lora_backward_cuda(
    dev: &CudaDevice,
    dtype: Half,
    s: LoraShape,
    dx: &mut CudaSlice<f32>,
    da: &mut CudaSlice<f32>,
    db: &mut CudaSlice<f32>,
    du: &mut CudaSlice<f32>,
    saved: &LoraSaved,
) -> Result<(), CudaError> {
    const K: &str = "lora_backward_cuda";
    check_exact(K, "dx", dx, s.m * s.k)?;
    check_exact(K, "da", da, s.r * s.k)?;
    check_exact(K, "db", db, s.n * s.r)?;
    check_exact(K, "du", du, s.m * s.r)?;
    check_exact(K, "dy", saved.dy, s.m * s.n)?;
    check_exact(K, "dy16", saved.dy16, s.m * s.n)?;
    check_exact(K, "u", saved.u, s.m * s.r)?;
    // dB += s · dyᵀ u
    sgemm_cuda(
        dev,
        Trans::T,
        Trans::N,
        s.n,
        s.r,
        s.m,
        s.scale,
        saved.dy,
        s.n,
        saved.u,
        s.r,
        1.0,
        db,
        s.r,
    )?;
    // du = s · dy B
    sgemm_cuda(
        dev,
        Trans::N,
        Trans::N,
        s.m,
        s.r,
        s.n,
        s.scale,
        saved.dy,
        s.n,
        saved.b,
        s.r,
        0.0,
        du,
        s.r,
    )?;
    // dA += duᵀ x
    let up = match dtype {
        Half::Bf16 => "sgemm_tn_f32_bf16",
        Half::F16 => "sgemm_tn_f32_f16",
    };
    sgemm_named(
        dev,
        up,
        Trans::T,
        Trans::N,
        s.r,
        s.k,
        s.m,
        1.0,
        du,
        s.r,
        saved.x,
        s.k,
        1.0,
        da,
        s.k,
    )?;
    // dx = dy W + du A   (V[n = k_in, r] = A[r, k_in])
    let lora = LowRank {
        u: du,
        rank: s.r,
        v: saved.a,
        v_stride_n: 1,
        v_stride_r: s.k,
        scale: 1.0,
    };
    gemm_cuda(
        dev,
        dtype,
        Trans::N,
        Trans::N,
        s.m,
        s.k,
        s.n,
        1.0,
        saved.dy16,
        s.n,
        saved.w,
        s.k,
        0.0,
        dx,
        s.k,
        None,
        Some(lora),
    )
}
