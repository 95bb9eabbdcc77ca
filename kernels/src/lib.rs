//! tokken-kernels: raw compute on slices. Knows nothing of BERT or tensors.
//!
//! Layout: `cpu/` holds the CPU kernels (packed GEMM with runtime-dispatched SIMD
//! micro-kernels, fused ops); `cuda/` (feature `cuda`) holds the `.cu` sources and their
//! launchers.
//!
//! # Conventions every kernel follows
//! - Row-major storage; shapes are given in doc comments (`[B, T, C]`).
//! - Forward: `<op>_forward(out, saved.., inp, params..)`.
//! - Backward: `<op>_backward(dinp, dparams.., dout, saved.., params..)`.
//! - **Parameter gradients accumulate (`+=`), activation gradients overwrite (`=`).**
//!   This lets gradient accumulation over micro-batches sum into the same buffers, while
//!   activation gradients never need zeroing.

pub mod cpu;
pub mod cuda;
