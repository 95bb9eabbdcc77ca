//! GEMM launchers: `gemm_cuda` (tensor cores, bf16/f16 inputs: `gemm.cu` with `mma.sync`
//! on any sm_80+ device, or `gemm_wgmma.cu` with Hopper's `wgmma` on sm_90a) and
//! `sgemm_cuda` (SIMT, any shape, `sgemm.cu`). Same row-major convention as
//! [`crate::cpu::gemm`]: `C = alpha * op(A) * op(B) + beta * C`, `op(A)` `[M, K]`,
//! `op(B)` `[K, N]`, [`Trans::T`] means stored transposed; plus, on the tensor-core path,
//! an optional bias `[N]` and low-rank term ([`LowRank`]).
//!
//! 16-bit operands live in `CudaSlice<u16>` (the bits of `half::bf16` / `half::f16`).

use cudarc::driver::{CudaSlice, DevicePtr, LaunchConfig, PushKernelArg};

use super::context::{check_len, CudaDevice};
use super::error::{env_choice, shape, CudaError};
use super::sources;
use crate::cpu::gemm::Trans;

/// Element type of the tensor-core GEMM's inputs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Half {
    Bf16,
    F16,
}

/// `C += scale * U Vᵀ` fused into the GEMM epilogue: `u` is `[M, rank]` (row stride rank),
/// `V[n, r] = v[n * v_stride_n + r * v_stride_r]` (`[N, rank]` row-major: strides
/// `(rank, 1)`; `Aᵀ` of an `[rank, N]` matrix: `(1, N)`).
#[derive(Clone, Copy)]
pub struct LowRank<'a> {
    pub u: &'a CudaSlice<f32>,
    pub rank: usize,
    pub v: &'a CudaSlice<f32>,
    pub v_stride_n: usize,
    pub v_stride_r: usize,
    pub scale: f32,
}

/// Which tensor-core GEMM kernels [`gemm_cuda`] launches (same contract and results up to
/// f32 summation order).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TensorCoreKernel {
    /// `gemm.cu`: `mma.sync.m16n8k16` fed by `ldmatrix`, any sm_80+ device. The default:
    /// it is the one proved on a GPU so far.
    MmaSync,
    /// `gemm_wgmma.cu`: Hopper warpgroup MMA reading swizzled shared memory through
    /// descriptors, sm_90a only; 128 x 256 tiles when N >= 512, else 128 x 128. Chosen with
    /// `TOKKEN_CUDA_GEMM=wgmma` or [`CudaDevice::use_tensor_core_kernel`].
    Wgmma,
    /// [`TensorCoreKernel::Wgmma`] with 128 x 128 tiles always (`wgmma128`).
    Wgmma128,
    /// [`TensorCoreKernel::Wgmma`] with 128 x 256 tiles always (`wgmma256`).
    Wgmma256,
}

impl TensorCoreKernel {
    /// `$TOKKEN_CUDA_GEMM`: `mma` (or unset), `wgmma`, `wgmma128` or `wgmma256`.
    pub fn from_env() -> Result<Self, CudaError> {
        Self::parse(std::env::var("TOKKEN_CUDA_GEMM").ok().as_deref())
    }

    /// A `TOKKEN_CUDA_GEMM` value.
    pub fn parse(value: Option<&str>) -> Result<Self, CudaError> {
        env_choice(
            "TOKKEN_CUDA_GEMM",
            value,
            &[
                ("mma", Self::MmaSync),
                ("wgmma", Self::Wgmma),
                ("wgmma128", Self::Wgmma128),
                ("wgmma256", Self::Wgmma256),
            ],
        )
    }

    /// `self` when the architecture can run it.
    pub fn check_arch(self, arch: &str) -> Result<Self, CudaError> {
        if self != Self::MmaSync && arch != "sm_90a" {
            return Err(CudaError::Config(format!(
                "the wgmma GEMM needs a Hopper (sm_90a) device; this one is {arch} (unset TOKKEN_CUDA_GEMM)"
            )));
        }
        Ok(self)
    }

    /// The wgmma tile width for an `n`-column output, `None` for `mma.sync`.
    fn wgmma_tile_n(self, n: usize) -> Option<usize> {
        match self {
            Self::MmaSync => None,
            Self::Wgmma if n >= 512 => Some(256),
            Self::Wgmma | Self::Wgmma128 => Some(128),
            Self::Wgmma256 => Some(256),
        }
    }
}

// gemm.cu's tiles.
const BM: usize = 128;
const BN: usize = 128;
const BK: usize = 32;
const STAGES: usize = 3;
const PAD: usize = 8;
// gemm_wgmma.cu's: 128-row blocks, 4 stages of a 128 x 64 A tile and a BN x 64 B tile, plus
// 1024 bytes so the kernel can align the ring to 1024.
const WG_BM: usize = 128;
fn wg_smem(bn: usize) -> usize {
    4 * (128 * 64 * 2 + bn * 64 * 2) + 1024
}

/// gemm.cu's dynamic shared memory: STAGES pairs of padded 16-bit A and B tiles.
fn gemm_cu_smem(ta: Trans, tb: Trans) -> u32 {
    let a_elems = if ta == Trans::T {
        BK * (BM + PAD)
    } else {
        BM * (BK + PAD)
    };
    let b_elems = if tb == Trans::T {
        BN * (BK + PAD)
    } else {
        BK * (BN + PAD)
    };
    (STAGES * (a_elems + b_elems) * 2) as u32
}

/// Elements a stored `rows x cols` matrix with leading dimension `ld` spans.
fn span(rows: usize, cols: usize, ld: usize) -> usize {
    if rows == 0 || cols == 0 {
        0
    } else {
        (rows - 1) * ld + cols
    }
}

/// Stored (rows, cols) of an operand that is `op_rows x op_cols` after `t`.
fn stored(t: Trans, op_rows: usize, op_cols: usize) -> (usize, usize) {
    match t {
        Trans::N => (op_rows, op_cols),
        Trans::T => (op_cols, op_rows),
    }
}

fn to_i32(kernel: &'static str, what: &str, v: usize) -> Result<i32, CudaError> {
    i32::try_from(v).map_err(|_| shape(kernel, format!("{what} = {v} exceeds i32")))
}

/// Tensor-core GEMM (see module docs). Layout contract: each operand's stored row length
/// (its contiguous dimension) and leading dimension are multiples of 8, `TT` is not
/// supported (use [`sgemm_cuda`]).
#[allow(clippy::too_many_arguments)]
pub fn gemm_cuda(
    dev: &CudaDevice,
    dtype: Half,
    ta: Trans,
    tb: Trans,
    m: usize,
    n: usize,
    k: usize,
    alpha: f32,
    a: &CudaSlice<u16>,
    lda: usize,
    b: &CudaSlice<u16>,
    ldb: usize,
    beta: f32,
    c: &mut CudaSlice<f32>,
    ldc: usize,
    bias: Option<&CudaSlice<f32>>,
    lora: Option<LowRank>,
) -> Result<(), CudaError> {
    const K: &str = "gemm_cuda";
    let wgmma_bn = dev.tensor_core_kernel().wgmma_tile_n(n);
    let name = match (wgmma_bn, dtype, ta, tb) {
        (_, _, Trans::T, Trans::T) => {
            return Err(shape(
                K,
                "TT is not supported on tensor cores; use sgemm_cuda",
            ))
        }
        (None, Half::Bf16, Trans::N, Trans::N) => "gemm_nn_bf16",
        (None, Half::Bf16, Trans::N, Trans::T) => "gemm_nt_bf16",
        (None, Half::Bf16, Trans::T, Trans::N) => "gemm_tn_bf16",
        (None, Half::F16, Trans::N, Trans::N) => "gemm_nn_f16",
        (None, Half::F16, Trans::N, Trans::T) => "gemm_nt_f16",
        (None, Half::F16, Trans::T, Trans::N) => "gemm_tn_f16",
        (Some(128), Half::Bf16, Trans::N, Trans::N) => "gemm_wgmma_nn_bf16",
        (Some(128), Half::Bf16, Trans::N, Trans::T) => "gemm_wgmma_nt_bf16",
        (Some(128), Half::Bf16, Trans::T, Trans::N) => "gemm_wgmma_tn_bf16",
        (Some(128), Half::F16, Trans::N, Trans::N) => "gemm_wgmma_nn_f16",
        (Some(128), Half::F16, Trans::N, Trans::T) => "gemm_wgmma_nt_f16",
        (Some(128), Half::F16, Trans::T, Trans::N) => "gemm_wgmma_tn_f16",
        (Some(_), Half::Bf16, Trans::N, Trans::N) => "gemm_wgmma256_nn_bf16",
        (Some(_), Half::Bf16, Trans::N, Trans::T) => "gemm_wgmma256_nt_bf16",
        (Some(_), Half::Bf16, Trans::T, Trans::N) => "gemm_wgmma256_tn_bf16",
        (Some(_), Half::F16, Trans::N, Trans::N) => "gemm_wgmma256_nn_f16",
        (Some(_), Half::F16, Trans::N, Trans::T) => "gemm_wgmma256_nt_f16",
        (Some(_), Half::F16, Trans::T, Trans::N) => "gemm_wgmma256_tn_f16",
    };
    let (ar, ac) = stored(ta, m, k);
    let (br, bc) = stored(tb, k, n);
    for (what, cols, ld) in [("A", ac, lda), ("B", bc, ldb)] {
        if cols % 8 != 0 || ld % 8 != 0 || ld < cols {
            return Err(shape(
                K,
                format!("{what}: stored row length {cols} and leading dimension {ld} must be multiples of 8 (ld >= row length)"),
            ));
        }
    }
    if ldc < n {
        return Err(shape(K, format!("ldc = {ldc} < N = {n}")));
    }
    check_len(K, "A", a, span(ar, ac, lda))?;
    check_len(K, "B", b, span(br, bc, ldb))?;
    check_len(K, "C", c, span(m, n, ldc))?;
    if let Some(bias) = bias {
        check_len(K, "bias", bias, n)?;
    }
    if let Some(l) = &lora {
        check_len(K, "lora u", l.u, m * l.rank)?;
        if l.rank > 0 && n > 0 {
            check_len(
                K,
                "lora v",
                l.v,
                (n - 1) * l.v_stride_n + (l.rank - 1) * l.v_stride_r + 1,
            )?;
        }
    }
    if m == 0 || n == 0 {
        return Ok(());
    }
    let (bm, bn) = match wgmma_bn {
        Some(wbn) => (WG_BM, wbn),
        None => (BM, BN),
    };
    if m.div_ceil(bm) > 65_535 {
        return Err(shape(K, format!("M = {m} exceeds the grid's y limit")));
    }
    let (src, smem) = match wgmma_bn {
        Some(wbn) => (&sources::GEMM_WGMMA, wg_smem(wbn) as u32),
        None => (&sources::GEMM, gemm_cu_smem(ta, tb)),
    };
    let f = dev.function_with_smem(src, name, smem)?;
    let cfg = LaunchConfig {
        grid_dim: (n.div_ceil(bn) as u32, m.div_ceil(bm) as u32, 1),
        block_dim: (256, 1, 1),
        shared_mem_bytes: smem,
    };
    let stream = dev.stream();
    let (mi, ni, ki) = (to_i32(K, "M", m)?, to_i32(K, "N", n)?, to_i32(K, "K", k)?);
    let (ldai, ldbi, ldci) = (
        to_i32(K, "lda", lda)?,
        to_i32(K, "ldb", ldb)?,
        to_i32(K, "ldc", ldc)?,
    );
    // Optional operands travel as raw device pointers (0 = absent); the guards keep them
    // ordered on the stream.
    let bias_ptr = bias.map(|s| s.device_ptr(stream));
    let u_ptr = lora.as_ref().map(|l| l.u.device_ptr(stream));
    let v_ptr = lora.as_ref().map(|l| l.v.device_ptr(stream));
    let bias_raw: u64 = bias_ptr.as_ref().map_or(0, |p| p.0);
    let u_raw: u64 = u_ptr.as_ref().map_or(0, |p| p.0);
    let v_raw: u64 = v_ptr.as_ref().map_or(0, |p| p.0);
    let (rank, sn, sr, scale) = match &lora {
        Some(l) => (
            to_i32(K, "rank", l.rank)?,
            to_i32(K, "v_stride_n", l.v_stride_n)?,
            to_i32(K, "v_stride_r", l.v_stride_r)?,
            l.scale,
        ),
        None => (0, 0, 0, 0.0f32),
    };
    let mut launch = stream.launch_builder(&f);
    launch
        .arg(&mi)
        .arg(&ni)
        .arg(&ki)
        .arg(a)
        .arg(&ldai)
        .arg(b)
        .arg(&ldbi)
        .arg(c)
        .arg(&ldci)
        .arg(&alpha)
        .arg(&beta)
        .arg(&bias_raw)
        .arg(&u_raw)
        .arg(&rank)
        .arg(&v_raw)
        .arg(&sn)
        .arg(&sr)
        .arg(&scale);
    // SAFETY: argument list matches GEMM_ENTRY in gemm.cu and WGMMA_ENTRY in gemm_wgmma.cu;
    // buffer extents checked above.
    unsafe { launch.launch(cfg) }?;
    Ok(())
}

/// SIMT GEMM with f32 operands, any shape and leading dimensions.
#[allow(clippy::too_many_arguments)]
pub fn sgemm_cuda(
    dev: &CudaDevice,
    ta: Trans,
    tb: Trans,
    m: usize,
    n: usize,
    k: usize,
    alpha: f32,
    a: &CudaSlice<f32>,
    lda: usize,
    b: &CudaSlice<f32>,
    ldb: usize,
    beta: f32,
    c: &mut CudaSlice<f32>,
    ldc: usize,
) -> Result<(), CudaError> {
    let name = match (ta, tb) {
        (Trans::N, Trans::N) => "sgemm_nn_f32",
        (Trans::N, Trans::T) => "sgemm_nt_f32",
        (Trans::T, Trans::N) => "sgemm_tn_f32",
        (Trans::T, Trans::T) => "sgemm_tt_f32",
    };
    sgemm_named(
        dev, name, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc,
    )
}

/// SIMT GEMM by kernel name, operands of any element type the kernel reads.
#[allow(clippy::too_many_arguments)]
pub(crate) fn sgemm_named<A: cudarc::driver::DeviceRepr, B: cudarc::driver::DeviceRepr>(
    dev: &CudaDevice,
    name: &'static str,
    ta: Trans,
    tb: Trans,
    m: usize,
    n: usize,
    k: usize,
    alpha: f32,
    a: &CudaSlice<A>,
    lda: usize,
    b: &CudaSlice<B>,
    ldb: usize,
    beta: f32,
    c: &mut CudaSlice<f32>,
    ldc: usize,
) -> Result<(), CudaError> {
    let (ar, ac) = stored(ta, m, k);
    let (br, bc) = stored(tb, k, n);
    if lda < ac || ldb < bc || ldc < n {
        return Err(shape(
            name,
            format!("leading dimensions lda {lda} / ldb {ldb} / ldc {ldc} below row lengths {ac} / {bc} / {n}"),
        ));
    }
    check_len(name, "A", a, span(ar, ac, lda))?;
    check_len(name, "B", b, span(br, bc, ldb))?;
    check_len(name, "C", c, span(m, n, ldc))?;
    if m == 0 || n == 0 {
        return Ok(());
    }
    if m.div_ceil(16) > 65_535 {
        return Err(shape(name, format!("M = {m} exceeds the grid's y limit")));
    }
    let f = dev.function(&sources::SGEMM, name)?;
    let cfg = LaunchConfig {
        grid_dim: (n.div_ceil(16) as u32, m.div_ceil(16) as u32, 1),
        block_dim: (256, 1, 1),
        shared_mem_bytes: 0,
    };
    let (mi, ni, ki) = (
        to_i32(name, "M", m)?,
        to_i32(name, "N", n)?,
        to_i32(name, "K", k)?,
    );
    let (ldai, ldbi, ldci) = (
        to_i32(name, "lda", lda)?,
        to_i32(name, "ldb", ldb)?,
        to_i32(name, "ldc", ldc)?,
    );
    let mut launch = dev.stream().launch_builder(&f);
    launch
        .arg(&mi)
        .arg(&ni)
        .arg(&ki)
        .arg(a)
        .arg(&ldai)
        .arg(b)
        .arg(&ldbi)
        .arg(c)
        .arg(&ldci)
        .arg(&alpha)
        .arg(&beta);
    // SAFETY: argument list matches SGEMM_ENTRY in sgemm.cu; extents checked above.
    unsafe { launch.launch(cfg) }?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_choice_parses_and_needs_hopper_for_wgmma() {
        use TensorCoreKernel::*;
        assert_eq!(TensorCoreKernel::parse(None).unwrap(), MmaSync);
        assert_eq!(TensorCoreKernel::parse(Some("")).unwrap(), MmaSync);
        assert_eq!(TensorCoreKernel::parse(Some("mma")).unwrap(), MmaSync);
        assert_eq!(TensorCoreKernel::parse(Some("wgmma")).unwrap(), Wgmma);
        assert_eq!(TensorCoreKernel::parse(Some("wgmma128")).unwrap(), Wgmma128);
        assert_eq!(TensorCoreKernel::parse(Some("wgmma256")).unwrap(), Wgmma256);
        assert_eq!(Wgmma.wgmma_tile_n(768), Some(256));
        assert_eq!(Wgmma.wgmma_tile_n(96), Some(128));
        assert_eq!(Wgmma128.wgmma_tile_n(4096), Some(128));
        assert_eq!(Wgmma256.wgmma_tile_n(8), Some(256));
        assert_eq!(MmaSync.wgmma_tile_n(4096), None);
        // the 256-wide ring fits the 227 KB a block may opt into
        assert!(wg_smem(256) <= 227 * 1024);
        let e = TensorCoreKernel::parse(Some("cublas"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("TOKKEN_CUDA_GEMM") && e.contains("cublas"),
            "{e}"
        );
        assert_eq!(Wgmma.check_arch("sm_90a").unwrap(), Wgmma);
        assert_eq!(MmaSync.check_arch("sm_80").unwrap(), MmaSync);
        for k in [Wgmma, Wgmma128, Wgmma256] {
            let e = k.check_arch("sm_89").unwrap_err().to_string();
            assert!(e.contains("sm_90a") && e.contains("sm_89"), "{e}");
        }
    }
}
