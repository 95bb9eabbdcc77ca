//! Fused attention launchers (`attention.cu`, f32; or on tensor cores `attention_tc.cu`, see
//! [`AttentionKernel`]), same contract as
//! [`crate::cpu::attention`]: `qkv` `[B, T, 3C]`, `key_mask` `[B, T]` (1 real, 0 padding),
//! `out` `[B, T, C]`, `lse` `[B, NH, T]`; head size `C / NH` at most 128. Optional dropout
//! on the probabilities with the counter-based mask described in the CPU module docs
//! (index `((b·NH + h)·T + i)·T + j`).

use cudarc::driver::{CudaFunction, CudaSlice, DeviceRepr, LaunchConfig, PushKernelArg};

use super::context::{check_exact, CudaDevice};
use super::dropout_keys::DropoutKeys;
use super::error::{env_choice, shape, CudaError};
use super::sources;

/// Warps (query or key rows) per block; must match `ROWS` in attention.cu.
const ROWS: usize = 8;
const MAX_HS: usize = 128;
/// Query rows per block of attention_tc.cu (`TC_Q`), its threads and row padding.
const TC_Q: usize = 64;
const TC_THREADS: usize = 128;
const TC_PAD: usize = 8;

/// Which kernels [`attention_forward_cuda`] and [`attention_backward_cuda`] launch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttentionKernel {
    /// `attention.cu`: f32 SIMT, any head size up to 128. The default: proved on a GPU.
    Simt,
    /// `attention_tc.cu`: the products on tensor cores (f32 softmax and accumulation; f16
    /// operands for Q K^T and P V, bf16 for the gradient products), head sizes 16, 32 and 64
    /// in both directions (others run [`AttentionKernel::Simt`], so a backward always
    /// recomputes P as its forward computed it).
    /// Chosen with `TOKKEN_CUDA_ATTENTION=mma` or [`CudaDevice::use_attention_kernel`].
    TensorCore,
}

impl AttentionKernel {
    /// `$TOKKEN_CUDA_ATTENTION`: `simt` (or unset) or `mma`.
    pub fn from_env() -> Result<Self, CudaError> {
        Self::parse(std::env::var("TOKKEN_CUDA_ATTENTION").ok().as_deref())
    }

    /// A `TOKKEN_CUDA_ATTENTION` value.
    pub fn parse(value: Option<&str>) -> Result<Self, CudaError> {
        env_choice(
            "TOKKEN_CUDA_ATTENTION",
            value,
            &[("simt", Self::Simt), ("mma", Self::TensorCore)],
        )
    }
}

/// attention_tc.cu's backward kernels (dQ pass, dK/dV pass) for head size `hs`, if it has them.
fn tensor_core_backward(hs: usize) -> Option<(&'static str, &'static str)> {
    match hs {
        16 => Some((
            "attention_backward_dq_tc_hs16",
            "attention_backward_dkv_tc_hs16",
        )),
        32 => Some((
            "attention_backward_dq_tc_hs32",
            "attention_backward_dkv_tc_hs32",
        )),
        64 => Some((
            "attention_backward_dq_tc_hs64",
            "attention_backward_dkv_tc_hs64",
        )),
        _ => None,
    }
}

/// A tensor-core kernel with its shared memory (`tiles` [64][hs + TC_PAD] 16-bit tiles)
/// and launch configuration: 64 rows per block.
fn tensor_core_launch(
    dev: &CudaDevice,
    name: &'static str,
    tiles: usize,
    t: usize,
    nh: usize,
    b: usize,
    hs: usize,
) -> Result<(CudaFunction, LaunchConfig), CudaError> {
    let smem = (tiles * TC_Q * (hs + TC_PAD) * 2) as u32;
    let f = dev.function_with_smem(&sources::ATTENTION_TC, name, smem)?;
    let cfg = LaunchConfig {
        grid_dim: (t.div_ceil(TC_Q) as u32, nh as u32, b as u32),
        block_dim: (TC_THREADS as u32, 1, 1),
        shared_mem_bytes: smem,
    };
    Ok((f, cfg))
}

/// attention_tc.cu's kernel for head size `hs`, if it has one.
fn tensor_core_forward(hs: usize) -> Option<&'static str> {
    match hs {
        16 => Some("attention_forward_tc_hs16"),
        32 => Some("attention_forward_tc_hs32"),
        64 => Some("attention_forward_tc_hs64"),
        _ => None,
    }
}

/// `DropoutArgs` of attention.cu.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
struct DropoutArgs {
    k0: u32,
    k1: u32,
    thr: u32,
    scale: f32,
    enabled: i32,
}

// SAFETY: plain-old-data with the C layout of the kernel's struct.
unsafe impl DeviceRepr for DropoutArgs {}

impl DropoutArgs {
    fn new(dropout: Option<(f32, u64)>) -> Self {
        match dropout {
            Some((p, seed)) if p > 0.0 => {
                let k = DropoutKeys::new(p, seed);
                Self {
                    k0: k.k0,
                    k1: k.k1,
                    thr: k.thr,
                    scale: k.scale,
                    enabled: 1,
                }
            }
            _ => Self::default(),
        }
    }
}

/// Checks shapes and returns the launch configuration.
fn setup(
    kernel: &'static str,
    qkv: &CudaSlice<f32>,
    key_mask: &CudaSlice<u8>,
    b: usize,
    t: usize,
    c: usize,
    nh: usize,
) -> Result<LaunchConfig, CudaError> {
    if nh == 0 || !c.is_multiple_of(nh) {
        return Err(shape(
            kernel,
            format!("C = {c} is not a multiple of NH = {nh}"),
        ));
    }
    if c / nh > MAX_HS {
        return Err(shape(
            kernel,
            format!("head size {} exceeds {MAX_HS}", c / nh),
        ));
    }
    check_exact(kernel, "qkv [B, T, 3C]", qkv, b * t * 3 * c)?;
    check_exact(kernel, "key_mask [B, T]", key_mask, b * t)?;
    if b * t * 3 * c > i32::MAX as usize || nh > 65_535 || b > 65_535 {
        return Err(shape(kernel, "sizes exceed the grid / i32 limits"));
    }
    Ok(LaunchConfig {
        grid_dim: (t.div_ceil(ROWS) as u32, nh as u32, b as u32),
        block_dim: (ROWS as u32 * 32, 1, 1),
        shared_mem_bytes: 0,
    })
}

/// Forward: writes `out` and `lse`. `dropout`: `(p, seed)` in training, `None` otherwise.
#[allow(clippy::too_many_arguments)]
pub fn attention_forward_cuda(
    dev: &CudaDevice,
    out: &mut CudaSlice<f32>,
    lse: &mut CudaSlice<f32>,
    qkv: &CudaSlice<f32>,
    key_mask: &CudaSlice<u8>,
    b: usize,
    t: usize,
    c: usize,
    nh: usize,
    dropout: Option<(f32, u64)>,
) -> Result<(), CudaError> {
    const K: &str = "attention_forward_cuda";
    let cfg = setup(K, qkv, key_mask, b, t, c, nh)?;
    check_exact(K, "out [B, T, C]", out, b * t * c)?;
    check_exact(K, "lse [B, NH, T]", lse, b * nh * t)?;
    if b * t * c == 0 {
        return Ok(());
    }
    let tc = match dev.attention_kernel() {
        AttentionKernel::TensorCore => tensor_core_forward(c / nh),
        AttentionKernel::Simt => None,
    };
    let (f, cfg) = match tc {
        // Q, K and V tiles.
        Some(name) => tensor_core_launch(dev, name, 3, t, nh, b, c / nh)?,
        None => (
            dev.function(&sources::ATTENTION, "attention_forward_f32")?,
            cfg,
        ),
    };
    let dr = DropoutArgs::new(dropout);
    let (bi, ti, ci, nhi) = (b as i32, t as i32, c as i32, nh as i32);
    let mut l = dev.stream().launch_builder(&f);
    l.arg(out)
        .arg(lse)
        .arg(qkv)
        .arg(key_mask)
        .arg(&bi)
        .arg(&ti)
        .arg(&ci)
        .arg(&nhi)
        .arg(&dr);
    // SAFETY: arguments match attention_forward_f32 and attention_forward_tc_hs*; extents
    // checked in setup; the tensor-core kernels' float4 loads need C a multiple of 4, which
    // head sizes that are multiples of 16 give.
    unsafe { l.launch(cfg) }?;
    Ok(())
}

/// Backward: `dqkv` `[B, T, 3C]` overwritten; `dsum` `[B, NH, T]` is scratch
/// (`D_i = dO_i · O_i`). Same `dropout` as the forward.
#[allow(clippy::too_many_arguments)]
pub fn attention_backward_cuda(
    dev: &CudaDevice,
    dqkv: &mut CudaSlice<f32>,
    dsum: &mut CudaSlice<f32>,
    dout: &CudaSlice<f32>,
    qkv: &CudaSlice<f32>,
    out: &CudaSlice<f32>,
    lse: &CudaSlice<f32>,
    key_mask: &CudaSlice<u8>,
    b: usize,
    t: usize,
    c: usize,
    nh: usize,
    dropout: Option<(f32, u64)>,
) -> Result<(), CudaError> {
    const K: &str = "attention_backward_cuda";
    let cfg = setup(K, qkv, key_mask, b, t, c, nh)?;
    check_exact(K, "dqkv [B, T, 3C]", dqkv, b * t * 3 * c)?;
    check_exact(K, "dsum [B, NH, T]", dsum, b * nh * t)?;
    check_exact(K, "dout [B, T, C]", dout, b * t * c)?;
    check_exact(K, "out [B, T, C]", out, b * t * c)?;
    check_exact(K, "lse [B, NH, T]", lse, b * nh * t)?;
    if b * t * c == 0 {
        return Ok(());
    }
    let dr = DropoutArgs::new(dropout);
    let (bi, ti, ci, nhi) = (b as i32, t as i32, c as i32, nh as i32);
    let tc = match dev.attention_kernel() {
        AttentionKernel::TensorCore => tensor_core_backward(c / nh),
        AttentionKernel::Simt => None,
    };
    // Both passes stage five 16-bit tiles (rows, their bf16 twin or dO, and a chunk's).
    let ((f, cfg_dq), (f_dkv, cfg_dkv)) = match tc {
        Some((dq, dkv)) => (
            tensor_core_launch(dev, dq, 5, t, nh, b, c / nh)?,
            tensor_core_launch(dev, dkv, 5, t, nh, b, c / nh)?,
        ),
        None => (
            (
                dev.function(&sources::ATTENTION, "attention_backward_dq_f32")?,
                cfg,
            ),
            (
                dev.function(&sources::ATTENTION, "attention_backward_dkv_f32")?,
                cfg,
            ),
        ),
    };
    let mut l = dev.stream().launch_builder(&f);
    l.arg(&mut *dqkv)
        .arg(&mut *dsum)
        .arg(dout)
        .arg(qkv)
        .arg(out)
        .arg(lse)
        .arg(key_mask)
        .arg(&bi)
        .arg(&ti)
        .arg(&ci)
        .arg(&nhi)
        .arg(&dr);
    // SAFETY: arguments match attention_backward_dq_f32 / _dq_tc_hs*; extents checked above.
    unsafe { l.launch(cfg_dq) }?;
    let mut l = dev.stream().launch_builder(&f_dkv);
    l.arg(dqkv)
        .arg(&*dsum)
        .arg(dout)
        .arg(qkv)
        .arg(lse)
        .arg(key_mask)
        .arg(&bi)
        .arg(&ti)
        .arg(&ci)
        .arg(&nhi)
        .arg(&dr);
    // SAFETY: arguments match attention_backward_dkv_f32 / _dkv_tc_hs*.
    unsafe { l.launch(cfg_dkv) }?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attention_kernel_choice() {
        assert_eq!(AttentionKernel::parse(None).unwrap(), AttentionKernel::Simt);
        assert_eq!(
            AttentionKernel::parse(Some("simt")).unwrap(),
            AttentionKernel::Simt
        );
        assert_eq!(
            AttentionKernel::parse(Some("mma")).unwrap(),
            AttentionKernel::TensorCore
        );
        let e = AttentionKernel::parse(Some("flash"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("TOKKEN_CUDA_ATTENTION"), "{e}");
        assert_eq!(tensor_core_forward(64), Some("attention_forward_tc_hs64"));
        // Forward and backward cover the same head sizes.
        for hs in [8, 48, 96, 128, 256] {
            assert_eq!(tensor_core_forward(hs), None);
            assert_eq!(tensor_core_backward(hs), None);
        }
        // Every name is one attention_tc.cu defines.
        for hs in [16, 32, 64] {
            let name = tensor_core_forward(hs).unwrap();
            assert!(sources::ATTENTION_TC.kernels.contains(&name), "{name}");
            let (dq, dkv) = tensor_core_backward(hs).unwrap();
            for name in [dq, dkv] {
                assert!(sources::ATTENTION_TC.kernels.contains(&name), "{name}");
            }
        }
    }
}
