//! LayerNorm launchers (`layernorm.cu`), contract of [`crate::cpu::layernorm`]:
//! `out`, `inp` `[N, C]`; `mean`, `rstd` `[N]`; `gamma`, `beta` `[C]`.

use cudarc::driver::{CudaSlice, LaunchConfig, PushKernelArg};

use super::context::{check_exact, CudaDevice};
use super::error::{shape, CudaError};
use super::sources;

/// Rows per block of the backward; must match `LN_ROWS` in layernorm.cu.
const LN_ROWS: usize = 16;

fn dims(kernel: &'static str, n: usize, c: usize) -> Result<(i32, i32), CudaError> {
    match (i32::try_from(n), i32::try_from(c)) {
        (Ok(n), Ok(c)) if (n as usize) * (c as usize) <= i32::MAX as usize * 8 => Ok((n, c)),
        _ => Err(shape(kernel, format!("N = {n}, C = {c} too large"))),
    }
}

/// Forward (see [`crate::cpu::layernorm::layernorm_forward`]).
#[allow(clippy::too_many_arguments)]
pub fn layernorm_forward_cuda(
    dev: &CudaDevice,
    out: &mut CudaSlice<f32>,
    mean: &mut CudaSlice<f32>,
    rstd: &mut CudaSlice<f32>,
    inp: &CudaSlice<f32>,
    gamma: &CudaSlice<f32>,
    beta: &CudaSlice<f32>,
    n: usize,
    c: usize,
    eps: f32,
) -> Result<(), CudaError> {
    const K: &str = "layernorm_forward_cuda";
    check_exact(K, "out [N, C]", out, n * c)?;
    check_exact(K, "inp [N, C]", inp, n * c)?;
    check_exact(K, "mean [N]", mean, n)?;
    check_exact(K, "rstd [N]", rstd, n)?;
    check_exact(K, "gamma [C]", gamma, c)?;
    check_exact(K, "beta [C]", beta, c)?;
    let (ni, ci) = dims(K, n, c)?;
    if n == 0 || c == 0 {
        return Ok(());
    }
    let f = dev.function(&sources::LAYERNORM, "layernorm_forward_f32")?;
    let cfg = LaunchConfig {
        grid_dim: (n as u32, 1, 1),
        block_dim: (256, 1, 1),
        shared_mem_bytes: 0,
    };
    let mut l = dev.stream().launch_builder(&f);
    l.arg(out)
        .arg(mean)
        .arg(rstd)
        .arg(inp)
        .arg(gamma)
        .arg(beta)
        .arg(&ni)
        .arg(&ci)
        .arg(&eps);
    // SAFETY: arguments match layernorm_forward_f32; extents checked above.
    unsafe { l.launch(cfg) }?;
    Ok(())
}

/// Backward: `dinp` overwritten, `dgamma`/`dbeta` accumulated (deterministic block-order
/// reduction through a pooled scratch buffer).
#[allow(clippy::too_many_arguments)]
pub fn layernorm_backward_cuda(
    dev: &CudaDevice,
    dinp: &mut CudaSlice<f32>,
    dgamma: &mut CudaSlice<f32>,
    dbeta: &mut CudaSlice<f32>,
    dout: &CudaSlice<f32>,
    inp: &CudaSlice<f32>,
    mean: &CudaSlice<f32>,
    rstd: &CudaSlice<f32>,
    gamma: &CudaSlice<f32>,
    n: usize,
    c: usize,
) -> Result<(), CudaError> {
    const K: &str = "layernorm_backward_cuda";
    check_exact(K, "dinp [N, C]", dinp, n * c)?;
    check_exact(K, "dout [N, C]", dout, n * c)?;
    check_exact(K, "inp [N, C]", inp, n * c)?;
    check_exact(K, "mean [N]", mean, n)?;
    check_exact(K, "rstd [N]", rstd, n)?;
    check_exact(K, "dgamma [C]", dgamma, c)?;
    check_exact(K, "dbeta [C]", dbeta, c)?;
    check_exact(K, "gamma [C]", gamma, c)?;
    let (ni, ci) = dims(K, n, c)?;
    if n == 0 || c == 0 {
        return Ok(());
    }
    let nblocks = n.div_ceil(LN_ROWS);
    let mut partial = dev.alloc.alloc::<f32>(nblocks * 2 * c)?;
    let f = dev.function(&sources::LAYERNORM, "layernorm_backward_f32")?;
    let cfg = LaunchConfig {
        grid_dim: (nblocks as u32, 1, 1),
        block_dim: (256, 1, 1),
        shared_mem_bytes: 0,
    };
    let mut l = dev.stream().launch_builder(&f);
    l.arg(dinp)
        .arg(&mut partial)
        .arg(dout)
        .arg(inp)
        .arg(mean)
        .arg(rstd)
        .arg(gamma)
        .arg(&ni)
        .arg(&ci);
    // SAFETY: arguments match layernorm_backward_f32; partial is [nblocks, 2C].
    unsafe { l.launch(cfg) }?;
    let f = dev.function(&sources::LAYERNORM, "layernorm_param_reduce_f32")?;
    let cfg = LaunchConfig {
        grid_dim: ((2 * c).div_ceil(256) as u32, 1, 1),
        block_dim: (256, 1, 1),
        shared_mem_bytes: 0,
    };
    let nb = nblocks as i32;
    let mut l = dev.stream().launch_builder(&f);
    l.arg(dgamma).arg(dbeta).arg(&partial).arg(&nb).arg(&ci);
    // SAFETY: arguments match layernorm_param_reduce_f32.
    unsafe { l.launch(cfg) }?;
    dev.alloc.recycle(partial);
    Ok(())
}
