//! [`Tensor`]: a shape, a dtype and a byte range of shared [`Storage`].

use std::fmt;
use std::sync::Arc;

use half::slice::HalfFloatSliceExt;
use half::{bf16, f16};
use memmap2::Mmap;

use crate::storage::{OwnedBuf, Stacked, Storage};
use crate::{DType, Device, EngineError};

/// A dense, contiguous, row-major n-dimensional array.
///
/// Ownership: the data lives in an `Arc<Storage>` shared by every clone and view, so
/// `clone()`, [`Tensor::reshape`] and [`Tensor::narrow`] are O(1) and copy no data. The
/// storage is either an owned heap `Vec` or a memory-mapped weights file read in place
/// ([`Tensor::is_mapped`]); device (CUDA) memory will be a third kind. Tensors are
/// immutable through shared references; the `*_mut` accessors copy on write when the
/// storage is shared or mapped, so writing never changes another tensor or the file.
#[derive(Clone)]
pub struct Tensor {
    storage: Arc<Storage>,
    /// Offset of element 0 in `storage`, in bytes.
    byte_offset: usize,
    shape: Vec<usize>,
    dtype: DType,
}

/// Product of `shape`, or an error if it overflows.
pub(crate) fn checked_numel(shape: &[usize]) -> Option<usize> {
    shape.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d))
}

fn numel_or_err(shape: &[usize]) -> Result<usize, EngineError> {
    checked_numel(shape)
        .ok_or_else(|| EngineError::OutOfRange(format!("shape {shape:?} overflows usize")))
}

impl Tensor {
    fn from_owned(shape: Vec<usize>, buf: OwnedBuf, dtype: DType) -> Tensor {
        Tensor {
            storage: Arc::new(Storage::Owned(buf)),
            byte_offset: 0,
            shape,
            dtype,
        }
    }

    fn check_len(shape: &[usize], len: usize) -> Result<(), EngineError> {
        let expected = numel_or_err(shape)?;
        if expected != len {
            return Err(EngineError::DataLength {
                shape: shape.to_vec(),
                expected,
                got: len,
            });
        }
        Ok(())
    }

    /// An f32 tensor owning `data`; `data.len()` must equal the product of `shape`.
    pub fn from_f32(shape: Vec<usize>, data: Vec<f32>) -> Result<Tensor, EngineError> {
        Self::check_len(&shape, data.len())?;
        Ok(Self::from_owned(shape, OwnedBuf::F32(data), DType::F32))
    }

    /// A bf16 tensor owning `data`; `data.len()` must equal the product of `shape`.
    pub fn from_bf16(shape: Vec<usize>, data: Vec<bf16>) -> Result<Tensor, EngineError> {
        Self::check_len(&shape, data.len())?;
        Ok(Self::from_owned(shape, OwnedBuf::BF16(data), DType::BF16))
    }

    /// An f16 tensor owning `data`; `data.len()` must equal the product of `shape`.
    pub fn from_f16(shape: Vec<usize>, data: Vec<f16>) -> Result<Tensor, EngineError> {
        Self::check_len(&shape, data.len())?;
        Ok(Self::from_owned(shape, OwnedBuf::F16(data), DType::F16))
    }

    /// A zero-filled tensor. Panics only if the element count overflows `usize`
    /// (as `vec!` would).
    pub fn zeros(shape: Vec<usize>, dtype: DType) -> Tensor {
        let n = checked_numel(&shape).expect("Tensor::zeros: shape overflows usize");
        Self::from_owned(shape, OwnedBuf::zeros(dtype, n), dtype)
    }

    /// A tensor over `map[byte_offset..]` in the file's little-endian layout.
    ///
    /// Read in place when the first element is aligned for `dtype` in memory (the map
    /// itself is page-aligned, so this is the file offset's alignment). Otherwise (a
    /// foreign writer that did not pad its header) the bytes are copied into an owned,
    /// aligned buffer and [`Tensor::is_mapped`] is false.
    pub(crate) fn from_mapped(
        map: &Arc<Mmap>,
        byte_offset: usize,
        shape: Vec<usize>,
        dtype: DType,
    ) -> Result<Tensor, EngineError> {
        let n_bytes = numel_or_err(&shape)?
            .checked_mul(dtype.size_in_bytes())
            .ok_or_else(|| EngineError::OutOfRange(format!("shape {shape:?} too large")))?;
        let end = byte_offset.checked_add(n_bytes);
        let Some(bytes) = end.and_then(|end| map.get(byte_offset..end)) else {
            return Err(EngineError::OutOfRange(format!(
                "{n_bytes} bytes at offset {byte_offset} run past the end of a {}-byte file",
                map.len()
            )));
        };
        if (bytes.as_ptr() as usize).is_multiple_of(dtype.size_in_bytes()) {
            Ok(Tensor {
                storage: Arc::new(Storage::Mapped(Arc::clone(map))),
                byte_offset,
                shape,
                dtype,
            })
        } else {
            Ok(Self::from_owned(
                shape,
                OwnedBuf::copy_from_bytes(dtype, bytes),
                dtype,
            ))
        }
    }

    /// A tensor owning a copy of `bytes` (little-endian elements of `dtype`, any alignment).
    pub(crate) fn from_le_bytes(
        shape: Vec<usize>,
        dtype: DType,
        bytes: &[u8],
    ) -> Result<Tensor, EngineError> {
        let n = numel_or_err(&shape)?;
        if n.checked_mul(dtype.size_in_bytes()) != Some(bytes.len()) {
            return Err(EngineError::DataLength {
                shape,
                expected: n,
                got: bytes.len() / dtype.size_in_bytes(),
            });
        }
        Ok(Self::from_owned(
            shape,
            OwnedBuf::copy_from_bytes(dtype, bytes),
            dtype,
        ))
    }

    /// Dimensions, outermost first.
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    pub fn dtype(&self) -> DType {
        self.dtype
    }

    pub fn device(&self) -> Device {
        self.storage.device()
    }

    /// Number of elements (product of the shape; 1 for a scalar `[]`).
    pub fn numel(&self) -> usize {
        // Every constructor checked that this product does not overflow.
        self.shape.iter().product()
    }

    /// Size of the data in bytes.
    pub fn byte_len(&self) -> usize {
        self.numel() * self.dtype.size_in_bytes()
    }

    /// True when the data is read in place from a memory-mapped file.
    pub fn is_mapped(&self) -> bool {
        matches!(*self.storage, Storage::Mapped(_))
    }

    /// `parts` stacked along dimension 0 as one tensor, without copying them: `[r_i, ..]`
    /// parts (or 1-D `[n_i]`) of one dtype and the same trailing dimensions give
    /// `[Σ r_i, ..]`. The joined data is copied together the first time it is read as one
    /// slice (`as_f32`, ...); readers that can work part by part take
    /// [`Tensor::stacked_parts`] and copy nothing.
    pub fn stack_rows(parts: &[Tensor]) -> Result<Tensor, EngineError> {
        let Some(first) = parts.first() else {
            return Err(EngineError::OutOfRange("stacking no tensors".into()));
        };
        let (dtype, rest) = (first.dtype, first.shape.get(1..).unwrap_or(&[]));
        let mut rows = 0usize;
        for p in parts {
            if p.dtype != dtype {
                return Err(EngineError::DTypeMismatch {
                    expected: dtype,
                    got: p.dtype,
                });
            }
            if p.shape.is_empty() || p.shape[1..] != *rest {
                return Err(EngineError::OutOfRange(format!(
                    "cannot stack shapes {:?} and {:?} along dimension 0",
                    first.shape, p.shape
                )));
            }
            if p.device() != Device::Cpu {
                return Err(EngineError::NotOnCpu { device: p.device() });
            }
            rows = rows
                .checked_add(p.shape[0])
                .ok_or_else(|| EngineError::OutOfRange("stacked rows overflow".into()))?;
        }
        let mut shape = first.shape.clone();
        shape[0] = rows;
        numel_or_err(&shape)?;
        Ok(Tensor {
            storage: Arc::new(Storage::Stacked(Stacked::new(parts.to_vec()))),
            byte_offset: 0,
            shape,
            dtype,
        })
    }

    /// The parts of a [`Tensor::stack_rows`] tensor, in order (None for any other tensor,
    /// and for a view of part of one).
    pub fn stacked_parts(&self) -> Option<&[Tensor]> {
        match &*self.storage {
            Storage::Stacked(s) if self.byte_offset == 0 && self.byte_len() == s.byte_len() => {
                Some(&s.parts)
            }
            _ => None,
        }
    }

    /// True when both tensors read the same bytes: clones or equal views of one storage,
    /// or tensors over the same memory. Decided without joining stacked tensors.
    pub fn same_data(&self, other: &Tensor) -> bool {
        if self.dtype != other.dtype || self.byte_len() != other.byte_len() {
            return false;
        }
        if Arc::ptr_eq(&self.storage, &other.storage) {
            return self.byte_offset == other.byte_offset;
        }
        match (&*self.storage, &*other.storage) {
            (Storage::Stacked(_), _) | (_, Storage::Stacked(_)) => false,
            _ => match (self.as_bytes(), other.as_bytes()) {
                (Ok(a), Ok(b)) => std::ptr::eq(a.as_ptr(), b.as_ptr()),
                _ => false,
            },
        }
    }

    /// True when no copy of the data is held: read in place from a mapped file, or stacked
    /// from such tensors and not yet joined.
    pub fn is_zero_copy(&self) -> bool {
        match &*self.storage {
            Storage::Owned(_) => false,
            Storage::Mapped(_) => true,
            Storage::Stacked(s) => !s.is_joined() && s.parts.iter().all(Tensor::is_zero_copy),
        }
    }

    /// The whole mapped file this tensor reads from, if it is mapped (to check that a load
    /// was zero-copy, or to share the mapping).
    pub fn mapped_file_bytes(&self) -> Option<&[u8]> {
        match &*self.storage {
            Storage::Mapped(map) => Some(map),
            Storage::Owned(_) | Storage::Stacked(_) => None,
        }
    }

    /// The raw little-endian bytes of a CPU tensor.
    pub fn as_bytes(&self) -> Result<&[u8], EngineError> {
        let device = self.device();
        if device != Device::Cpu {
            return Err(EngineError::NotOnCpu { device });
        }
        // Constructors guarantee the range is inside the storage.
        let end = self.byte_offset + self.byte_len();
        self.storage
            .bytes()
            .get(self.byte_offset..end)
            .ok_or_else(|| EngineError::OutOfRange("tensor range outside its storage".into()))
    }

    fn typed<T: bytemuck::Pod>(&self, want: DType) -> Result<&[T], EngineError> {
        if self.dtype != want {
            return Err(EngineError::DTypeMismatch {
                expected: want,
                got: self.dtype,
            });
        }
        // Alignment is guaranteed by construction; try_ keeps a broken invariant an error.
        bytemuck::try_cast_slice(self.as_bytes()?)
            .map_err(|e| EngineError::OutOfRange(format!("misaligned tensor data: {e:?}")))
    }

    /// The data as `&[f32]`, zero-copy. Errors if the dtype is not f32 (naming it) or the
    /// tensor is not on the CPU.
    pub fn as_f32(&self) -> Result<&[f32], EngineError> {
        self.typed(DType::F32)
    }

    /// The data as `&[bf16]`, zero-copy.
    pub fn as_bf16(&self) -> Result<&[bf16], EngineError> {
        self.typed(DType::BF16)
    }

    /// The data as `&[f16]`, zero-copy.
    pub fn as_f16(&self) -> Result<&[f16], EngineError> {
        self.typed(DType::F16)
    }

    /// Make this tensor the sole owner of a heap copy of its data (copy on write), then
    /// return the bytes mutably. No copy when it already is.
    fn unique_bytes_mut(&mut self) -> Result<&mut [u8], EngineError> {
        let byte_len = self.byte_len();
        let sole_owner = matches!(&*self.storage, Storage::Owned(buf)
            if self.byte_offset == 0 && buf.bytes().len() == byte_len)
            && Arc::get_mut(&mut self.storage).is_some();
        if !sole_owner {
            let copy = OwnedBuf::copy_from_bytes(self.dtype, self.as_bytes()?);
            self.storage = Arc::new(Storage::Owned(copy));
            self.byte_offset = 0;
        }
        match Arc::get_mut(&mut self.storage) {
            Some(Storage::Owned(buf)) => Ok(buf.bytes_mut()),
            _ => Err(EngineError::OutOfRange(
                "copy-on-write storage unexpectedly shared".into(),
            )),
        }
    }

    fn typed_mut<T: bytemuck::Pod>(&mut self, want: DType) -> Result<&mut [T], EngineError> {
        if self.dtype != want {
            return Err(EngineError::DTypeMismatch {
                expected: want,
                got: self.dtype,
            });
        }
        bytemuck::try_cast_slice_mut(self.unique_bytes_mut()?)
            .map_err(|e| EngineError::OutOfRange(format!("misaligned tensor data: {e:?}")))
    }

    /// Mutable f32 data. Copies first (copy on write) if the storage is shared with another
    /// tensor, is a view, or is a mapped file; other tensors and the file never change.
    pub fn as_f32_mut(&mut self) -> Result<&mut [f32], EngineError> {
        self.typed_mut(DType::F32)
    }

    /// Mutable bf16 data, copy on write as [`Tensor::as_f32_mut`].
    pub fn as_bf16_mut(&mut self) -> Result<&mut [bf16], EngineError> {
        self.typed_mut(DType::BF16)
    }

    /// Mutable f16 data, copy on write as [`Tensor::as_f32_mut`].
    pub fn as_f16_mut(&mut self) -> Result<&mut [f16], EngineError> {
        self.typed_mut(DType::F16)
    }

    /// This tensor in `dtype`: a cheap clone when it already is, else a converted copy
    /// (f32 -> bf16/f16 rounds to nearest even; bf16/f16 -> f32 is exact).
    pub fn to_dtype(&self, dtype: DType) -> Tensor {
        if dtype == self.dtype {
            return self.clone();
        }
        let shape = self.shape.clone();
        let buf = match dtype {
            DType::F32 => OwnedBuf::F32(self.to_f32_vec()),
            DType::BF16 => {
                let src = self.to_f32_vec();
                let mut out = vec![bf16::ZERO; src.len()];
                out.convert_from_f32_slice(&src);
                OwnedBuf::BF16(out)
            }
            DType::F16 => {
                let src = self.to_f32_vec();
                let mut out = vec![f16::ZERO; src.len()];
                out.convert_from_f32_slice(&src);
                OwnedBuf::F16(out)
            }
        };
        Self::from_owned(shape, buf, dtype)
    }

    /// The data converted to a fresh `Vec<f32>` (exact for every dtype we hold).
    pub fn to_f32_vec(&self) -> Vec<f32> {
        // A stacked whole is converted part by part: no joined copy is made and kept.
        if let Some(parts) = self.stacked_parts() {
            return parts.iter().flat_map(Tensor::to_f32_vec).collect();
        }
        // The only storages so far are CPU ones, so these views cannot fail; CUDA will copy
        // back to the host here.
        match self.dtype {
            DType::F32 => self.as_f32().map(<[f32]>::to_vec).unwrap_or_default(),
            DType::BF16 => self.as_bf16().map(|s| s.to_f32_vec()).unwrap_or_default(),
            DType::F16 => self.as_f16().map(|s| s.to_f32_vec()).unwrap_or_default(),
        }
    }

    /// The same data with another shape of equal element count (no copy).
    pub fn reshape(&self, shape: Vec<usize>) -> Result<Tensor, EngineError> {
        let n = numel_or_err(&shape)?;
        if n != self.numel() {
            return Err(EngineError::DataLength {
                shape,
                expected: n,
                got: self.numel(),
            });
        }
        Ok(Tensor {
            shape,
            ..self.clone()
        })
    }

    /// Rows `start..start + len` along dimension 0 (no copy). `[N, ..] -> [len, ..]`
    pub fn narrow(&self, start: usize, len: usize) -> Result<Tensor, EngineError> {
        let Some(&rows) = self.shape.first() else {
            return Err(EngineError::OutOfRange("narrow of a scalar tensor".into()));
        };
        if start.checked_add(len).is_none_or(|end| end > rows) {
            return Err(EngineError::OutOfRange(format!(
                "rows {start}..{start}+{len} outside dimension 0 of shape {:?}",
                self.shape
            )));
        }
        let row_bytes = self.shape[1..].iter().product::<usize>() * self.dtype.size_in_bytes();
        let mut shape = self.shape.clone();
        shape[0] = len;
        Ok(Tensor {
            storage: Arc::clone(&self.storage),
            byte_offset: self.byte_offset + start * row_bytes,
            shape,
            dtype: self.dtype,
        })
    }
}

impl fmt::Debug for Tensor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tensor")
            .field("shape", &self.shape)
            .field("dtype", &self.dtype)
            .field("device", &self.device())
            .field("mapped", &self.is_mapped())
            .finish()
    }
}
