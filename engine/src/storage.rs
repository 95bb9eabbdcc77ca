//! The bytes behind tensors, and who owns them.
//!
//! A [`Storage`] is shared by every tensor that views it (`Arc<Storage>` in
//! [`crate::Tensor`]), so cloning a tensor or taking a view never copies data:
//!
//! - [`Storage::Owned`]: a heap `Vec` of the element type, owned by the storage (freed
//!   with the last tensor that uses it). Being a typed `Vec`, it is always aligned.
//! - [`Storage::Mapped`]: a read-only memory map of a weights file (safetensors, or a
//!   stored entry of a `pytorch_model.bin` zip). Tensors read their bytes in place; the
//!   map is unmapped with the last tensor that uses it. Like every mmap user we assume the
//!   file is not modified while mapped.
//! - Device memory (CUDA) will be a third variant; CPU views of it return
//!   [`crate::EngineError::NotOnCpu`].

use std::sync::Arc;

use half::{bf16, f16};
use memmap2::Mmap;

use crate::{DType, Device};

/// Bytes behind one or more tensors. See the module docs for ownership.
pub(crate) enum Storage {
    /// Heap memory owned here.
    Owned(OwnedBuf),
    /// A whole memory-mapped file; tensors hold byte ranges into it.
    Mapped(Arc<Mmap>),
}

/// A typed heap buffer (typed so that it is aligned for its element type).
pub(crate) enum OwnedBuf {
    F32(Vec<f32>),
    BF16(Vec<bf16>),
    F16(Vec<f16>),
}

impl OwnedBuf {
    pub(crate) fn zeros(dtype: DType, len: usize) -> OwnedBuf {
        match dtype {
            DType::F32 => OwnedBuf::F32(vec![0.0; len]),
            DType::BF16 => OwnedBuf::BF16(vec![bf16::ZERO; len]),
            DType::F16 => OwnedBuf::F16(vec![f16::ZERO; len]),
        }
    }

    /// A copy of `bytes` (little-endian elements of `dtype`) in an aligned buffer.
    /// `bytes.len()` must be a multiple of the element size (callers check).
    pub(crate) fn copy_from_bytes(dtype: DType, bytes: &[u8]) -> OwnedBuf {
        match dtype {
            DType::F32 => OwnedBuf::F32(copy_aligned(bytes)),
            DType::BF16 => OwnedBuf::BF16(copy_aligned(bytes)),
            DType::F16 => OwnedBuf::F16(copy_aligned(bytes)),
        }
    }

    pub(crate) fn bytes(&self) -> &[u8] {
        match self {
            OwnedBuf::F32(v) => bytemuck::cast_slice(v),
            OwnedBuf::BF16(v) => bytemuck::cast_slice(v),
            OwnedBuf::F16(v) => bytemuck::cast_slice(v),
        }
    }

    pub(crate) fn bytes_mut(&mut self) -> &mut [u8] {
        match self {
            OwnedBuf::F32(v) => bytemuck::cast_slice_mut(v),
            OwnedBuf::BF16(v) => bytemuck::cast_slice_mut(v),
            OwnedBuf::F16(v) => bytemuck::cast_slice_mut(v),
        }
    }
}

/// Copy possibly unaligned bytes into a typed (hence aligned) `Vec`; a trailing partial
/// element is ignored.
fn copy_aligned<T: bytemuck::Pod>(bytes: &[u8]) -> Vec<T> {
    let n = bytes.len() / std::mem::size_of::<T>();
    let mut out = vec![T::zeroed(); n];
    let dst: &mut [u8] = bytemuck::cast_slice_mut(&mut out);
    dst.copy_from_slice(&bytes[..dst.len()]);
    out
}

impl Storage {
    /// All bytes of the storage (CPU storages only, which are all there is so far).
    pub(crate) fn bytes(&self) -> &[u8] {
        match self {
            Storage::Owned(buf) => buf.bytes(),
            Storage::Mapped(map) => map,
        }
    }

    pub(crate) fn device(&self) -> Device {
        match self {
            Storage::Owned(_) | Storage::Mapped(_) => Device::Cpu,
        }
    }
}
