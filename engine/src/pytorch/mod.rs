//! Reader for PyTorch checkpoints (`pytorch_model.bin`): the zip format of torch >= 1.6 and
//! the legacy format before it ([`legacy`]).
//!
//! Zip layout: a zip with `<prefix>/data.pkl` (the pickled state dict, read by the restricted
//! machine in [`pickle`]), `<prefix>/data/<key>` (one raw little-endian blob per storage),
//! `<prefix>/byteorder` and `<prefix>/version`. torch writes entries uncompressed and
//! 64-byte aligned, so contiguous f32/bf16/f16 tensors are read in place from the memory
//! map like safetensors; compressed entries are decompressed and copied, strided views are
//! gathered into a contiguous copy. Legacy files hold their storages unaligned after the
//! pickles: contiguous tensors are copied unless they happen to be aligned.

mod legacy;
mod pickle;

use std::collections::HashMap;
use std::io::{Cursor, Read};
use std::path::Path;
use std::rc::Rc;
use std::sync::Arc;

use memmap2::Mmap;
use zip::{CompressionMethod, ZipArchive};

use crate::tensor::checked_numel;
use crate::weights::{map_file, LoadedFile, SkippedTensor};
use crate::{DType, EngineError, Tensor};
use pickle::{PickleError, StorageKind, StorageRef, TensorRef, Value};

/// A state dict's pickle is kilobytes to a few MB; refuse to inflate more than this.
const MAX_PICKLE_BYTES: u64 = 256 << 20;

/// A strided view may hold more elements than its storage (stride 0: `expand`); we copy
/// such a view only up to this many bytes, so a tiny file cannot demand terabytes.
const MAX_BROADCAST_BYTES: usize = 256 << 20;

/// Load every tensor of a torch zip checkpoint. Non-float tensors (int64 buffers such as
/// `position_ids`) and non-tensor entries are listed in [`LoadedFile::skipped`].
pub(crate) fn load(path: &Path) -> Result<LoadedFile, EngineError> {
    let map = map_file(path)?;
    let bad = |reason: String| EngineError::bad_file(path, reason);
    let mut zip = ZipArchive::new(Cursor::new(&map[..]))
        .map_err(|e| bad(format!("not a readable zip archive: {e}")))?;

    let prefix = find_prefix(&zip).ok_or_else(|| {
        bad("no `<name>/data.pkl` entry: not a torch checkpoint (torch.save zip format)".into())
    })?;
    if let Ok(mut entry) = zip.by_name(&format!("{prefix}/byteorder")) {
        let mut order = String::new();
        let _ = entry.by_ref().take(16).read_to_string(&mut order);
        if order.trim() != "little" {
            return Err(bad(format!(
                "byte order {:?} is not supported (only little-endian checkpoints)",
                order.trim()
            )));
        }
    }

    let pkl_name = format!("{prefix}/data.pkl");
    let mut pkl = Vec::new();
    zip.by_name(&pkl_name)
        .map_err(|e| bad(format!("{pkl_name}: {e}")))?
        .take(MAX_PICKLE_BYTES + 1)
        .read_to_end(&mut pkl)
        .map_err(|e| bad(format!("{pkl_name}: {e}")))?;
    if pkl.len() as u64 > MAX_PICKLE_BYTES {
        return Err(bad(format!(
            "{pkl_name} is larger than {MAX_PICKLE_BYTES} bytes"
        )));
    }
    let root = pickle::run(&pkl).map_err(|e| pickle_error(path, &pkl_name, e))?;
    let mut blobs = Blobs {
        source: Source::Zip {
            zip: &mut zip,
            prefix: &prefix,
        },
        map: &map,
        cache: HashMap::new(),
    };
    state_dict(path, &pkl_name, &root, &mut blobs)
}

/// Load every tensor of a legacy (torch < 1.6) checkpoint, as [`load`] does for zips.
pub(crate) fn load_legacy(path: &Path) -> Result<LoadedFile, EngineError> {
    let map = map_file(path)?;
    let what = "legacy torch checkpoint";
    let layout = legacy::parse(&map).map_err(|e| pickle_error(path, what, e))?;
    let mut blobs = Blobs {
        source: Source::Legacy {
            spans: &layout.spans,
        },
        map: &map,
        cache: HashMap::new(),
    };
    state_dict(path, what, &layout.root, &mut blobs)
}

/// A pickle error as the engine's error, naming the file and the part (`what`) it is in.
fn pickle_error(path: &Path, what: &str, e: PickleError) -> EngineError {
    match e {
        PickleError::Refused(reason) => EngineError::Refused {
            path: path.to_path_buf(),
            reason: format!("{what}: {reason}"),
        },
        PickleError::Bad(reason) => EngineError::bad_file(path, format!("{what}: {reason}")),
    }
}

/// The tensors of the state dict `root` (`pkl_name` names it in errors); other entries are
/// listed as skipped.
fn state_dict(
    path: &Path,
    pkl_name: &str,
    root: &Value,
    blobs: &mut Blobs,
) -> Result<LoadedFile, EngineError> {
    let bad = |reason: String| EngineError::bad_file(path, reason);
    let Value::Dict(entries) = root else {
        return Err(bad(format!(
            "{pkl_name} holds a {}, not a state dict",
            root.kind()
        )));
    };
    let mut out = LoadedFile::default();
    for (key, value) in entries.borrow().iter() {
        let Value::Str(name) = key else {
            return Err(bad(format!(
                "state dict key is a {}, not a string",
                key.kind()
            )));
        };
        let name = name.to_string();
        let Value::Tensor(t) = value else {
            out.skipped.push(SkippedTensor {
                name,
                reason: format!("a {}, not a tensor", value.kind()),
            });
            continue;
        };
        let Some(dtype) = dtype_of(t.storage.kind) else {
            out.skipped.push(SkippedTensor {
                name,
                reason: format!(
                    "dtype {} is not f32, bf16 or f16",
                    t.storage.kind.torch_name()
                ),
            });
            continue;
        };
        let tensor = blobs
            .tensor(t, dtype)
            .map_err(|reason| bad(format!("tensor {name:?}: {reason}")))?;
        out.tensors.push((name, tensor));
    }
    Ok(out)
}

fn dtype_of(kind: StorageKind) -> Option<DType> {
    match kind {
        StorageKind::F32 => Some(DType::F32),
        StorageKind::BF16 => Some(DType::BF16),
        StorageKind::F16 => Some(DType::F16),
        _ => None,
    }
}

/// The top-level directory holding `data.pkl` (torch names it after the file's stem, or
/// `archive`).
fn find_prefix(zip: &ZipArchive<Cursor<&[u8]>>) -> Option<String> {
    zip.file_names().find_map(|name| {
        let prefix = name.ok()?.strip_suffix("/data.pkl")?.to_string();
        (!prefix.is_empty() && !prefix.contains('/')).then_some(prefix)
    })
}

/// Where one storage's bytes are.
enum Blob {
    /// `len` bytes at `start` of the mapped file (a stored entry).
    Mapped { start: usize, len: usize },
    /// A compressed entry, inflated.
    Inflated(Rc<Vec<u8>>),
}

/// Where a checkpoint keeps its storages.
enum Source<'z, 'm> {
    /// One zip entry per storage, `<prefix>/data/<key>`.
    Zip {
        zip: &'z mut ZipArchive<Cursor<&'m [u8]>>,
        prefix: &'z str,
    },
    /// (byte offset, byte length) per storage key in the mapped file.
    Legacy {
        spans: &'z HashMap<String, (usize, usize)>,
    },
}

/// Storage blobs of one checkpoint, each located or inflated once.
struct Blobs<'z, 'm> {
    source: Source<'z, 'm>,
    map: &'m Arc<Mmap>,
    cache: HashMap<String, Rc<Blob>>,
}

impl Blobs<'_, '_> {
    fn blob(&mut self, storage: &StorageRef) -> Result<Rc<Blob>, String> {
        if let Some(b) = self.cache.get(&storage.key) {
            return Ok(Rc::clone(b));
        }
        let key = &storage.key;
        if key.is_empty() || !key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            return Err(format!("storage key {key:?} is not a plain name"));
        }
        let needed = storage
            .numel
            .checked_mul(storage.kind.size_in_bytes())
            .ok_or("storage size overflows")?;
        let blob = match &mut self.source {
            Source::Legacy { spans } => legacy_blob(spans, key, needed)?,
            Source::Zip { zip, prefix } => zip_blob(zip, prefix, self.map.len(), key, needed)?,
        };
        let blob = Rc::new(blob);
        self.cache.insert(key.clone(), Rc::clone(&blob));
        Ok(blob)
    }

    /// Build the tensor `t` describes: in place when contiguous in a stored entry.
    fn tensor(&mut self, t: &TensorRef, dtype: DType) -> Result<Tensor, String> {
        let blob = self.blob(&t.storage)?;
        let elem = dtype.size_in_bytes();
        let numel = checked_numel(&t.size).ok_or("shape overflows")?;
        if numel == 0 {
            return Ok(Tensor::zeros(t.size.clone(), dtype));
        }
        // Highest element index the view touches must lie inside the storage.
        let mut last = t.offset;
        for (&n, &s) in t.size.iter().zip(&t.stride) {
            last = (n - 1)
                .checked_mul(s)
                .and_then(|x| last.checked_add(x))
                .ok_or("view extent overflows")?;
        }
        if last >= t.storage.numel {
            return Err(format!(
                "view (offset {}, size {:?}, stride {:?}) reaches element {last} of a \
                 {}-element storage",
                t.offset, t.size, t.stride, t.storage.numel
            ));
        }
        let storage_bytes: &[u8] = match &*blob {
            Blob::Mapped { start, len } => &self.map[*start..*start + *len],
            Blob::Inflated(bytes) => bytes,
        };
        if is_contiguous(&t.size, &t.stride) {
            let begin = t.offset * elem; // last < numel, so no overflow
            if let Blob::Mapped { start, .. } = &*blob {
                return Tensor::from_mapped(self.map, start + begin, t.size.clone(), dtype)
                    .map_err(|e| e.to_string());
            }
            let bytes = &storage_bytes[begin..begin + numel * elem];
            return Tensor::from_le_bytes(t.size.clone(), dtype, bytes).map_err(|e| e.to_string());
        }
        let out_bytes = numel.checked_mul(elem).ok_or("view size overflows")?;
        if out_bytes > storage_bytes.len().max(MAX_BROADCAST_BYTES) {
            return Err(format!(
                "strided view of {out_bytes} bytes over a {}-byte storage is too large to copy",
                storage_bytes.len()
            ));
        }
        let gathered = gather(storage_bytes, elem, t);
        Tensor::from_le_bytes(t.size.clone(), dtype, &gathered).map_err(|e| e.to_string())
    }
}

/// Where storage `key` (`needed` bytes) lies in a legacy checkpoint.
fn legacy_blob(
    spans: &HashMap<String, (usize, usize)>,
    key: &str,
    needed: usize,
) -> Result<Blob, String> {
    let &(start, len) = spans
        .get(key)
        .ok_or_else(|| format!("storage {key:?} is not in the storage key list"))?;
    if len < needed {
        return Err(format!(
            "storage {key:?} holds {len} bytes but is named with {needed}"
        ));
    }
    Ok(Blob::Mapped { start, len: needed })
}

/// Storage `key` (`needed` bytes) of a zip checkpoint of `map_len` bytes: its entry's place
/// in the file when stored, else its inflated bytes.
fn zip_blob(
    zip: &mut ZipArchive<Cursor<&[u8]>>,
    prefix: &str,
    map_len: usize,
    key: &str,
    needed: usize,
) -> Result<Blob, String> {
    let name = format!("{prefix}/data/{key}");
    let mut entry = zip.by_name(&name).map_err(|e| format!("{name}: {e}"))?;
    if entry.size() < needed as u64 {
        return Err(format!(
            "{name} holds {} bytes but the storage needs {needed}",
            entry.size()
        ));
    }
    let blob = if entry.compression() == CompressionMethod::Stored && !entry.encrypted() {
        let start = entry
            .data_start()
            .and_then(|s| usize::try_from(s).ok())
            .ok_or_else(|| format!("{name}: data offset unknown"))?;
        if start.checked_add(needed).is_none_or(|end| end > map_len) {
            return Err(format!("{name} runs past the end of the file"));
        }
        Blob::Mapped { start, len: needed }
    } else {
        let mut bytes = Vec::new();
        entry
            .by_ref()
            .take(needed as u64)
            .read_to_end(&mut bytes)
            .map_err(|e| format!("{name}: {e}"))?;
        if bytes.len() < needed {
            return Err(format!("{name} is truncated"));
        }
        Blob::Inflated(Rc::new(bytes))
    };
    Ok(blob)
}

/// Row-major contiguity; strides of size-1 dimensions do not matter.
fn is_contiguous(size: &[usize], stride: &[usize]) -> bool {
    let mut expected = 1usize;
    for (&n, &s) in size.iter().zip(stride).rev() {
        if n != 1 && s != expected {
            return false;
        }
        expected = expected.saturating_mul(n);
    }
    true
}

/// Copy a strided view into row-major order. The caller checked every index is in bounds.
fn gather(storage: &[u8], elem: usize, t: &TensorRef) -> Vec<u8> {
    let numel: usize = t.size.iter().product();
    let mut out = Vec::with_capacity(numel * elem);
    let mut index = vec![0usize; t.size.len()];
    for _ in 0..numel {
        let at = t.offset
            + index
                .iter()
                .zip(&t.stride)
                .map(|(i, s)| i * s)
                .sum::<usize>();
        out.extend_from_slice(&storage[at * elem..(at + 1) * elem]);
        // Advance the multi-index, last dimension fastest.
        for d in (0..index.len()).rev() {
            index[d] += 1;
            if index[d] < t.size[d] {
                break;
            }
            index[d] = 0;
        }
    }
    out
}
