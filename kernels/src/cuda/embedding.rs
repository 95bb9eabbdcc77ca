//! Embedding launchers (`embedding.cu`), contract of [`crate::cpu::embedding`]. Token ids
//! come from the host (the tokenizer's batch): they are validated there and uploaded (or
//! copied into buffers a CUDA graph reads).

use cudarc::driver::{CudaSlice, LaunchConfig, PushKernelArg};

use super::context::{check_exact, elementwise_config, CudaDevice};
use super::error::{shape, CudaError};
use super::sources;

fn check_ids(kernel: &'static str, ids: &[u32], rows: usize, what: &str) -> Result<(), CudaError> {
    match ids.iter().enumerate().find(|(_, &id)| id as usize >= rows) {
        Some((pos, id)) => Err(shape(
            kernel,
            format!("{what} id {id} at position {pos} is out of range (table has {rows} rows)"),
        )),
        None => Ok(()),
    }
}

/// `out[b, t] = word[ids] + position[t] + token_type[type_ids]`; `out` `[B, T, C]`,
/// `ids`, `type_ids` `[B, T]` (host), tables `[V, C]`, `[P >= T, C]`, `[TV, C]`.
#[allow(clippy::too_many_arguments)]
pub fn embedding_forward_cuda(
    dev: &CudaDevice,
    out: &mut CudaSlice<f32>,
    ids: &[u32],
    type_ids: &[u32],
    word: &CudaSlice<f32>,
    position: &CudaSlice<f32>,
    token_type: &CudaSlice<f32>,
    b: usize,
    t: usize,
    c: usize,
) -> Result<(), CudaError> {
    check_embedding_ids(ids, type_ids, word, token_type, b, t, c)?;
    let ids_d = dev.upload(ids)?;
    let types_d = dev.upload(type_ids)?;
    embedding_forward_cuda_device_ids(
        dev, out, &ids_d, &types_d, word, position, token_type, b, t, c,
    )
}

/// The checks [`embedding_forward_cuda`] makes of host ids (`[B, T]` each, every id a row
/// of its table of `C` columns).
pub fn check_embedding_ids(
    ids: &[u32],
    type_ids: &[u32],
    word: &CudaSlice<f32>,
    token_type: &CudaSlice<f32>,
    b: usize,
    t: usize,
    c: usize,
) -> Result<(), CudaError> {
    const K: &str = "embedding_forward_cuda";
    if ids.len() != b * t || type_ids.len() != b * t {
        return Err(shape(K, "ids/type_ids must be [B, T]"));
    }
    if c == 0 {
        return Ok(());
    }
    check_ids(K, ids, word.len() / c, "word")?;
    check_ids(K, type_ids, token_type.len() / c, "token type")
}

/// [`embedding_forward_cuda`] with the ids already on the device (as a CUDA graph replays
/// them). The kernel does not range-check ids: check them with [`check_embedding_ids`]
/// before uploading.
#[allow(clippy::too_many_arguments)]
pub fn embedding_forward_cuda_device_ids(
    dev: &CudaDevice,
    out: &mut CudaSlice<f32>,
    ids: &CudaSlice<u32>,
    type_ids: &CudaSlice<u32>,
    word: &CudaSlice<f32>,
    position: &CudaSlice<f32>,
    token_type: &CudaSlice<f32>,
    b: usize,
    t: usize,
    c: usize,
) -> Result<(), CudaError> {
    const K: &str = "embedding_forward_cuda";
    check_exact(K, "out [B, T, C]", out, b * t * c)?;
    if ids.len() < b * t || type_ids.len() < b * t {
        return Err(shape(K, "ids/type_ids must hold [B, T]"));
    }
    if c == 0 || b * t == 0 {
        return Ok(());
    }
    if !word.len().is_multiple_of(c)
        || !position.len().is_multiple_of(c)
        || !token_type.len().is_multiple_of(c)
    {
        return Err(shape(K, format!("tables must have C = {c} columns")));
    }
    if position.len() / c < t {
        return Err(shape(
            K,
            format!("T = {t} exceeds the {} positions", position.len() / c),
        ));
    }
    let f = dev.function(&sources::EMBEDDING, "embedding_forward_f32")?;
    let (bt, ti, ci) = ((b * t) as i32, t as i32, c as i32);
    let mut l = dev.stream().launch_builder(&f);
    l.arg(out)
        .arg(ids)
        .arg(type_ids)
        .arg(word)
        .arg(position)
        .arg(token_type)
        .arg(&bt)
        .arg(&ti)
        .arg(&ci);
    // SAFETY: arguments match embedding_forward_f32; ids validated by the caller.
    unsafe { l.launch(elementwise_config(b * t * c)) }?;
    Ok(())
}

/// Scatter-adds `dout` (`[B, T, C]`) into the table gradients (`+=`); `None` tables are
/// frozen and skipped. Deterministic: tokens are added in order for every column.
#[allow(clippy::too_many_arguments)]
pub fn embedding_backward_cuda(
    dev: &CudaDevice,
    dword: Option<&mut CudaSlice<f32>>,
    dposition: Option<&mut CudaSlice<f32>>,
    dtoken_type: Option<&mut CudaSlice<f32>>,
    dout: &CudaSlice<f32>,
    ids: &[u32],
    type_ids: &[u32],
    b: usize,
    t: usize,
    c: usize,
) -> Result<(), CudaError> {
    const K: &str = "embedding_backward_cuda";
    check_exact(K, "dout [B, T, C]", dout, b * t * c)?;
    if ids.len() != b * t || type_ids.len() != b * t {
        return Err(shape(K, "ids/type_ids must be [B, T]"));
    }
    if c == 0 || b * t == 0 {
        return Ok(());
    }
    let f = dev.function(&sources::EMBEDDING, "embedding_scatter_add_f32")?;
    let cfg = LaunchConfig {
        grid_dim: (c.div_ceil(128) as u32, 1, 1),
        block_dim: (128, 1, 1),
        shared_mem_bytes: 0,
    };
    let (bt, ti, ci) = ((b * t) as i32, t as i32, c as i32);
    let scatter =
        |table: &mut CudaSlice<f32>, rows: Option<&[u32]>, what: &str| -> Result<(), CudaError> {
            if !table.len().is_multiple_of(c) {
                return Err(shape(K, format!("{what} table must have C = {c} columns")));
            }
            let n_rows = table.len() / c;
            let rows_d = match rows {
                Some(r) => {
                    check_ids(K, r, n_rows, what)?;
                    Some(dev.upload(r)?)
                }
                None => {
                    if n_rows < t {
                        return Err(shape(K, format!("T = {t} exceeds the {n_rows} positions")));
                    }
                    None
                }
            };
            let null: u64 = 0;
            let mut l = dev.stream().launch_builder(&f);
            l.arg(table).arg(dout);
            match &rows_d {
                Some(r) => l.arg(r),
                None => l.arg(&null),
            };
            l.arg(&bt).arg(&ti).arg(&ci);
            // SAFETY: arguments match embedding_scatter_add_f32; rows validated.
            unsafe { l.launch(cfg) }?;
            Ok(())
        };
    if let Some(dw) = dword {
        scatter(dw, Some(ids), "word")?;
    }
    if let Some(dp) = dposition {
        scatter(dp, None, "position")?;
    }
    if let Some(dt) = dtoken_type {
        scatter(dt, Some(type_ids), "token type")?;
    }
    Ok(())
}
