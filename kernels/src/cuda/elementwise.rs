//! Element-wise launchers (`elementwise.cu`): exact GELU, bias, bias + GELU, residual,
//! accumulate, scale, dropout and 16-bit casts. Contracts as the CPU kernels in
//! [`crate::cpu`] (`gelu`, `bias`, `residual`, `dropout`).

use cudarc::driver::{CudaSlice, LaunchConfig, PushKernelArg};

use super::context::{check_exact, elementwise_config, CudaDevice};
use super::dropout_keys::DropoutKeys;
use super::error::{shape, CudaError};
use super::gemm::Half;
use super::sources;

/// Launches element-wise kernel `$name` over `$n` elements with the given arguments
/// followed by `n` (i64); nothing to do for `n == 0`.
macro_rules! launch_n {
    ($dev:expr, $name:literal, $n:expr, $($arg:expr),+) => {{
        let n: usize = $n;
        if n > 0 {
            let f = $dev.function(&sources::ELEMENTWISE, $name)?;
            let nn = n as i64;
            let mut l = $dev.stream().launch_builder(&f);
            $(l.arg($arg);)+
            l.arg(&nn);
            // SAFETY: the arguments are exactly the kernel's, on buffers whose lengths the
            // caller checked.
            unsafe { l.launch(elementwise_config(n)) }?;
        }
        Ok(())
    }};
}

fn same_len<A, B>(
    kernel: &'static str,
    a: &CudaSlice<A>,
    b: &CudaSlice<B>,
) -> Result<usize, CudaError> {
    if a.len() != b.len() {
        return Err(shape(
            kernel,
            format!("lengths differ: {} vs {}", a.len(), b.len()),
        ));
    }
    Ok(a.len())
}

/// `out = x Φ(x)`.
pub fn gelu_forward_cuda(
    dev: &CudaDevice,
    out: &mut CudaSlice<f32>,
    inp: &CudaSlice<f32>,
) -> Result<(), CudaError> {
    let n = same_len("gelu_forward_cuda", out, inp)?;
    launch_n!(dev, "gelu_forward_f32", n, out, inp)
}

/// `dinp = dout (Φ(x) + x φ(x))` (overwritten).
pub fn gelu_backward_cuda(
    dev: &CudaDevice,
    dinp: &mut CudaSlice<f32>,
    inp: &CudaSlice<f32>,
    dout: &CudaSlice<f32>,
) -> Result<(), CudaError> {
    let n = same_len("gelu_backward_cuda", dinp, inp)?;
    same_len("gelu_backward_cuda", dinp, dout)?;
    launch_n!(dev, "gelu_backward_f32", n, dinp, inp, dout)
}

/// `pre = x + bias` (per column), `out = GELU(pre)`; backward is
/// [`gelu_backward_cuda`] on `pre` then [`bias_backward_cuda`]. `x`, `pre`, `out`: `[N, C]`.
pub fn bias_gelu_forward_cuda(
    dev: &CudaDevice,
    out: &mut CudaSlice<f32>,
    pre: &mut CudaSlice<f32>,
    x: &CudaSlice<f32>,
    bias: &CudaSlice<f32>,
    c: usize,
) -> Result<(), CudaError> {
    const K: &str = "bias_gelu_forward_cuda";
    let n = same_len(K, out, x)?;
    same_len(K, pre, x)?;
    check_exact(K, "bias [C]", bias, c)?;
    if c == 0 || !n.is_multiple_of(c) {
        return Err(shape(K, format!("{n} elements are not rows of C = {c}")));
    }
    let f = dev.function(&sources::ELEMENTWISE, "bias_gelu_forward_f32")?;
    let (nn, ci) = (n as i64, c as i32);
    let mut l = dev.stream().launch_builder(&f);
    l.arg(out).arg(pre).arg(x).arg(bias).arg(&nn).arg(&ci);
    // SAFETY: arguments match bias_gelu_forward_f32.
    unsafe { l.launch(elementwise_config(n)) }?;
    Ok(())
}

/// `x[i, :] += bias`. `x`: `[N, C]`.
pub fn bias_forward_cuda(
    dev: &CudaDevice,
    x: &mut CudaSlice<f32>,
    bias: &CudaSlice<f32>,
    c: usize,
) -> Result<(), CudaError> {
    const K: &str = "bias_forward_cuda";
    check_exact(K, "bias [C]", bias, c)?;
    let n = x.len();
    if c == 0 || !n.is_multiple_of(c) {
        return Err(shape(K, format!("{n} elements are not rows of C = {c}")));
    }
    let f = dev.function(&sources::ELEMENTWISE, "bias_forward_f32")?;
    let (nn, ci) = (n as i64, c as i32);
    let mut l = dev.stream().launch_builder(&f);
    l.arg(x).arg(bias).arg(&nn).arg(&ci);
    // SAFETY: arguments match bias_forward_f32.
    unsafe { l.launch(elementwise_config(n)) }?;
    Ok(())
}

/// `dbias += Σ_rows dout`. `dout`: `[N, C]`.
pub fn bias_backward_cuda(
    dev: &CudaDevice,
    dbias: &mut CudaSlice<f32>,
    dout: &CudaSlice<f32>,
    n: usize,
    c: usize,
) -> Result<(), CudaError> {
    const K: &str = "bias_backward_cuda";
    check_exact(K, "dbias [C]", dbias, c)?;
    check_exact(K, "dout [N, C]", dout, n * c)?;
    if n * c == 0 {
        return Ok(());
    }
    let f = dev.function(&sources::ELEMENTWISE, "bias_backward_f32")?;
    let cfg = LaunchConfig {
        grid_dim: (c.div_ceil(256) as u32, 1, 1),
        block_dim: (256, 1, 1),
        shared_mem_bytes: 0,
    };
    let (ni, ci) = (n as i32, c as i32);
    let mut l = dev.stream().launch_builder(&f);
    l.arg(dbias).arg(dout).arg(&ni).arg(&ci);
    // SAFETY: arguments match bias_backward_f32.
    unsafe { l.launch(cfg) }?;
    Ok(())
}

/// `out = a + b`.
pub fn residual_forward_cuda(
    dev: &CudaDevice,
    out: &mut CudaSlice<f32>,
    a: &CudaSlice<f32>,
    b: &CudaSlice<f32>,
) -> Result<(), CudaError> {
    let n = same_len("residual_forward_cuda", out, a)?;
    same_len("residual_forward_cuda", out, b)?;
    launch_n!(dev, "residual_forward_f32", n, out, a, b)
}

/// `dst += src`.
pub fn accumulate_cuda(
    dev: &CudaDevice,
    dst: &mut CudaSlice<f32>,
    src: &CudaSlice<f32>,
) -> Result<(), CudaError> {
    let n = same_len("accumulate_cuda", dst, src)?;
    launch_n!(dev, "accumulate_f32", n, dst, src)
}

/// `dst *= s`.
pub fn scale_cuda(dev: &CudaDevice, dst: &mut CudaSlice<f32>, s: f32) -> Result<(), CudaError> {
    let n = dst.len();
    if n == 0 {
        return Ok(());
    }
    let f = dev.function(&sources::ELEMENTWISE, "scale_f32")?;
    let nn = n as i64;
    let mut l = dev.stream().launch_builder(&f);
    l.arg(dst).arg(&s).arg(&nn);
    // SAFETY: arguments match scale_f32.
    unsafe { l.launch(elementwise_config(n)) }?;
    Ok(())
}

/// Inverted dropout with the CPU's counter-based mask (forward and backward alike):
/// `dst[i] = keep(seed, i) ? src[i] / (1 - p) : 0`. Fewer than 2^32 elements.
pub fn dropout_cuda(
    dev: &CudaDevice,
    dst: &mut CudaSlice<f32>,
    src: &CudaSlice<f32>,
    p: f32,
    seed: u64,
) -> Result<(), CudaError> {
    const K: &str = "dropout_cuda";
    let n = same_len(K, dst, src)?;
    if n > u32::MAX as usize {
        return Err(shape(K, "more than 2^32 elements"));
    }
    if !(0.0..=1.0).contains(&p) {
        return Err(shape(K, format!("p = {p} is not in [0, 1]")));
    }
    if n == 0 {
        return Ok(());
    }
    let k = DropoutKeys::new(p, seed);
    let f = dev.function(&sources::ELEMENTWISE, "dropout_f32")?;
    let nn = n as i64;
    let mut l = dev.stream().launch_builder(&f);
    l.arg(dst)
        .arg(src)
        .arg(&nn)
        .arg(&k.k0)
        .arg(&k.k1)
        .arg(&k.thr)
        .arg(&k.scale);
    // SAFETY: arguments match dropout_f32.
    unsafe { l.launch(elementwise_config(n)) }?;
    Ok(())
}

/// f32 -> bf16 / f16 bits, round to nearest even.
pub fn cast_to_half_cuda(
    dev: &CudaDevice,
    dtype: Half,
    dst: &mut CudaSlice<u16>,
    src: &CudaSlice<f32>,
) -> Result<(), CudaError> {
    let n = same_len("cast_to_half_cuda", dst, src)?;
    match dtype {
        Half::Bf16 => launch_n!(dev, "cast_f32_to_bf16", n, dst, src),
        Half::F16 => launch_n!(dev, "cast_f32_to_f16", n, dst, src),
    }
}

/// bf16 / f16 bits -> f32 (exact).
pub fn cast_from_half_cuda(
    dev: &CudaDevice,
    dtype: Half,
    dst: &mut CudaSlice<f32>,
    src: &CudaSlice<u16>,
) -> Result<(), CudaError> {
    let n = same_len("cast_from_half_cuda", dst, src)?;
    match dtype {
        Half::Bf16 => launch_n!(dev, "cast_bf16_to_f32", n, dst, src),
        Half::F16 => launch_n!(dev, "cast_f16_to_f32", n, dst, src),
    }
}
