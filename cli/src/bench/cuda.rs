//! `bench forward` and `bench train-step` with `--device cuda[:N]`: the same model and inputs
//! as on the CPU, timed on the GPU (`tokken_model::cuda`). There is no probe of the card's
//! peak here: figures are TFLOP/s and latencies; `scripts/gpu-check.sh` divides by a
//! PyTorch-measured bf16 ceiling and runs the PyTorch + PEFT reference.

use std::sync::Arc;

use serde_json::json;
use tokken_model::cuda::{open_device, CudaBert, CudaDevice};
use tokken_model::{BatchInput, BertParams};

use super::forward::{round, timed_runs};

/// One JSON line describing the device and which kernels and options it runs.
fn describe(n: usize, dev: &CudaDevice) -> serde_json::Value {
    json!({"kind": "device", "device": format!("cuda:{n}"),
           "name": dev.name().unwrap_or_default(), "arch": dev.arch(),
           "gemm": format!("{:?}", dev.tensor_core_kernel()),
           "attention": format!("{:?}", dev.attention_kernel()),
           "graphs": dev.graphs()})
}

/// Opens `cuda:n` and prints its description.
pub fn open(n: usize) -> anyhow::Result<Arc<CudaDevice>> {
    let dev = open_device(n)?;
    println!("{}", describe(n, &dev));
    Ok(dev)
}

/// `bench forward` on the GPU: `CudaBert::logits` per shape (the inputs' upload, the
/// encoder on the device, the [CLS] rows' download and the head on the host: what predict
/// waits for), `seconds` per shape after two warm-up calls (the second captures a CUDA
/// graph when the device has them). `flops(b, t)` counts what runs.
pub fn forward(
    dev: Arc<CudaDevice>,
    params: &BertParams,
    inputs: &[(usize, usize, Vec<u32>)],
    seconds: f64,
    flops: impl Fn(usize, usize) -> f64,
) -> anyhow::Result<()> {
    let device = format!("cuda:{}", dev.ordinal());
    let gpu = CudaBert::new(dev, params)?;
    for (b, t, ids) in inputs {
        let (b, t) = (*b, *t);
        let type_ids = vec![0u32; b * t];
        let mask = vec![1u8; b * t];
        let input = BatchInput {
            ids,
            type_ids: &type_ids,
            mask: &mask,
            b,
            t,
        };
        for _ in 0..2 {
            gpu.logits(&input)?;
        }
        let replays_before = gpu.graph_replays();
        let times = timed_runs(seconds, || {
            gpu.logits(&input)?;
            Ok(())
        })?;
        let (median, best) = (times[times.len() / 2], times[0]);
        println!(
            "{}",
            json!({"kind": "forward", "device": device, "batch": b, "tokens": t,
                   "runs": times.len(), "ms_median": round(median * 1e3), "ms_best": round(best * 1e3),
                   "sequences_per_s": round(b as f64 / median),
                   "tokens_per_s": round((b * t) as f64 / median),
                   "tflops": round(flops(b, t) / median / 1e12),
                   "graph_replays": gpu.graph_replays() - replays_before})
        );
    }
    Ok(())
}
