//! tokken-engine: tensors, storage, weight loading, thread pool. Knows nothing of BERT.
//!
//! - [`Tensor`]: shape + [`DType`] + shared storage (owned, memory-mapped; device later).
//! - [`Weights`]: named tensors loaded from safetensors or `pytorch_model.bin` files.
//! - [`save_safetensors`]: atomic writer, readable by Python `safetensors`.
//! - [`threads`]: the compute thread pool.

// Weight files are little-endian and tensors are read from them in place.
#[cfg(target_endian = "big")]
compile_error!("tokken-engine supports little-endian targets only");

mod atomic_file;
mod device;
mod dtype;
mod error;
mod pytorch;
mod safetensors_file;
mod storage;
mod tensor;
pub mod threads;
mod weights;

pub use atomic_file::write_file_atomically;
pub use device::Device;
pub use dtype::{DType, ParseDTypeError};
pub use error::EngineError;
pub use safetensors_file::save_safetensors;
pub use tensor::Tensor;
pub use threads::ThreadsError;
pub use weights::{SkippedTensor, Weights};
