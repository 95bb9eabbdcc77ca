//! Multi-tensor AdamW and global gradient norm launchers (`adamw.cu`), semantics of
//! [`crate::cpu::adamw::adamw_step`] and [`crate::cpu::grad_norm`]. One launch updates
//! every parameter tensor: a table of tensor pointers and a block -> (tensor, chunk) map
//! are uploaded per call (tiny next to the update itself).

use cudarc::driver::{CudaSlice, DevicePtr, DevicePtrMut, DeviceRepr, LaunchConfig, PushKernelArg};

use super::context::CudaDevice;
use super::error::{shape, CudaError};
use super::sources;
use crate::cpu::adamw::AdamWParams;

/// Elements per block; must match `MT_CHUNK` in adamw.cu.
const MT_CHUNK: usize = 16384;

/// `TensorRef` of adamw.cu (raw device pointers).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
struct TensorRef {
    param: u64,
    grad: u64,
    m: u64,
    v: u64,
    len: i64,
}

/// `ChunkRef` of adamw.cu.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
struct ChunkRef {
    tensor: i32,
    start: i64,
}

/// `AdamWScalars` of adamw.cu.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
struct AdamWScalars {
    decay: f32,
    one_minus_b1: f32,
    b2: f32,
    one_minus_b2: f32,
    bias_c2_sqrt: f32,
    eps: f32,
    step_size: f32,
}

// SAFETY: plain-old-data with the C layouts of the kernel structs.
unsafe impl DeviceRepr for TensorRef {}
unsafe impl DeviceRepr for ChunkRef {}
unsafe impl DeviceRepr for AdamWScalars {}

/// One trainable tensor with its gradient and optimizer state (all the same length).
pub struct AdamWTensor<'a> {
    pub param: &'a mut CudaSlice<f32>,
    pub grad: &'a CudaSlice<f32>,
    pub m: &'a mut CudaSlice<f32>,
    pub v: &'a mut CudaSlice<f32>,
}

fn chunk_table(lens: &[usize]) -> Vec<ChunkRef> {
    lens.iter()
        .enumerate()
        .flat_map(|(t, &len)| {
            (0..len).step_by(MT_CHUNK).map(move |start| ChunkRef {
                tensor: t as i32,
                start: start as i64,
            })
        })
        .collect()
}

fn blocks(kernel: &'static str, n: usize) -> Result<LaunchConfig, CudaError> {
    if n > i32::MAX as usize {
        return Err(shape(kernel, "too many chunks"));
    }
    Ok(LaunchConfig {
        grid_dim: (n as u32, 1, 1),
        block_dim: (256, 1, 1),
        shared_mem_bytes: 0,
    })
}

/// One AdamW update of every tensor; `step` is 1-based (torch's `state['step']` after
/// increment). Scalars are computed in f64 as the CPU kernel does.
pub fn adamw_step_cuda(
    dev: &CudaDevice,
    tensors: &mut [AdamWTensor],
    step: u64,
    hp: &AdamWParams,
) -> Result<(), CudaError> {
    const K: &str = "adamw_step_cuda";
    if step == 0 {
        return Err(shape(K, "step is 1-based"));
    }
    let (lr, b1, b2) = (hp.lr, hp.beta1, hp.beta2);
    let bias_c1 = 1.0 - b1.powf(step as f64);
    let bias_c2_sqrt = (1.0 - b2.powf(step as f64)).sqrt();
    let k = AdamWScalars {
        decay: (1.0 - lr * hp.weight_decay) as f32,
        one_minus_b1: (1.0 - b1) as f32,
        b2: hp.beta2 as f32,
        one_minus_b2: (1.0 - b2) as f32,
        bias_c2_sqrt: bias_c2_sqrt as f32,
        eps: hp.eps as f32,
        step_size: (lr / bias_c1) as f32,
    };
    let stream = dev.stream().clone();
    let mut lens = Vec::with_capacity(tensors.len());
    let mut refs = Vec::with_capacity(tensors.len());
    let mut guards = Vec::new();
    for (i, t) in tensors.iter_mut().enumerate() {
        let len = t.param.len();
        if t.grad.len() != len || t.m.len() != len || t.v.len() != len {
            return Err(shape(
                K,
                format!("tensor {i}: param/grad/m/v lengths differ"),
            ));
        }
        let (p, gp) = t.param.device_ptr_mut(&stream);
        let (g, gg) = t.grad.device_ptr(&stream);
        let (m, gm) = t.m.device_ptr_mut(&stream);
        let (v, gv) = t.v.device_ptr_mut(&stream);
        guards.push((gp, gg, gm, gv));
        refs.push(TensorRef {
            param: p,
            grad: g,
            m,
            v,
            len: len as i64,
        });
        lens.push(len);
    }
    let chunks = chunk_table(&lens);
    if chunks.is_empty() {
        return Ok(());
    }
    let refs_d = dev.upload(&refs)?;
    let chunks_d = dev.upload(&chunks)?;
    let f = dev.function(&sources::ADAMW, "adamw_multi_f32")?;
    let mut l = stream.launch_builder(&f);
    l.arg(&refs_d).arg(&chunks_d).arg(&k);
    // SAFETY: the table's pointers are live buffers of the stated lengths (guards held).
    unsafe { l.launch(blocks(K, chunks.len())?) }?;
    drop(guards);
    Ok(())
}

/// sqrt(Σ over all tensors of Σ g²), accumulated in f64 in a fixed order.
pub fn global_norm_cuda(dev: &CudaDevice, grads: &[&CudaSlice<f32>]) -> Result<f32, CudaError> {
    const K: &str = "global_norm_cuda";
    let stream = dev.stream().clone();
    let mut refs = Vec::with_capacity(grads.len());
    let mut guards = Vec::new();
    for g in grads {
        let (p, guard) = g.device_ptr(&stream);
        guards.push(guard);
        refs.push(TensorRef {
            param: 0,
            grad: p,
            m: 0,
            v: 0,
            len: g.len() as i64,
        });
    }
    let lens: Vec<usize> = grads.iter().map(|g| g.len()).collect();
    let chunks = chunk_table(&lens);
    if chunks.is_empty() {
        return Ok(0.0);
    }
    let refs_d = dev.upload(&refs)?;
    let chunks_d = dev.upload(&chunks)?;
    let mut partial = dev.alloc.alloc::<f64>(chunks.len())?;
    let f = dev.function(&sources::ADAMW, "grad_sq_partial_f64")?;
    let mut l = stream.launch_builder(&f);
    l.arg(&mut partial).arg(&refs_d).arg(&chunks_d);
    // SAFETY: pointers are live gradient buffers (guards held); partial has one slot per block.
    unsafe { l.launch(blocks(K, chunks.len())?) }?;
    let mut norm = dev.alloc.alloc::<f32>(1)?;
    let nb = chunks.len() as i32;
    let f = dev.function(&sources::ADAMW, "grad_norm_finish_f64")?;
    let mut l = stream.launch_builder(&f);
    l.arg(&mut norm).arg(&partial).arg(&nb);
    // SAFETY: arguments match grad_norm_finish_f64.
    unsafe { l.launch(blocks(K, 1)?) }?;
    let value = dev.download(&norm)?[0];
    drop(guards);
    dev.alloc.recycle(partial);
    dev.alloc.recycle(norm);
    Ok(value)
}

/// torch `clip_grad_norm_`: scales every gradient by `min(1, max_norm / (norm + 1e-6))`
/// and returns the norm before clipping.
pub fn clip_grad_norm_cuda(
    dev: &CudaDevice,
    grads: &mut [&mut CudaSlice<f32>],
    max_norm: f32,
) -> Result<f32, CudaError> {
    let norm = {
        let views: Vec<&CudaSlice<f32>> = grads.iter().map(|g| &**g).collect();
        global_norm_cuda(dev, &views)?
    };
    let coef = (max_norm as f64 / (norm as f64 + 1e-6)).min(1.0) as f32;
    if coef < 1.0 {
        for g in grads.iter_mut() {
            super::elementwise::scale_cuda(dev, g, coef)?;
        }
    }
    Ok(norm)
}
