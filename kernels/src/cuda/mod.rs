//! CUDA path. The `.cu` sources live in `kernels/cuda/` and are compiled at run time by
//! NVRTC for the device's architecture, then cached on disk.
//!
//! Always built (no CUDA needed to compile or run them; NVRTC is `dlopen`ed on use):
//! [`sources`] (the embedded `.cu` files), [`nvrtc`], [`cache`], [`dropout_keys`], [`error`].
//! With feature `cuda` (cudarc, dynamic loading): [`probe`] (checks `libcuda` with
//! `dlopen` before cudarc touches it, so a machine without a driver gets
//! [`CudaError::NoDevice`] instead of a panic), [`context`] (device, stream, modules,
//! caching allocator) and one launcher module per kernel family, named
//! `<op>_cuda` after the `extern "C"` kernels (`<op>_f32`, `gemm_nt_bf16`, ...).

pub mod cache;
pub mod dropout_keys;
pub mod error;
pub mod nvrtc;
pub mod sources;

pub use error::CudaError;

#[cfg(feature = "cuda")]
pub mod adamw;
#[cfg(feature = "cuda")]
pub mod alloc;
#[cfg(feature = "cuda")]
pub mod attention;
#[cfg(feature = "cuda")]
pub mod context;
#[cfg(feature = "cuda")]
pub mod elementwise;
#[cfg(feature = "cuda")]
pub mod embedding;
#[cfg(feature = "cuda")]
pub mod gemm;
#[cfg(feature = "cuda")]
pub mod layernorm;
#[cfg(feature = "cuda")]
pub mod lora;
#[cfg(feature = "cuda")]
pub mod probe;
#[cfg(feature = "cuda")]
pub mod xent;

#[cfg(feature = "cuda")]
pub use context::CudaDevice;
