//! Softmax cross-entropy launcher (`xent.cu`), torch `nn.CrossEntropyLoss` semantics as
//! [`crate::cpu::xent::cross_entropy`]: returns the loss, overwrites `dlogits`.

use cudarc::driver::{CudaSlice, LaunchConfig, PushKernelArg};

use super::context::{check_exact, CudaDevice};
use super::error::{shape, CudaError};
use super::sources;
use crate::cpu::xent::{CrossEntropyOptions, Reduction};

/// `logits`, `dlogits`: `[N, K]` on the device; `targets` `[N]` on the host (validated).
pub fn cross_entropy_cuda(
    dev: &CudaDevice,
    dlogits: &mut CudaSlice<f32>,
    logits: &CudaSlice<f32>,
    targets: &[i32],
    n: usize,
    k: usize,
    opts: &CrossEntropyOptions,
) -> Result<f32, CudaError> {
    const K: &str = "cross_entropy_cuda";
    check_exact(K, "logits [N, K]", logits, n * k)?;
    check_exact(K, "dlogits [N, K]", dlogits, n * k)?;
    if targets.len() != n {
        return Err(shape(K, "targets must be [N]"));
    }
    if let Some(w) = opts.weight {
        if w.len() != k {
            return Err(shape(K, "weight must be [K]"));
        }
    }
    let ignored = |y: i32| opts.ignore_index == Some(y);
    if let Some((i, y)) = targets
        .iter()
        .enumerate()
        .find(|(_, &y)| !ignored(y) && !(0..k as i64).contains(&(y as i64)))
    {
        return Err(shape(
            K,
            format!("target {y} of sample {i} is not a class in 0..{k}"),
        ));
    }
    if n * k == 0 {
        // Same as the CPU path: 0 / norm (NaN for an empty mean).
        let norm = match opts.reduction {
            Reduction::Mean => 0.0f64,
            Reduction::Sum => 1.0,
        };
        return Ok((0.0 / norm) as f32);
    }
    let targets_d = dev.upload(targets)?;
    let weight_d = opts.weight.map(|w| dev.upload(w)).transpose()?;
    let null: u64 = 0;
    let mut norm = dev.alloc.zeros::<f64>(2)?;
    let mut losses = dev.alloc.alloc::<f64>(n)?;
    let mut loss = dev.alloc.alloc::<f32>(1)?;
    let (ni, ki) = (n as i32, k as i32);
    let ignore = opts.ignore_index.unwrap_or(0);
    let has_ignore = opts.ignore_index.is_some() as i32;
    let use_mean = (opts.reduction == Reduction::Mean) as i32;
    let one_block = |threads: u32| LaunchConfig {
        grid_dim: (1, 1, 1),
        block_dim: (threads, 1, 1),
        shared_mem_bytes: 0,
    };

    let f = dev.function(&sources::XENT, "xent_norm_f64")?;
    let mut l = dev.stream().launch_builder(&f);
    l.arg(&mut norm).arg(&targets_d);
    match &weight_d {
        Some(w) => l.arg(w),
        None => l.arg(&null),
    };
    l.arg(&ni).arg(&ki).arg(&ignore).arg(&has_ignore);
    // SAFETY: arguments match xent_norm_f64.
    unsafe { l.launch(one_block(256)) }?;

    let f = dev.function(&sources::XENT, "xent_rows_f32")?;
    let mut l = dev.stream().launch_builder(&f);
    l.arg(dlogits).arg(&mut losses).arg(logits).arg(&targets_d);
    match &weight_d {
        Some(w) => l.arg(w),
        None => l.arg(&null),
    };
    l.arg(&norm)
        .arg(&ni)
        .arg(&ki)
        .arg(&opts.label_smoothing)
        .arg(&ignore)
        .arg(&has_ignore)
        .arg(&use_mean);
    let rows = LaunchConfig {
        grid_dim: (n as u32, 1, 1),
        block_dim: (128, 1, 1),
        shared_mem_bytes: 0,
    };
    // SAFETY: arguments match xent_rows_f32; targets validated.
    unsafe { l.launch(rows) }?;

    let f = dev.function(&sources::XENT, "xent_reduce_f64")?;
    let mut l = dev.stream().launch_builder(&f);
    l.arg(&mut loss)
        .arg(&losses)
        .arg(&norm)
        .arg(&ni)
        .arg(&use_mean);
    // SAFETY: arguments match xent_reduce_f64.
    unsafe { l.launch(one_block(32)) }?;
    let value = dev.download(&loss)?[0];
    dev.alloc.recycle(norm);
    dev.alloc.recycle(losses);
    dev.alloc.recycle(loss);
    Ok(value)
}
