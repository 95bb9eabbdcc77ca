//! Launchers and helpers the model needs besides the kernel crate's: strided column-block
//! copies (`kernels/cuda/strided.cu`), bf16 uploads, zeroing and driver-error conversion.

use cudarc::driver::{
    CudaSlice, DevicePtr, DevicePtrMut, DeviceRepr, DriverError, LaunchConfig, PushKernelArg,
    ValidAsZeroBits,
};
use half::bf16;
use tokken_engine::{DType, Tensor};
use tokken_kernels::cuda::{sources, CudaDevice, CudaError};

use crate::error::{ModelError, Result};

/// A driver error as a model error.
pub fn driver(e: DriverError) -> ModelError {
    CudaError::from(e).into()
}

/// A zero-filled device buffer of `n` elements, allocated on its own (not from the pool:
/// the model's buffers live as long as their batch shape).
pub fn dev_alloc<T: DeviceRepr + ValidAsZeroBits>(
    dev: &CudaDevice,
    n: usize,
) -> Result<CudaSlice<T>> {
    dev.stream().alloc_zeros::<T>(n.max(1)).map_err(driver)
}

/// An error while allocating `what`: out of device memory becomes a message that says so
/// and suggests `hint`; any other error is returned unchanged.
pub fn alloc_error(e: ModelError, what: &str, hint: &str) -> ModelError {
    let msg = e.to_string();
    if msg.contains("OUT_OF_MEMORY") {
        ModelError::Other(format!(
            "out of GPU memory allocating {what} ({msg}); try {hint}"
        ))
    } else {
        e
    }
}

/// Elements a `rows x cols` block with row stride `ld` spans.
fn span(rows: usize, cols: usize, ld: usize) -> usize {
    if rows == 0 || cols == 0 {
        0
    } else {
        (rows - 1) * ld + cols
    }
}

/// A column block of a row-major matrix: element `(r, j)` is `buf[offset + r * ld + j]`.
#[derive(Clone, Copy, Debug)]
pub struct Block {
    pub offset: usize,
    pub ld: usize,
}

impl Block {
    /// A contiguous `[rows, ld]` matrix from its first element.
    pub fn dense(ld: usize) -> Block {
        Block { offset: 0, ld }
    }
}

/// `dst[r, j] = src[r, j] + beta · dst[r, j]` for `r < rows`, `j < cols` (beta 0 copies
/// without reading `dst`).
#[allow(clippy::too_many_arguments)]
pub fn copy_cols(
    dev: &CudaDevice,
    dst: &mut CudaSlice<f32>,
    at: Block,
    src: &CudaSlice<f32>,
    from: Block,
    rows: usize,
    cols: usize,
    beta: f32,
) -> Result<()> {
    if rows == 0 || cols == 0 {
        return Ok(());
    }
    if at.offset + span(rows, cols, at.ld) > dst.len()
        || from.offset + span(rows, cols, from.ld) > src.len()
        || at.ld < cols
        || from.ld < cols
    {
        return Err(ModelError::Other(format!(
            "copy_cols: a {rows} x {cols} block at {at:?} / {from:?} does not fit buffers of {} / {} elements",
            dst.len(),
            src.len()
        )));
    }
    let f = dev.function(&sources::STRIDED, "copy_cols_f32")?;
    let stream = dev.stream().clone();
    let n = rows * cols;
    let cfg = LaunchConfig {
        grid_dim: (n.div_ceil(256).clamp(1, 65_535) as u32, 1, 1),
        block_dim: (256, 1, 1),
        shared_mem_bytes: 0,
    };
    let (dp, dst_guard) = dst.device_ptr_mut(&stream);
    let (sp, src_guard) = src.device_ptr(&stream);
    let dst_ptr: u64 = dp + 4 * at.offset as u64;
    let src_ptr: u64 = sp + 4 * from.offset as u64;
    let (ld_dst, ld_src, rows_i, cols_i) = (at.ld as i64, from.ld as i64, rows as i64, cols as i32);
    let mut l = stream.launch_builder(&f);
    l.arg(&dst_ptr)
        .arg(&ld_dst)
        .arg(&src_ptr)
        .arg(&ld_src)
        .arg(&rows_i)
        .arg(&cols_i)
        .arg(&beta);
    // SAFETY: arguments match copy_cols_f32 in strided.cu; both blocks were checked to lie
    // inside their buffers, whose guards are held until the launch is queued.
    unsafe { l.launch(cfg) }.map_err(driver)?;
    drop(src_guard);
    drop(dst_guard);
    Ok(())
}

/// A dense weight as bf16 bits (round to nearest even from f32, as
/// [`crate::params::BertParams::to_dtype`]; bf16 weights as they are).
pub fn bf16_bits(t: &Tensor) -> Result<Vec<u16>> {
    Ok(match t.dtype() {
        DType::BF16 => t.as_bf16()?.iter().map(|v| v.to_bits()).collect(),
        // A stacked q|k|v weight part by part (no joined host copy is kept).
        _ => t
            .to_f32_vec()
            .iter()
            .map(|&v| bf16::from_f32(v).to_bits())
            .collect(),
    })
}

/// Uploads a tensor as f32.
pub fn upload_f32(dev: &CudaDevice, t: &Tensor) -> Result<CudaSlice<f32>> {
    Ok(dev.upload(&t.to_f32_vec())?)
}

/// Sets every element of `buf` to 0.
pub fn fill_zero(dev: &CudaDevice, buf: &mut CudaSlice<f32>) -> Result<()> {
    dev.stream().memset_zeros(buf).map_err(driver)
}

/// `dst = src` (same length).
pub fn copy(dev: &CudaDevice, dst: &mut CudaSlice<f32>, src: &CudaSlice<f32>) -> Result<()> {
    if dst.len() != src.len() {
        return Err(ModelError::Other(format!(
            "copy: {} vs {} elements",
            dst.len(),
            src.len()
        )));
    }
    dev.stream().memcpy_dtod(src, dst).map_err(driver)
}

use tokken_kernels::cpu::gemm::Trans;
use tokken_kernels::cuda::elementwise::cast_to_half_cuda;
use tokken_kernels::cuda::embedding::{check_embedding_ids, embedding_forward_cuda_device_ids};
use tokken_kernels::cuda::gemm::{gemm_cuda, Half};
use tokken_kernels::cuda::layernorm::layernorm_forward_cuda;

use super::weights::{DeviceEncoder, DeviceLayerNorm, DeviceLinear};
use crate::config::BertConfig;
use crate::forward::BatchInput;

/// `dst16 = bf16(src)` (round to nearest even), the GEMMs' activation input.
pub fn to_bf16(dev: &CudaDevice, dst16: &mut CudaSlice<u16>, src: &CudaSlice<f32>) -> Result<()> {
    Ok(cast_to_half_cuda(dev, Half::Bf16, dst16, src)?)
}

/// `out[rows, N] = x16[rows, K] · Wᵀ + b` on the tensor cores (f32 accumulation).
pub fn linear_forward(
    dev: &CudaDevice,
    out: &mut CudaSlice<f32>,
    x16: &CudaSlice<u16>,
    lin: &DeviceLinear,
    rows: usize,
) -> Result<()> {
    let (n, k) = (lin.n, lin.k);
    Ok(gemm_cuda(
        dev,
        Half::Bf16,
        Trans::N,
        Trans::T,
        rows,
        n,
        k,
        1.0,
        x16,
        k,
        &lin.w,
        k,
        0.0,
        out,
        n,
        Some(&lin.b),
        None,
    )?)
}

/// `dx[rows, K] (= or +=) dy16[rows, N] · W` (the frozen layer's input gradient; the CPU's
/// `dense_backward_input`).
pub fn linear_backward_input(
    dev: &CudaDevice,
    dx: &mut CudaSlice<f32>,
    accumulate: bool,
    dy16: &CudaSlice<u16>,
    lin: &DeviceLinear,
    rows: usize,
) -> Result<()> {
    let (n, k) = (lin.n, lin.k);
    let beta = if accumulate { 1.0 } else { 0.0 };
    Ok(gemm_cuda(
        dev,
        Half::Bf16,
        Trans::N,
        Trans::N,
        rows,
        k,
        n,
        1.0,
        dy16,
        n,
        &lin.w,
        k,
        beta,
        dx,
        k,
        None,
        None,
    )?)
}

/// `out = LayerNorm(x)` with `ln` over `rows` rows of C (`cfg`'s hidden size and epsilon);
/// each row's mean and 1/std land in `mean`, `rstd` `[rows]` (what the backward reads).
#[allow(clippy::too_many_arguments)]
pub fn layer_norm(
    dev: &CudaDevice,
    cfg: &BertConfig,
    ln: &DeviceLayerNorm,
    rows: usize,
    out: &mut CudaSlice<f32>,
    mean: &mut CudaSlice<f32>,
    rstd: &mut CudaSlice<f32>,
    x: &CudaSlice<f32>,
) -> Result<()> {
    let (c, eps) = (cfg.hidden_size, cfg.layer_norm_eps as f32);
    Ok(layernorm_forward_cuda(
        dev, out, mean, rstd, x, &ln.w, &ln.b, rows, c, eps,
    )?)
}

/// `BertEmbeddings` without dropout: `sum` = word + position + token type rows `[B*T, C]`,
/// then `out = LayerNorm(sum)` (mean and 1/std into `mean`, `rstd` `[B*T]`).
pub fn embeddings_forward(
    dev: &CudaDevice,
    enc: &DeviceEncoder,
    input: &BatchInput<'_>,
    out: &mut CudaSlice<f32>,
    mean: &mut CudaSlice<f32>,
    rstd: &mut CudaSlice<f32>,
    sum: &mut CudaSlice<f32>,
) -> Result<()> {
    check_input_ids(enc, input)?;
    let ids = dev.upload(input.ids)?;
    let type_ids = dev.upload(input.type_ids)?;
    embeddings_forward_device_ids(
        dev,
        enc,
        (&ids, &type_ids),
        (input.b, input.t),
        out,
        mean,
        rstd,
        sum,
    )
}

/// [`embeddings_forward`] reading the `[B, T]` ids and type ids from device buffers (what a
/// CUDA graph can replay); the caller has checked them ([`check_embedding_ids`]).
#[allow(clippy::too_many_arguments)]
pub fn embeddings_forward_device_ids(
    dev: &CudaDevice,
    enc: &DeviceEncoder,
    (ids, type_ids): (&CudaSlice<u32>, &CudaSlice<u32>),
    (b, t): (usize, usize),
    out: &mut CudaSlice<f32>,
    mean: &mut CudaSlice<f32>,
    rstd: &mut CudaSlice<f32>,
    sum: &mut CudaSlice<f32>,
) -> Result<()> {
    let cfg = &enc.config;
    embedding_forward_cuda_device_ids(
        dev,
        sum,
        ids,
        type_ids,
        &enc.word,
        &enc.position,
        &enc.token_type,
        b,
        t,
        cfg.hidden_size,
    )?;
    let ln = &enc.embeddings_layer_norm;
    layer_norm(dev, cfg, ln, b * t, out, mean, rstd, sum)
}

/// The checks the embedding launcher makes of host ids, before they are copied to the
/// device buffers [`embeddings_forward_device_ids`] reads.
pub fn check_input_ids(enc: &DeviceEncoder, input: &BatchInput<'_>) -> Result<()> {
    Ok(check_embedding_ids(
        input.ids,
        input.type_ids,
        &enc.word,
        &enc.token_type,
        input.b,
        input.t,
        enc.config.hidden_size,
    )?)
}

/// `cls[B, C]` = each sequence's first ([CLS]) row of `hidden` `[B, T, C]`.
pub fn cls_rows(
    dev: &CudaDevice,
    cls: &mut CudaSlice<f32>,
    hidden: &CudaSlice<f32>,
    b: usize,
    t: usize,
    c: usize,
) -> Result<()> {
    copy_cols(
        dev,
        cls,
        Block::dense(c),
        hidden,
        Block::dense(t * c),
        b,
        c,
        0.0,
    )
}
