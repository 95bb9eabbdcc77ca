//! The BERT model on a CUDA device (feature `cuda`), built from the kernels of
//! `tokken_kernels::cuda` and mirroring the CPU code step for step:
//!
//! - [`weights`]: the frozen base uploaded once ([`DeviceEncoder`]): every dense weight of
//!   the encoder as bf16 bits (`CudaSlice<u16>`), biases, LayerNorm parameters and the
//!   embedding tables as f32.
//! - [`bert`]: [`CudaBert`], the inference forward (embeddings → L × layer on the device,
//!   then the tiny pooler + classifier on the host with the CPU code) — what `predict` and
//!   `eval` run with `--device cuda`.
//! - [`lora_step`]: [`CudaLoraStep`], the LoRA training forward + backward of a
//!   [`crate::train::TrainModel`] on the device; its gradients land in the model's own
//!   gradient arena, so the CPU optimizer, schedule and checkpoints run unchanged.
//! - [`glue`]: small launchers the model needs besides the kernel crate's (strided column
//!   copies, bf16 uploads, error conversion).
//!
//! Precision (the same as the CPU's `--dtype bf16`, [`crate::train::precision`]): dense
//! GEMMs read bf16 weights and bf16-rounded activations with f32 accumulation; everything
//! else (LayerNorm, softmax/attention, GELU, residuals, LoRA A/B products, the head, the
//! loss) is f32.

pub mod bert;
pub mod glue;
pub mod lora_step;
pub mod weights;

pub use bert::CudaBert;
pub use lora_step::CudaLoraStep;
pub use tokken_kernels::cuda::CudaDevice;
pub use weights::DeviceEncoder;

use tokken_kernels::cuda::CudaError;

use crate::error::ModelError;

impl From<CudaError> for ModelError {
    fn from(e: CudaError) -> ModelError {
        ModelError::Other(format!("CUDA: {e}"))
    }
}

/// Opens CUDA device `ordinal` (a clean error, never a panic, without a driver or device).
pub fn open_device(ordinal: usize) -> crate::Result<std::sync::Arc<CudaDevice>> {
    Ok(std::sync::Arc::new(CudaDevice::new(ordinal)?))
}
