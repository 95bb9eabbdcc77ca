//! Every CUDA kernel against the CPU reference on randomized shapes (feature `cuda`).
//! Without a driver or device each test prints a skip line and passes; one test checks
//! that the missing driver is a clean error, not a panic.
//!
//! Tolerances: f32 kernels within 1e-5 absolute + 1e-4 relative of the f64/CPU reference
//! (GELU, exp and erf differ by a few ulp between the CPU polynomials and CUDA's libm);
//! tensor-core GEMMs compare against an f64 product of the same bf16/f16-rounded inputs,
//! so only f32 accumulation error remains (1e-3 relative to the row's magnitude).
#![cfg(feature = "cuda")]

mod common;
mod cuda_common;

use common::{assert_close, randn, rng};
use cuda_common::{attention_reference, close_to_scale, test_mask};
use half::{bf16, f16};
use rand::Rng;
use tokken_kernels::cpu;
use tokken_kernels::cpu::gemm::Trans;
use tokken_kernels::cuda::adamw::{
    adamw_step_cuda, clip_grad_norm_cuda, global_norm_cuda, AdamWTensor,
};
use tokken_kernels::cuda::attention::{
    attention_backward_cuda, attention_forward_cuda, AttentionKernel,
};
use tokken_kernels::cuda::elementwise::*;
use tokken_kernels::cuda::embedding::{embedding_backward_cuda, embedding_forward_cuda};
use tokken_kernels::cuda::gemm::{gemm_cuda, sgemm_cuda, Half, TensorCoreKernel};
use tokken_kernels::cuda::layernorm::{layernorm_backward_cuda, layernorm_forward_cuda};
use tokken_kernels::cuda::lora::{lora_backward_cuda, lora_forward_cuda, LoraSaved, LoraShape};
use tokken_kernels::cuda::xent::cross_entropy_cuda;
use tokken_kernels::cuda::{CudaDevice, CudaError};

/// [`assert_close`], printing the max absolute error first (a GPU run's figures).
fn check(name: &str, got: &[f32], want: &[f64], atol: f64, rtol: f64) {
    let max = got
        .iter()
        .zip(want)
        .map(|(&g, &w)| (g as f64 - w).abs())
        .fold(0.0f64, f64::max);
    println!("{name}: max abs err {max:.3e}");
    assert_close(name, got, want, atol, rtol);
}

/// Where a GEMM result is wrong, to tell a layout bug from rounding on a first GPU run:
/// how many elements miss `atol + rtol |want|`, and their counts by row mod 64 (a warp's or
/// warpgroup's rows) and by column mod 16 (fragment columns), nonzero entries only.
fn mismatch_pattern(
    name: &str,
    got: &[f32],
    want: &[f32],
    n: usize,
    atol: f64,
    rtol: f64,
) -> String {
    let (mut rows, mut cols, mut wrong) = ([0usize; 64], [0usize; 16], 0usize);
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        let (g, w) = (g as f64, w as f64);
        // NaN counts as wrong.
        let within = (g - w).abs() <= atol + rtol * w.abs();
        if !within {
            wrong += 1;
            rows[(i / n) % 64] += 1;
            cols[(i % n) % 16] += 1;
        }
    }
    if wrong == 0 {
        return format!("{name}: every element within tolerance");
    }
    let nonzero = |v: &[usize]| -> String {
        let parts: Vec<String> = v
            .iter()
            .enumerate()
            .filter(|(_, &c)| c > 0)
            .map(|(k, c)| format!("{k}:{c}"))
            .collect();
        parts.join(" ")
    };
    format!(
        "{name}: {wrong} of {} wrong; by row mod 64 [{}]; by column mod 16 [{}]",
        got.len(),
        nonzero(&rows),
        nonzero(&cols)
    )
}

#[test]
fn mismatch_pattern_locates_wrong_elements() {
    // 2 x 20: two wrong elements, at (0, 3) and (1, 19).
    let want = vec![1.0f32; 40];
    let mut got = want.clone();
    got[3] = 2.0;
    got[20 + 19] = f32::NAN;
    let s = mismatch_pattern("t", &got, &want, 20, 1e-3, 1e-3);
    assert_eq!(
        s,
        "t: 2 of 40 wrong; by row mod 64 [0:1 1:1]; by column mod 16 [3:2]"
    );
    assert!(mismatch_pattern("t", &want, &want, 20, 0.0, 0.0).contains("every element"));
}

/// The first device, or a skip line.
fn device() -> Option<CudaDevice> {
    match CudaDevice::new(0) {
        Ok(d) => Some(d),
        Err(e) => {
            println!("skipping: {e}");
            None
        }
    }
}

fn f64s(v: &[f32]) -> Vec<f64> {
    v.iter().map(|&x| x as f64).collect()
}

/// 16-bit bits of `x` and `x` rounded through that type.
fn to_half(dtype: Half, x: &[f32]) -> (Vec<u16>, Vec<f32>) {
    match dtype {
        Half::Bf16 => x
            .iter()
            .map(|&v| {
                let h = bf16::from_f32(v);
                (h.to_bits(), h.to_f32())
            })
            .unzip(),
        Half::F16 => x
            .iter()
            .map(|&v| {
                let h = f16::from_f32(v);
                (h.to_bits(), h.to_f32())
            })
            .unzip(),
    }
}

#[test]
fn missing_driver_is_a_clean_error() {
    match CudaDevice::new(0) {
        Ok(d) => println!("device present ({}), nothing to check", d.arch()),
        Err(e) => {
            let msg = e.to_string();
            assert!(
                matches!(
                    e,
                    CudaError::NoDevice(_)
                        | CudaError::NvrtcMissing(_)
                        | CudaError::Unsupported { .. }
                ),
                "unexpected error kind: {msg}"
            );
            println!("clean error: {msg}");
        }
    }
    // A huge ordinal is always a clean error, never a panic.
    assert!(CudaDevice::new(1 << 20).is_err());
}

/// The tensor-core kernel families this device runs: `mma.sync` everywhere, `wgmma` with
/// both tile widths on Hopper too.
fn tensor_core_kernels(dev: &CudaDevice) -> Vec<TensorCoreKernel> {
    let mut kernels = vec![TensorCoreKernel::MmaSync];
    if dev.arch() == "sm_90a" {
        kernels.extend([TensorCoreKernel::Wgmma128, TensorCoreKernel::Wgmma256]);
    } else {
        println!("{}: no wgmma kernels to test", dev.arch());
    }
    kernels
}

#[test]
fn gemm_tensor_cores_match_reference() {
    let Some(dev) = device() else { return };
    for kernel in tensor_core_kernels(&dev) {
        dev.use_tensor_core_kernel(kernel).unwrap();
        gemm_tensor_core_kernel_matches_reference(&dev, kernel);
    }
}

fn gemm_tensor_core_kernel_matches_reference(dev: &CudaDevice, kernel: TensorCoreKernel) {
    let mut r = rng(1);
    for dtype in [Half::Bf16, Half::F16] {
        for (ta, tb) in [
            (Trans::N, Trans::N),
            (Trans::N, Trans::T),
            (Trans::T, Trans::N),
        ] {
            for &(m, n, k) in &[
                (8, 8, 8),
                (128, 128, 32),
                (200, 136, 72),
                (384, 768, 768),
                (64, 3072, 40),
                (264, 392, 328),
            ] {
                let a = randn(&mut r, m * k, 1.0);
                let b = randn(&mut r, k * n, 1.0);
                let c0 = randn(&mut r, m * n, 1.0);
                let bias = randn(&mut r, n, 1.0);
                let (lda, ldb) = (
                    if ta == Trans::N { k } else { m },
                    if tb == Trans::N { n } else { k },
                );
                let (a16, ar) = to_half(dtype, &a);
                let (b16, br) = to_half(dtype, &b);
                let (alpha, beta) = (0.75f32, 0.5f32);
                let mut want = c0.clone();
                cpu::gemm::reference_sgemm(
                    ta, tb, m, n, k, alpha, &ar, lda, &br, ldb, beta, &mut want, n,
                );
                for (w, bv) in want
                    .chunks_exact_mut(n)
                    .flat_map(|row| row.iter_mut().zip(&bias))
                {
                    *w += bv;
                }
                let a_d = dev.upload(&a16).unwrap();
                let b_d = dev.upload(&b16).unwrap();
                let bias_d = dev.upload(&bias).unwrap();
                let mut c_d = dev.upload(&c0).unwrap();
                gemm_cuda(
                    dev,
                    dtype,
                    ta,
                    tb,
                    m,
                    n,
                    k,
                    alpha,
                    &a_d,
                    lda,
                    &b_d,
                    ldb,
                    beta,
                    &mut c_d,
                    n,
                    Some(&bias_d),
                    None,
                )
                .unwrap();
                let got = dev.download(&c_d).unwrap();
                let tol = 1e-3 * (k as f64).sqrt();
                let name = format!("gemm {kernel:?} {dtype:?} {ta:?}{tb:?} {m}x{n}x{k}");
                println!("{}", mismatch_pattern(&name, &got, &want, n, tol, 1e-3));
                check(&name, &got, &f64s(&want), tol, 1e-3);
            }
        }
    }
}

#[test]
fn gemm_rejects_bad_layouts() {
    let Some(dev) = device() else { return };
    let a = dev.upload(&[0u16; 64]).unwrap();
    let mut c = dev.upload(&vec![0f32; 64]).unwrap();
    // K = 4 is not a multiple of 8.
    let e = gemm_cuda(
        &dev,
        Half::Bf16,
        Trans::N,
        Trans::T,
        8,
        8,
        4,
        1.0,
        &a,
        4,
        &a,
        4,
        0.0,
        &mut c,
        8,
        None,
        None,
    );
    assert!(matches!(e, Err(CudaError::Shape { .. })), "{e:?}");
}

#[test]
fn sgemm_matches_reference_on_odd_shapes() {
    let Some(dev) = device() else { return };
    let mut r = rng(2);
    for (ta, tb) in [
        (Trans::N, Trans::N),
        (Trans::N, Trans::T),
        (Trans::T, Trans::N),
        (Trans::T, Trans::T),
    ] {
        for &(m, n, k) in &[(1, 1, 1), (7, 9, 13), (33, 5, 70), (128, 3, 768)] {
            let a = randn(&mut r, m * k, 1.0);
            let b = randn(&mut r, k * n, 1.0);
            let c0 = randn(&mut r, m * n, 1.0);
            let (lda, ldb) = (
                if ta == Trans::N { k } else { m },
                if tb == Trans::N { n } else { k },
            );
            let mut want = c0.clone();
            cpu::gemm::reference_sgemm(ta, tb, m, n, k, 1.5, &a, lda, &b, ldb, -1.0, &mut want, n);
            let (a_d, b_d) = (dev.upload(&a).unwrap(), dev.upload(&b).unwrap());
            let mut c_d = dev.upload(&c0).unwrap();
            sgemm_cuda(
                &dev, ta, tb, m, n, k, 1.5, &a_d, lda, &b_d, ldb, -1.0, &mut c_d, n,
            )
            .unwrap();
            check(
                &format!("sgemm {ta:?}{tb:?} {m}x{n}x{k}"),
                &dev.download(&c_d).unwrap(),
                &f64s(&want),
                1e-4,
                1e-4,
            );
        }
    }
}

#[test]
fn lora_forward_and_backward_match_cpu_composition() {
    let Some(dev) = device() else { return };
    for kernel in tensor_core_kernels(&dev) {
        println!("LoRA through the {kernel:?} GEMM");
        dev.use_tensor_core_kernel(kernel).unwrap();
        lora_matches_cpu_composition(&dev);
    }
}

fn lora_matches_cpu_composition(dev: &CudaDevice) {
    let mut r = rng(3);
    let dtype = Half::Bf16;
    let s = LoraShape {
        m: 96,
        n: 256,
        k: 192,
        r: 8,
        scale: 2.0,
    };
    let x = randn(&mut r, s.m * s.k, 1.0);
    let w = randn(&mut r, s.n * s.k, 0.1);
    let a = randn(&mut r, s.r * s.k, 0.1);
    let b = randn(&mut r, s.n * s.r, 0.1);
    let bias = randn(&mut r, s.n, 0.1);
    let dy = randn(&mut r, s.m * s.n, 1.0);
    let (x16, xr) = to_half(dtype, &x);
    let (w16, wr) = to_half(dtype, &w);
    let (dy16, dyr) = to_half(dtype, &dy);
    // CPU: u = x Aᵀ; y = x Wᵀ + bias + s u Bᵀ (rounded inputs where the GPU rounds them).
    let mut u = vec![0.0f32; s.m * s.r];
    cpu::gemm::reference_sgemm(
        Trans::N,
        Trans::T,
        s.m,
        s.r,
        s.k,
        1.0,
        &xr,
        s.k,
        &a,
        s.k,
        0.0,
        &mut u,
        s.r,
    );
    let mut y = vec![0.0f32; s.m * s.n];
    cpu::gemm::reference_sgemm(
        Trans::N,
        Trans::T,
        s.m,
        s.n,
        s.k,
        1.0,
        &xr,
        s.k,
        &wr,
        s.k,
        0.0,
        &mut y,
        s.n,
    );
    cpu::gemm::reference_sgemm(
        Trans::N,
        Trans::T,
        s.m,
        s.n,
        s.r,
        s.scale,
        &u,
        s.r,
        &b,
        s.r,
        1.0,
        &mut y,
        s.n,
    );
    cpu::bias::bias_forward(&mut y, &bias, s.m, s.n);

    let (x_d, w_d, a_d, b_d, bias_d) = (
        dev.upload(&x16).unwrap(),
        dev.upload(&w16).unwrap(),
        dev.upload(&a).unwrap(),
        dev.upload(&b).unwrap(),
        dev.upload(&bias).unwrap(),
    );
    let mut y_d = dev.alloc.zeros::<f32>(s.m * s.n).unwrap();
    let mut u_d = dev.alloc.zeros::<f32>(s.m * s.r).unwrap();
    lora_forward_cuda(
        dev,
        dtype,
        s,
        &mut y_d,
        &mut u_d,
        &x_d,
        &w_d,
        Some(&bias_d),
        &a_d,
        &b_d,
    )
    .unwrap();
    check(
        "lora u",
        &dev.download(&u_d).unwrap(),
        &f64s(&u),
        1e-4,
        1e-4,
    );
    check(
        "lora y",
        &dev.download(&y_d).unwrap(),
        &f64s(&y),
        1e-3,
        1e-3,
    );

    // Backward on the CPU: dB += s dyᵀ u; du = s dy B; dA += duᵀ x; dx = dy W + du A.
    let da0 = randn(&mut r, s.r * s.k, 0.1);
    let db0 = randn(&mut r, s.n * s.r, 0.1);
    let mut db = db0.clone();
    cpu::gemm::reference_sgemm(
        Trans::T,
        Trans::N,
        s.n,
        s.r,
        s.m,
        s.scale,
        &dy,
        s.n,
        &u,
        s.r,
        1.0,
        &mut db,
        s.r,
    );
    let mut du = vec![0.0f32; s.m * s.r];
    cpu::gemm::reference_sgemm(
        Trans::N,
        Trans::N,
        s.m,
        s.r,
        s.n,
        s.scale,
        &dy,
        s.n,
        &b,
        s.r,
        0.0,
        &mut du,
        s.r,
    );
    let mut da = da0.clone();
    cpu::gemm::reference_sgemm(
        Trans::T,
        Trans::N,
        s.r,
        s.k,
        s.m,
        1.0,
        &du,
        s.r,
        &xr,
        s.k,
        1.0,
        &mut da,
        s.k,
    );
    let mut dx = vec![0.0f32; s.m * s.k];
    cpu::gemm::reference_sgemm(
        Trans::N,
        Trans::N,
        s.m,
        s.k,
        s.n,
        1.0,
        &dyr,
        s.n,
        &wr,
        s.k,
        0.0,
        &mut dx,
        s.k,
    );
    cpu::gemm::reference_sgemm(
        Trans::N,
        Trans::N,
        s.m,
        s.k,
        s.r,
        1.0,
        &du,
        s.r,
        &a,
        s.k,
        1.0,
        &mut dx,
        s.k,
    );

    let (dy_d, dy16_d) = (dev.upload(&dy).unwrap(), dev.upload(&dy16).unwrap());
    let mut dx_d = dev.alloc.zeros::<f32>(s.m * s.k).unwrap();
    let mut da_d = dev.upload(&da0).unwrap();
    let mut db_d = dev.upload(&db0).unwrap();
    let mut du_d = dev.alloc.zeros::<f32>(s.m * s.r).unwrap();
    let saved = LoraSaved {
        dy: &dy_d,
        dy16: &dy16_d,
        x: &x_d,
        w: &w_d,
        u: &u_d,
        a: &a_d,
        b: &b_d,
    };
    lora_backward_cuda(
        dev, dtype, s, &mut dx_d, &mut da_d, &mut db_d, &mut du_d, &saved,
    )
    .unwrap();
    check(
        "lora dB",
        &dev.download(&db_d).unwrap(),
        &f64s(&db),
        1e-3,
        1e-3,
    );
    check(
        "lora dA",
        &dev.download(&da_d).unwrap(),
        &f64s(&da),
        1e-3,
        1e-3,
    );
    check(
        "lora dx",
        &dev.download(&dx_d).unwrap(),
        &f64s(&dx),
        1e-3,
        1e-3,
    );
}

/// The naive reference the GPU test trusts agrees with the CPU kernels (forward and
/// backward, padding and the all-padded uniform rule); runs without a device.
#[test]
fn attention_reference_matches_cpu_kernels() {
    let mut r = rng(40);
    let (b, t, c, nh) = (3, 19, 24, 3);
    let qkv = randn(&mut r, b * t * 3 * c, 1.0);
    let dout = randn(&mut r, b * t * c, 1.0);
    let mut mask = vec![1u8; b * t];
    for j in 0..t {
        mask[t + j] = (j % 3 != 0) as u8;
        mask[2 * t + j] = 0;
    }
    let (out_ref, lse_ref, dqkv_ref) = attention_reference(&qkv, &mask, &dout, b, t, c, nh, None);
    let mut out = vec![0.0; b * t * c];
    let mut lse = vec![0.0; b * nh * t];
    cpu::attention::attention_forward(&mut out, &mut lse, &qkv, &mask, b, t, c, nh, None);
    check("reference out", &out, &out_ref, 1e-5, 1e-4);
    check("reference lse", &lse, &lse_ref, 1e-5, 1e-4);
    let mut dqkv = vec![0.0; b * t * 3 * c];
    cpu::attention::attention_backward(&mut dqkv, &dout, &qkv, &out, &lse, &mask, b, t, c, nh);
    check("reference dqkv", &dqkv, &dqkv_ref, 1e-4, 1e-3);
}

/// `attention_backward_cuda` on device buffers `[dout, qkv, out, lse]`; returns dqkv.
fn backward(
    dev: &CudaDevice,
    [dout, qkv, out, lse]: [&cudarc::driver::CudaSlice<f32>; 4],
    mask: &cudarc::driver::CudaSlice<u8>,
    (b, t, c, nh): (usize, usize, usize, usize),
    dropout: Option<(f32, u64)>,
) -> Vec<f32> {
    let mut dqkv = dev.alloc.zeros::<f32>(b * t * 3 * c).unwrap();
    let mut dsum = dev.alloc.zeros::<f32>(b * nh * t).unwrap();
    attention_backward_cuda(
        dev, &mut dqkv, &mut dsum, dout, qkv, out, lse, mask, b, t, c, nh, dropout,
    )
    .unwrap();
    dev.download(&dqkv).unwrap()
}

#[test]
fn attention_matches_cpu_and_reference_with_dropout() {
    let Some(dev) = device() else { return };
    let mut r = rng(4);
    for &(b, t, c, nh, p) in &[
        (2, 7, 16, 2, 0.0f32),
        (3, 40, 64, 2, 0.0),
        (2, 33, 96, 3, 0.1),
        (1, 70, 256, 2, 0.3),
    ] {
        let qkv = randn(&mut r, b * t * 3 * c, 1.0);
        let dout = randn(&mut r, b * t * c, 1.0);
        // Sequence 0 fully real, the last fully padded (uniform rule), others random padding.
        let mask = test_mask(&mut r, b, t, 0);
        let dropout = (p > 0.0).then_some((p, 1234u64));
        let (out_ref, lse_ref, dqkv_ref) =
            attention_reference(&qkv, &mask, &dout, b, t, c, nh, dropout);
        if dropout.is_none() {
            // The CPU kernel itself agrees with the naive reference.
            let mut out = vec![0.0; b * t * c];
            let mut lse = vec![0.0; b * nh * t];
            cpu::attention::attention_forward(&mut out, &mut lse, &qkv, &mask, b, t, c, nh, None);
            check("cpu attention out", &out, &out_ref, 1e-5, 1e-4);
        }
        let (qkv_d, mask_d, dout_d) = (
            dev.upload(&qkv).unwrap(),
            dev.upload(&mask).unwrap(),
            dev.upload(&dout).unwrap(),
        );
        let mut out_d = dev.alloc.zeros::<f32>(b * t * c).unwrap();
        let mut lse_d = dev.alloc.zeros::<f32>(b * nh * t).unwrap();
        attention_forward_cuda(
            &dev, &mut out_d, &mut lse_d, &qkv_d, &mask_d, b, t, c, nh, dropout,
        )
        .unwrap();
        let name = format!("attention b{b} t{t} c{c} nh{nh} p{p}");
        check(
            &format!("{name} out"),
            &dev.download(&out_d).unwrap(),
            &out_ref,
            1e-5,
            1e-4,
        );
        check(
            &format!("{name} lse"),
            &dev.download(&lse_d).unwrap(),
            &lse_ref,
            1e-5,
            1e-4,
        );
        check(
            &format!("{name} dqkv"),
            &backward(
                &dev,
                [&dout_d, &qkv_d, &out_d, &lse_d],
                &mask_d,
                (b, t, c, nh),
                dropout,
            ),
            &dqkv_ref,
            1e-4,
            1e-3,
        );
    }
}

#[test]
fn attention_tensor_cores_match_reference() {
    let Some(dev) = device() else { return };
    dev.use_attention_kernel(AttentionKernel::TensorCore);
    let mut r = rng(14);
    // Head sizes 16, 32, 64 (BERT) on tensor cores; 128 and 96 fall back to the f32 kernels.
    for &(b, t, c, nh, p) in &[
        (2, 7, 32, 2, 0.0f32),
        (3, 70, 64, 2, 0.0),
        (4, 128, 768, 12, 0.1),
        (2, 65, 256, 2, 0.3),
        (2, 33, 96, 1, 0.0),
    ] {
        let qkv = randn(&mut r, b * t * 3 * c, 1.0);
        let mask = test_mask(&mut r, b, t, 64);
        let dropout = (p > 0.0).then_some((p, 77u64));
        // The tensor-core kernel rounds Q, K and V to f16: the reference gets the same inputs.
        let tensor_cores = [16, 32, 64].contains(&(c / nh));
        let input: Vec<f32> = if tensor_cores {
            qkv.iter().map(|&x| f16::from_f32(x).to_f32()).collect()
        } else {
            qkv.clone()
        };
        let dout = randn(&mut r, b * t * c, 1.0);
        let (out_ref, lse_ref, dqkv_on_input) =
            attention_reference(&input, &mask, &dout, b, t, c, nh, dropout);
        // The gradients against the unrounded inputs (the same ones without tensor cores).
        let dqkv_ref = if tensor_cores {
            attention_reference(&qkv, &mask, &dout, b, t, c, nh, dropout).2
        } else {
            dqkv_on_input
        };
        let (qkv_d, mask_d) = (dev.upload(&qkv).unwrap(), dev.upload(&mask).unwrap());
        let mut out_d = dev.alloc.zeros::<f32>(b * t * c).unwrap();
        let mut lse_d = dev.alloc.zeros::<f32>(b * nh * t).unwrap();
        attention_forward_cuda(
            &dev, &mut out_d, &mut lse_d, &qkv_d, &mask_d, b, t, c, nh, dropout,
        )
        .unwrap();
        let name = format!("tensor-core attention b{b} t{t} c{c} nh{nh} p{p}");
        // What remains is P rounded to f16 before P V.
        let tol = if tensor_cores { 3e-3 } else { 1e-4 };
        let out = dev.download(&out_d).unwrap();
        // Tokens by row (mod 64: a block's query tile), head dimensions by column (mod 16).
        let want: Vec<f32> = out_ref.iter().map(|&x| x as f32).collect();
        println!("{}", mismatch_pattern(&name, &out, &want, c, tol, tol));
        check(&format!("{name} out"), &out, &out_ref, tol, tol);
        check(
            &format!("{name} lse"),
            &dev.download(&lse_d).unwrap(),
            &lse_ref,
            1e-4,
            1e-4,
        );
        // bf16 gradient operands on tensor cores: about 2e-3 of the scale in the emulation.
        let dout_d = dev.upload(&dout).unwrap();
        close_to_scale(
            &format!("{name} dqkv"),
            &backward(
                &dev,
                [&dout_d, &qkv_d, &out_d, &lse_d],
                &mask_d,
                (b, t, c, nh),
                dropout,
            ),
            &dqkv_ref,
            if tensor_cores { 6e-3 } else { 1e-3 },
        );
    }
}

#[test]
fn layernorm_matches_cpu() {
    let Some(dev) = device() else { return };
    let mut r = rng(5);
    for &(n, c) in &[(1, 1), (5, 7), (37, 768), (300, 1024)] {
        let x = randn(&mut r, n * c, 2.0);
        let (g, bt) = (randn(&mut r, c, 1.0), randn(&mut r, c, 1.0));
        let dy = randn(&mut r, n * c, 1.0);
        let (mut out, mut mean, mut rstd) = (vec![0.0; n * c], vec![0.0; n], vec![0.0; n]);
        cpu::layernorm::layernorm_forward(&mut out, &mut mean, &mut rstd, &x, &g, &bt, n, c, 1e-12);
        let (dg0, db0) = (randn(&mut r, c, 1.0), randn(&mut r, c, 1.0));
        let (mut dx, mut dg, mut db) = (vec![0.0; n * c], dg0.clone(), db0.clone());
        cpu::layernorm::layernorm_backward(
            &mut dx, &mut dg, &mut db, &dy, &x, &mean, &rstd, &g, n, c,
        );

        let (x_d, g_d, b_d, dy_d) = (
            dev.upload(&x).unwrap(),
            dev.upload(&g).unwrap(),
            dev.upload(&bt).unwrap(),
            dev.upload(&dy).unwrap(),
        );
        let mut out_d = dev.alloc.zeros::<f32>(n * c).unwrap();
        let mut mean_d = dev.alloc.zeros::<f32>(n).unwrap();
        let mut rstd_d = dev.alloc.zeros::<f32>(n).unwrap();
        layernorm_forward_cuda(
            &dev,
            &mut out_d,
            &mut mean_d,
            &mut rstd_d,
            &x_d,
            &g_d,
            &b_d,
            n,
            c,
            1e-12,
        )
        .unwrap();
        check(
            "ln out",
            &dev.download(&out_d).unwrap(),
            &f64s(&out),
            1e-5,
            1e-4,
        );
        check(
            "ln rstd",
            &dev.download(&rstd_d).unwrap(),
            &f64s(&rstd),
            1e-5,
            1e-4,
        );
        let mut dx_d = dev.alloc.zeros::<f32>(n * c).unwrap();
        let (mut dg_d, mut db_d) = (dev.upload(&dg0).unwrap(), dev.upload(&db0).unwrap());
        layernorm_backward_cuda(
            &dev, &mut dx_d, &mut dg_d, &mut db_d, &dy_d, &x_d, &mean_d, &rstd_d, &g_d, n, c,
        )
        .unwrap();
        check(
            "ln dx",
            &dev.download(&dx_d).unwrap(),
            &f64s(&dx),
            1e-4,
            1e-3,
        );
        check(
            "ln dgamma",
            &dev.download(&dg_d).unwrap(),
            &f64s(&dg),
            1e-4,
            1e-4,
        );
        check(
            "ln dbeta",
            &dev.download(&db_d).unwrap(),
            &f64s(&db),
            1e-4,
            1e-4,
        );
    }
}

#[test]
fn elementwise_ops_match_cpu() {
    let Some(dev) = device() else { return };
    let mut r = rng(6);
    let (n, c) = (123, 77);
    let x = randn(&mut r, n * c, 5.0);
    let y = randn(&mut r, n * c, 5.0);
    let bias = randn(&mut r, c, 1.0);
    let x_d = dev.upload(&x).unwrap();
    let y_d = dev.upload(&y).unwrap();
    let bias_d = dev.upload(&bias).unwrap();
    let mut o_d = dev.alloc.zeros::<f32>(n * c).unwrap();

    let mut want = vec![0.0; n * c];
    cpu::gelu::gelu_forward(&mut want, &x);
    gelu_forward_cuda(&dev, &mut o_d, &x_d).unwrap();
    check(
        "gelu",
        &dev.download(&o_d).unwrap(),
        &f64s(&want),
        1e-6,
        1e-5,
    );
    cpu::gelu::gelu_backward(&mut want, &x, &y);
    gelu_backward_cuda(&dev, &mut o_d, &x_d, &y_d).unwrap();
    check(
        "gelu backward",
        &dev.download(&o_d).unwrap(),
        &f64s(&want),
        1e-6,
        1e-5,
    );

    let mut pre = x.clone();
    cpu::bias::bias_forward(&mut pre, &bias, n, c);
    cpu::gelu::gelu_forward(&mut want, &pre);
    let mut pre_d = dev.alloc.zeros::<f32>(n * c).unwrap();
    bias_gelu_forward_cuda(&dev, &mut o_d, &mut pre_d, &x_d, &bias_d, c).unwrap();
    check(
        "bias+gelu pre",
        &dev.download(&pre_d).unwrap(),
        &f64s(&pre),
        0.0,
        1e-7,
    );
    check(
        "bias+gelu",
        &dev.download(&o_d).unwrap(),
        &f64s(&want),
        1e-6,
        1e-5,
    );

    let mut xb_d = dev.upload(&x).unwrap();
    bias_forward_cuda(&dev, &mut xb_d, &bias_d, c).unwrap();
    check(
        "bias",
        &dev.download(&xb_d).unwrap(),
        &f64s(&pre),
        0.0,
        1e-7,
    );

    let db0 = randn(&mut r, c, 1.0);
    let mut db = db0.clone();
    cpu::bias::bias_backward(&mut db, &y, n, c);
    let mut db_d = dev.upload(&db0).unwrap();
    bias_backward_cuda(&dev, &mut db_d, &y_d, n, c).unwrap();
    check(
        "bias backward",
        &dev.download(&db_d).unwrap(),
        &f64s(&db),
        1e-4,
        1e-5,
    );

    cpu::residual::residual_forward(&mut want, &x, &y);
    residual_forward_cuda(&dev, &mut o_d, &x_d, &y_d).unwrap();
    check(
        "residual",
        &dev.download(&o_d).unwrap(),
        &f64s(&want),
        0.0,
        1e-7,
    );
    let mut acc_d = dev.upload(&x).unwrap();
    accumulate_cuda(&dev, &mut acc_d, &y_d).unwrap();
    check(
        "accumulate",
        &dev.download(&acc_d).unwrap(),
        &f64s(&want),
        0.0,
        1e-7,
    );

    for &(p, seed) in &[(0.1f32, 9u64), (0.5, 10), (1.0, 11)] {
        cpu::dropout::dropout_forward(&mut want, &x, p, seed);
        dropout_cuda(&dev, &mut o_d, &x_d, p, seed).unwrap();
        // Same mask, same scale: identical bits.
        assert_eq!(dev.download(&o_d).unwrap(), want, "dropout p {p}");
    }

    for dtype in [Half::Bf16, Half::F16] {
        let (bits, rounded) = to_half(dtype, &x);
        let mut h_d = dev.alloc.zeros::<u16>(n * c).unwrap();
        cast_to_half_cuda(&dev, dtype, &mut h_d, &x_d).unwrap();
        assert_eq!(dev.download(&h_d).unwrap(), bits, "cast to {dtype:?}");
        cast_from_half_cuda(&dev, dtype, &mut o_d, &h_d).unwrap();
        assert_eq!(dev.download(&o_d).unwrap(), rounded, "cast from {dtype:?}");
    }
}

#[test]
fn embedding_matches_cpu() {
    let Some(dev) = device() else { return };
    let mut r = rng(7);
    let (b, t, c, v, pmax, tv) = (3, 11, 48, 50, 16, 2);
    let ids: Vec<u32> = (0..b * t).map(|_| r.random_range(0..v as u32)).collect();
    let types: Vec<u32> = (0..b * t).map(|_| r.random_range(0..tv as u32)).collect();
    let (word, pos, tt) = (
        randn(&mut r, v * c, 1.0),
        randn(&mut r, pmax * c, 1.0),
        randn(&mut r, tv * c, 1.0),
    );
    let mut out = vec![0.0; b * t * c];
    cpu::embedding::embedding_forward(&mut out, &ids, &types, &word, &pos, &tt, b, t, c);
    let (w_d, p_d, t_d) = (
        dev.upload(&word).unwrap(),
        dev.upload(&pos).unwrap(),
        dev.upload(&tt).unwrap(),
    );
    let mut out_d = dev.alloc.zeros::<f32>(b * t * c).unwrap();
    embedding_forward_cuda(&dev, &mut out_d, &ids, &types, &w_d, &p_d, &t_d, b, t, c).unwrap();
    check(
        "embedding",
        &dev.download(&out_d).unwrap(),
        &f64s(&out),
        0.0,
        1e-7,
    );

    let dout = randn(&mut r, b * t * c, 1.0);
    let (mut dw, mut dp, mut dt) = (
        randn(&mut r, v * c, 1.0),
        randn(&mut r, pmax * c, 1.0),
        randn(&mut r, tv * c, 1.0),
    );
    let (mut dw_d, mut dp_d, mut dt_d) = (
        dev.upload(&dw).unwrap(),
        dev.upload(&dp).unwrap(),
        dev.upload(&dt).unwrap(),
    );
    cpu::embedding::embedding_backward(
        Some(&mut dw),
        Some(&mut dp),
        Some(&mut dt),
        &dout,
        &ids,
        &types,
        b,
        t,
        c,
    );
    let dout_d = dev.upload(&dout).unwrap();
    embedding_backward_cuda(
        &dev,
        Some(&mut dw_d),
        Some(&mut dp_d),
        Some(&mut dt_d),
        &dout_d,
        &ids,
        &types,
        b,
        t,
        c,
    )
    .unwrap();
    // Tokens are added in the same order: identical results.
    assert_eq!(dev.download(&dw_d).unwrap(), dw, "dword");
    assert_eq!(dev.download(&dp_d).unwrap(), dp, "dposition");
    assert_eq!(dev.download(&dt_d).unwrap(), dt, "dtoken_type");
    let bad = vec![v as u32; b * t];
    assert!(
        embedding_forward_cuda(&dev, &mut out_d, &bad, &types, &w_d, &p_d, &t_d, b, t, c).is_err()
    );
}

#[test]
fn cross_entropy_matches_cpu() {
    use cpu::xent::{cross_entropy, CrossEntropyOptions, Reduction};
    let Some(dev) = device() else { return };
    let mut r = rng(8);
    let (n, k) = (37, 9);
    let logits = randn(&mut r, n * k, 4.0);
    let mut targets: Vec<i32> = (0..n).map(|_| r.random_range(0..k as i32)).collect();
    targets[3] = -100;
    let weight = (0..k)
        .map(|_| r.random_range(0.5..2.0))
        .collect::<Vec<f32>>();
    let l_d = dev.upload(&logits).unwrap();
    let mut d_d = dev.alloc.zeros::<f32>(n * k).unwrap();
    for opts in [
        CrossEntropyOptions {
            ignore_index: Some(-100),
            ..Default::default()
        },
        CrossEntropyOptions {
            weight: Some(&weight),
            label_smoothing: 0.1,
            ignore_index: Some(-100),
            reduction: Reduction::Mean,
        },
        CrossEntropyOptions {
            label_smoothing: 0.2,
            ignore_index: Some(-100),
            reduction: Reduction::Sum,
            ..Default::default()
        },
    ] {
        let mut d = vec![0.0; n * k];
        let loss = cross_entropy(&mut d, &logits, &targets, n, k, &opts);
        let got = cross_entropy_cuda(&dev, &mut d_d, &l_d, &targets, n, k, &opts).unwrap();
        assert!(
            (got - loss).abs() <= 1e-5 * loss.abs().max(1.0),
            "loss {got} vs {loss} ({opts:?})"
        );
        check(
            "xent dlogits",
            &dev.download(&d_d).unwrap(),
            &f64s(&d),
            1e-6,
            1e-4,
        );
    }
    assert!(cross_entropy_cuda(
        &dev,
        &mut d_d,
        &l_d,
        &vec![k as i32; n],
        n,
        k,
        &Default::default()
    )
    .is_err());
}

#[test]
fn adamw_and_global_norm_match_cpu() {
    use cpu::adamw::{adamw_step, AdamWParams};
    let Some(dev) = device() else { return };
    let mut r = rng(9);
    let lens = [1usize, 1000, 16384, 40000];
    let hp = AdamWParams {
        lr: 2e-3,
        weight_decay: 0.05,
        ..Default::default()
    };
    let mut host: Vec<[Vec<f32>; 4]> = lens
        .iter()
        .map(|&l| {
            [
                randn(&mut r, l, 1.0),
                randn(&mut r, l, 0.1),
                vec![0.0; l],
                vec![0.0; l],
            ]
        })
        .collect();
    let mut dev_t: Vec<_> = host
        .iter()
        .map(|[p, g, m, v]| {
            (
                dev.upload(p).unwrap(),
                dev.upload(g).unwrap(),
                dev.upload(m).unwrap(),
                dev.upload(v).unwrap(),
            )
        })
        .collect();
    for step in 1..=3u64 {
        for [p, g, m, v] in host.iter_mut() {
            adamw_step(p, g, m, v, step, &hp);
        }
        let mut ts: Vec<AdamWTensor> = dev_t
            .iter_mut()
            .map(|(p, g, m, v)| AdamWTensor {
                param: p,
                grad: &*g,
                m,
                v,
            })
            .collect();
        adamw_step_cuda(&dev, &mut ts, step, &hp).unwrap();
    }
    for ([p, _, m, v], (pd, _, md, vd)) in host.iter().zip(&dev_t) {
        check(
            "adamw param",
            &dev.download(pd).unwrap(),
            &f64s(p),
            1e-6,
            1e-5,
        );
        check("adamw m", &dev.download(md).unwrap(), &f64s(m), 1e-7, 1e-5);
        check("adamw v", &dev.download(vd).unwrap(), &f64s(v), 1e-9, 1e-5);
    }
    let grads: Vec<&[f32]> = host.iter().map(|t| t[1].as_slice()).collect();
    let want = cpu::grad_norm::global_norm(&grads);
    let views: Vec<_> = dev_t.iter().map(|t| &t.1).collect();
    let got = global_norm_cuda(&dev, &views).unwrap();
    assert!((got - want).abs() <= 1e-6 * want, "norm {got} vs {want}");
    let mut gs: Vec<_> = dev_t.iter_mut().map(|t| &mut t.1).collect();
    let before = clip_grad_norm_cuda(&dev, &mut gs, want / 2.0).unwrap();
    assert!((before - want).abs() <= 1e-6 * want);
    let views: Vec<_> = dev_t.iter().map(|t| &t.1).collect();
    let after = global_norm_cuda(&dev, &views).unwrap();
    assert!(
        (after - want / 2.0).abs() <= 1e-4 * want,
        "clipped norm {after}"
    );
}
