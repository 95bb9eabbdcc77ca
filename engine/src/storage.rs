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
//! - [`Storage::Stacked`]: tensors stacked along dimension 0 and read as one (the fused
//!   q|k|v weight of a BERT layer, whose parts a checkpoint stores apart). Each part keeps
//!   its own storage, so mapped parts stay mapped; a joined copy is made only the first
//!   time the whole is read as one slice. Zero-copy readers take the parts instead
//!   ([`crate::Tensor::stacked_parts`]).
//! - Device memory (CUDA) will be another variant; CPU views of it return
//!   [`crate::EngineError::NotOnCpu`].

use std::sync::{Arc, OnceLock};

use half::{bf16, f16};
use memmap2::Mmap;

use crate::{DType, Device, Tensor};

/// Bytes behind one or more tensors. See the module docs for ownership.
pub(crate) enum Storage {
    /// Heap memory owned here.
    Owned(OwnedBuf),
    /// A whole memory-mapped file; tensors hold byte ranges into it.
    Mapped(Arc<Mmap>),
    /// Parts read as one, joined on first use.
    Stacked(Stacked),
}

/// Whole tensors of one dtype and one row shape, stacked along dimension 0 (at least one).
pub(crate) struct Stacked {
    pub(crate) parts: Vec<Tensor>,
    /// The parts' bytes one after the other, made on first use.
    joined: OnceLock<OwnedBuf>,
}

impl Stacked {
    /// `parts` must be one or more CPU tensors of one dtype (the caller checks).
    pub(crate) fn new(parts: Vec<Tensor>) -> Stacked {
        Stacked {
            parts,
            joined: OnceLock::new(),
        }
    }

    /// The joined bytes (made now if this is the first call).
    fn bytes(&self) -> &[u8] {
        self.joined
            .get_or_init(|| {
                let total: usize = self.parts.iter().map(Tensor::numel).sum();
                let dtype = self.parts.first().map_or(DType::F32, Tensor::dtype);
                let mut buf = OwnedBuf::zeros(dtype, total);
                let mut at = 0;
                for part in &self.parts {
                    // CPU parts of the right dtype (checked at construction): cannot fail.
                    let bytes = part.as_bytes().unwrap_or(&[]);
                    buf.bytes_mut()[at..at + bytes.len()].copy_from_slice(bytes);
                    at += bytes.len();
                }
                buf
            })
            .bytes()
    }

    /// Size of the whole, in bytes.
    pub(crate) fn byte_len(&self) -> usize {
        self.parts.iter().map(Tensor::byte_len).sum()
    }

    /// True once the joined copy exists.
    pub(crate) fn is_joined(&self) -> bool {
        self.joined.get().is_some()
    }
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
            Storage::Stacked(stacked) => stacked.bytes(),
        }
    }

    pub(crate) fn device(&self) -> Device {
        match self {
            Storage::Owned(_) | Storage::Mapped(_) | Storage::Stacked(_) => Device::Cpu,
        }
    }
}
