//! [`Weights`]: the named tensors of one checkpoint, and finding/loading its file(s).

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use memmap2::Mmap;

use crate::{pytorch, safetensors_file, save_safetensors, EngineError, Tensor};

/// A tensor present in a file but not loaded (e.g. an int64 buffer), and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SkippedTensor {
    pub name: String,
    pub reason: String,
}

/// What one file loader hands back.
#[derive(Default)]
pub(crate) struct LoadedFile {
    pub tensors: Vec<(String, Tensor)>,
    pub skipped: Vec<SkippedTensor>,
    pub metadata: BTreeMap<String, String>,
}

/// Named tensors of one checkpoint (HF key names, e.g. `bert.encoder.layer.0.output.dense.weight`).
///
/// Tensors loaded from safetensors (and stored `pytorch_model.bin` entries) stay memory-mapped
/// when aligned: loading a model costs page-table entries, not copies.
#[derive(Clone, Debug, Default)]
pub struct Weights {
    tensors: BTreeMap<String, Tensor>,
    skipped: Vec<SkippedTensor>,
    metadata: BTreeMap<String, String>,
}

impl Weights {
    /// An empty set, to build with [`Weights::insert`].
    pub fn new() -> Weights {
        Weights::default()
    }

    /// Load a checkpoint: a `.safetensors` file, a `pytorch_model.bin` (torch zip or legacy format), a
    /// sharded `*.index.json`, or a model directory holding one of them (preferred in the order
    /// `model.safetensors`, `model.safetensors.index.json`, `pytorch_model.bin`,
    /// `pytorch_model.bin.index.json`). Errors name the offending file.
    pub fn load(path: &Path) -> Result<Weights, EngineError> {
        let file = if path.is_dir() {
            resolve_dir(path)?
        } else {
            path.to_path_buf()
        };
        let name = file.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if name.ends_with(".index.json") {
            return load_sharded(&file);
        }
        let mut weights = Weights::new();
        weights.add_file(&file)?;
        Ok(weights)
    }

    /// Load one (unsharded) file into `self`; a name seen twice is an error.
    fn add_file(&mut self, file: &Path) -> Result<(), EngineError> {
        let loaded = match sniff(file)? {
            Format::Safetensors => safetensors_file::load(file)?,
            Format::TorchZip => pytorch::load(file)?,
            Format::TorchLegacy => pytorch::load_legacy(file)?,
        };
        for (name, tensor) in loaded.tensors {
            if self.tensors.contains_key(&name) {
                return Err(EngineError::bad_file(
                    file,
                    format!("tensor {name:?} appears twice"),
                ));
            }
            self.tensors.insert(name, tensor);
        }
        self.skipped.extend(loaded.skipped);
        self.metadata.extend(loaded.metadata);
        Ok(())
    }

    pub fn get(&self, name: &str) -> Option<&Tensor> {
        self.tensors.get(name)
    }

    /// The tensor `name`, which must have shape `shape`.
    pub fn require(&self, name: &str, shape: &[usize]) -> Result<&Tensor, EngineError> {
        let t = self.get(name).ok_or_else(|| EngineError::MissingTensor {
            name: name.to_string(),
        })?;
        if t.shape() != shape {
            return Err(EngineError::ShapeMismatch {
                name: name.to_string(),
                expected: shape.to_vec(),
                got: t.shape().to_vec(),
            });
        }
        Ok(t)
    }

    /// Tensor names, sorted.
    pub fn names(&self) -> Vec<&str> {
        self.tensors.keys().map(String::as_str).collect()
    }

    /// `(name, tensor)` pairs in name order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Tensor)> {
        self.tensors.iter().map(|(k, v)| (k.as_str(), v))
    }

    pub fn len(&self) -> usize {
        self.tensors.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tensors.is_empty()
    }

    /// Add or replace a tensor.
    pub fn insert(&mut self, name: String, t: Tensor) {
        self.tensors.insert(name, t);
    }

    pub fn remove(&mut self, name: &str) -> Option<Tensor> {
        self.tensors.remove(name)
    }

    /// Tensors present in the file(s) but not loaded (non-float dtypes such as the int64
    /// `position_ids` buffer), with the reason.
    pub fn skipped(&self) -> &[SkippedTensor] {
        &self.skipped
    }

    /// The safetensors `__metadata__` strings (empty for other formats).
    pub fn metadata(&self) -> &BTreeMap<String, String> {
        &self.metadata
    }

    /// Save all tensors as one safetensors file (atomically), with `metadata`.
    pub fn save(
        &self,
        path: &Path,
        metadata: Option<&BTreeMap<String, String>>,
    ) -> Result<(), EngineError> {
        let list: Vec<(&str, &Tensor)> = self.iter().collect();
        save_safetensors(path, &list, metadata)
    }
}

/// Memory-map a whole file read-only.
pub(crate) fn map_file(path: &Path) -> Result<Arc<Mmap>, EngineError> {
    let file = File::open(path).map_err(|e| EngineError::io(path, e))?;
    // SAFETY: the map is read-only; as with every mmap reader we assume the file is not
    // truncated or rewritten while mapped (our own writers replace files by rename).
    let map = unsafe { Mmap::map(&file) }.map_err(|e| EngineError::io(path, e))?;
    Ok(Arc::new(map))
}

enum Format {
    Safetensors,
    TorchZip,
    /// torch < 1.6: pickles followed by raw storages.
    TorchLegacy,
}

/// Tell the format from the first bytes: a zip local header (`PK\3\4`) is torch's format; a
/// safetensors header starts with a length and then `{`.
fn sniff(path: &Path) -> Result<Format, EngineError> {
    let mut head = [0u8; 9];
    let mut file = File::open(path).map_err(|e| EngineError::io(path, e))?;
    let mut got = 0;
    while got < head.len() {
        match file.read(&mut head[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(EngineError::io(path, e)),
        }
    }
    if got >= 4 && head[..4] == *b"PK\x03\x04" {
        return Ok(Format::TorchZip);
    }
    if got == 9 && head[8] == b'{' {
        return Ok(Format::Safetensors);
    }
    let name = path.to_string_lossy();
    if name.ends_with(".safetensors") {
        // Let the safetensors parser give the precise reason.
        return Ok(Format::Safetensors);
    }
    if got >= 2 && head[0] == 0x80 {
        // A pickle (PROTO opcode) first: the legacy torch.save layout.
        return Ok(Format::TorchLegacy);
    }
    Err(EngineError::bad_file(
        path,
        "neither a safetensors file nor a torch zip checkpoint",
    ))
}

/// The weights file inside a model directory.
fn resolve_dir(dir: &Path) -> Result<PathBuf, EngineError> {
    const CANDIDATES: [&str; 4] = [
        "model.safetensors",
        "model.safetensors.index.json",
        "pytorch_model.bin",
        "pytorch_model.bin.index.json",
    ];
    CANDIDATES
        .iter()
        .map(|name| dir.join(name))
        .find(|p| p.is_file())
        .ok_or_else(|| {
            EngineError::bad_file(
                dir,
                format!(
                    "no weights file found (looked for {})",
                    CANDIDATES.join(", ")
                ),
            )
        })
}

/// A sharded checkpoint: `{"weight_map": {tensor name: shard file name}}`; every shard is
/// loaded from the index's directory and every listed tensor must be present.
fn load_sharded(index: &Path) -> Result<Weights, EngineError> {
    #[derive(serde::Deserialize)]
    struct Index {
        weight_map: BTreeMap<String, String>,
    }
    let text = std::fs::read_to_string(index).map_err(|e| EngineError::io(index, e))?;
    let parsed: Index = serde_json::from_str(&text)
        .map_err(|e| EngineError::bad_file(index, format!("bad shard index: {e}")))?;
    let dir = index.parent().unwrap_or(Path::new("."));
    let shards: BTreeSet<&str> = parsed.weight_map.values().map(String::as_str).collect();
    let mut weights = Weights::new();
    for shard in shards {
        // Shard names are plain file names next to the index; refuse paths that leave it.
        let shard_path = Path::new(shard);
        if shard_path.components().count() != 1 || shard_path.is_absolute() {
            return Err(EngineError::bad_file(
                index,
                format!("shard name {shard:?} is not a plain file name"),
            ));
        }
        weights.add_file(&dir.join(shard_path))?;
    }
    let skipped: BTreeSet<&str> = weights.skipped.iter().map(|s| s.name.as_str()).collect();
    for name in parsed.weight_map.keys() {
        if !weights.tensors.contains_key(name) && !skipped.contains(name.as_str()) {
            return Err(EngineError::bad_file(
                index,
                format!("tensor {name:?} is listed in the index but missing from its shard"),
            ));
        }
    }
    Ok(weights)
}
