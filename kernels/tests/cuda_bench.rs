//! CUDA kernel benchmarks for `scripts/gpu-check.sh` (ignored by default: run with
//! `cargo test --release -p tokken-kernels --features cuda --test cuda_bench -- --ignored --nocapture`).
//! Prints one JSON object per line, prefixed `BENCH `: tensor-core GEMM TFLOP/s on
//! BERT-base training shapes (batch 32 x 128 tokens) and fused attention forward /
//! backward TFLOP/s. The bf16 ceiling is measured by the script (PyTorch matmul) and the
//! fractions are computed there.
#![cfg(feature = "cuda")]

use std::time::Instant;

use tokken_kernels::cpu::gemm::Trans;
use tokken_kernels::cuda::attention::{
    attention_backward_cuda, attention_forward_cuda, AttentionKernel,
};
use tokken_kernels::cuda::gemm::{gemm_cuda, Half, TensorCoreKernel};
use tokken_kernels::cuda::CudaDevice;

/// Median seconds of `iters` timed runs after 3 warm-ups.
fn time(dev: &CudaDevice, iters: usize, mut f: impl FnMut()) -> f64 {
    for _ in 0..3 {
        f();
    }
    dev.synchronize().unwrap();
    let mut t: Vec<f64> = (0..iters)
        .map(|_| {
            let s = Instant::now();
            f();
            dev.synchronize().unwrap();
            s.elapsed().as_secs_f64()
        })
        .collect();
    t.sort_by(f64::total_cmp);
    t[iters / 2]
}

#[test]
#[ignore]
fn cuda_bench() {
    let dev = match CudaDevice::new(0) {
        Ok(d) => d,
        Err(e) => {
            println!("skipping: {e}");
            return;
        }
    };
    println!(
        "BENCH {{\"device\":\"{}\",\"arch\":\"{}\"}}",
        dev.name().unwrap_or_default(),
        dev.arch()
    );
    let m = 32 * 128;
    // (name, transA, transB, M, N, K): forward y = x Wᵀ (NT), dx = dy W (NN), dW = dyᵀ x (TN).
    let shapes = [
        ("qkv_fwd", Trans::N, Trans::T, m, 2304, 768),
        ("attn_out_fwd", Trans::N, Trans::T, m, 768, 768),
        ("ffn_up_fwd", Trans::N, Trans::T, m, 3072, 768),
        ("ffn_down_fwd", Trans::N, Trans::T, m, 768, 3072),
        ("ffn_up_dx", Trans::N, Trans::N, m, 768, 3072),
        ("ffn_up_dw", Trans::T, Trans::N, 3072, 768, m),
        ("square_4096", Trans::N, Trans::T, 4096, 4096, 4096),
    ];
    // mma.sync everywhere; Hopper's wgmma with both tile widths too on sm_90a.
    let mut kernels = vec![TensorCoreKernel::MmaSync];
    if dev.arch() == "sm_90a" {
        kernels.extend([TensorCoreKernel::Wgmma128, TensorCoreKernel::Wgmma256]);
    }
    for (kernel, dtype) in kernels
        .iter()
        .flat_map(|&kernel| [(kernel, Half::Bf16), (kernel, Half::F16)])
    {
        dev.use_tensor_core_kernel(kernel).unwrap();
        for &(name, ta, tb, mm, n, k) in &shapes {
            let a = dev.alloc.zeros::<u16>(mm * k).unwrap();
            let b = dev.alloc.zeros::<u16>(k * n).unwrap();
            let mut c = dev.alloc.zeros::<f32>(mm * n).unwrap();
            let lda = if ta == Trans::N { k } else { mm };
            let ldb = if tb == Trans::N { n } else { k };
            let s = time(&dev, 20, || {
                gemm_cuda(
                    &dev, dtype, ta, tb, mm, n, k, 1.0, &a, lda, &b, ldb, 0.0, &mut c, n, None,
                    None,
                )
                .unwrap()
            });
            let tflops = 2.0 * (mm * n * k) as f64 / s / 1e12;
            println!(
                "BENCH {{\"kernel\":\"gemm\",\"family\":\"{kernel:?}\",\"dtype\":\"{dtype:?}\",\"shape\":\"{name}\",\"m\":{mm},\"n\":{n},\"k\":{k},\"ms\":{:.4},\"tflops\":{tflops:.2}}}",
                s * 1e3
            );
        }
    }
    dev.use_tensor_core_kernel(TensorCoreKernel::MmaSync)
        .unwrap();
    let (b, t, c, nh) = (32usize, 128usize, 768usize, 12usize);
    let qkv = dev.alloc.zeros::<f32>(b * t * 3 * c).unwrap();
    let mask = dev.upload(&vec![1u8; b * t]).unwrap();
    let dout = dev.alloc.zeros::<f32>(b * t * c).unwrap();
    let mut out = dev.alloc.zeros::<f32>(b * t * c).unwrap();
    let mut lse = dev.alloc.zeros::<f32>(b * nh * t).unwrap();
    let mut dqkv = dev.alloc.zeros::<f32>(b * t * 3 * c).unwrap();
    let mut dsum = dev.alloc.zeros::<f32>(b * nh * t).unwrap();
    // Forward: QKᵀ and PV, 2 flops per multiply-add: 4 B NH T² HS. Backward: 5 products
    // (recompute S, dP, dV, dQ, dK), 10 B NH T² HS.
    let hs = c / nh;
    let fwd_flops = 4.0 * (b * nh * t * t * hs) as f64;
    for p in [0.0f32, 0.1] {
        let dropout = (p > 0.0).then_some((p, 7u64));
        for kernel in [AttentionKernel::Simt, AttentionKernel::TensorCore] {
            dev.use_attention_kernel(kernel);
            let s = time(&dev, 20, || {
                attention_forward_cuda(&dev, &mut out, &mut lse, &qkv, &mask, b, t, c, nh, dropout)
                    .unwrap()
            });
            println!(
                "BENCH {{\"kernel\":\"attention_fwd\",\"family\":\"{kernel:?}\",\"dropout\":{p},\"b\":{b},\"t\":{t},\"c\":{c},\"nh\":{nh},\"ms\":{:.4},\"tflops\":{:.2}}}",
                s * 1e3,
                fwd_flops / s / 1e12
            );
            let s = time(&dev, 20, || {
                attention_backward_cuda(
                    &dev, &mut dqkv, &mut dsum, &dout, &qkv, &out, &lse, &mask, b, t, c, nh,
                    dropout,
                )
                .unwrap()
            });
            println!(
                "BENCH {{\"kernel\":\"attention_bwd\",\"family\":\"{kernel:?}\",\"dropout\":{p},\"b\":{b},\"t\":{t},\"c\":{c},\"nh\":{nh},\"ms\":{:.4},\"tflops\":{:.2}}}",
                s * 1e3,
                2.5 * fwd_flops / s / 1e12
            );
        }
        dev.use_attention_kernel(AttentionKernel::Simt);
    }
}
