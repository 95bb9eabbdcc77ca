//! Reading and writing `.safetensors` files.
//!
//! Layout: `u64` little-endian header length `n`, `n` bytes of JSON header
//! (`{name: {dtype, shape, data_offsets: [start, end]}, "__metadata__": {..}}`), then the
//! data section; offsets are relative to the data section and must tile it exactly.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use crate::weights::{map_file, LoadedFile, SkippedTensor};
use crate::{write_file_atomically, DType, EngineError, Tensor};

/// Load every tensor of a safetensors file. The header is fully validated by the
/// `safetensors` crate (length within the file, offsets in order and within the data,
/// byte sizes equal to dtype × shape, no trailing bytes). f32/bf16/f16 tensors are read in
/// place from the memory map when aligned (see [`Tensor::is_mapped`]), else copied.
/// Tensors of other dtypes (e.g. the int64 `embeddings.position_ids` buffer of some BERT
/// checkpoints) are not loaded but listed in [`LoadedFile::skipped`].
pub(crate) fn load(path: &Path) -> Result<LoadedFile, EngineError> {
    let map = map_file(path)?;
    let (header_len, header) = safetensors::SafeTensors::read_metadata(&map)
        .map_err(|e| EngineError::bad_file(path, format!("not a valid safetensors file: {e}")))?;
    let data_start = 8 + header_len;
    let mut out = LoadedFile::default();
    if let Some(meta) = header.metadata() {
        out.metadata = meta.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    }
    for (name, info) in header.tensors() {
        let st_name = format!("{:?}", info.dtype);
        let Some(dtype) = DType::from_safetensors_name(&st_name) else {
            out.skipped.push(SkippedTensor {
                name,
                reason: format!("dtype {st_name} is not f32, bf16 or f16"),
            });
            continue;
        };
        let tensor = Tensor::from_mapped(
            &map,
            data_start + info.data_offsets.0,
            info.shape.clone(),
            dtype,
        )
        .map_err(|e| EngineError::bad_file(path, format!("tensor {name:?}: {e}")))?;
        out.tensors.push((name, tensor));
    }
    Ok(out)
}

/// Write `tensors` (CPU tensors, unique names) and optional string `metadata` as a
/// safetensors file readable by Python `safetensors` / `transformers`.
///
/// The file is written atomically (temp file in the same directory, fsync, rename). Tensors
/// are laid out widest dtype first and the header is padded to 8 bytes, so every tensor is
/// aligned for its dtype and loads back zero-copy.
pub fn save_safetensors(
    path: &Path,
    tensors: &[(&str, &Tensor)],
    metadata: Option<&BTreeMap<String, String>>,
) -> Result<(), EngineError> {
    let mut order: Vec<&(&str, &Tensor)> = tensors.iter().collect();
    order.sort_by(|a, b| {
        (std::cmp::Reverse(a.1.dtype().size_in_bytes()), a.0)
            .cmp(&(std::cmp::Reverse(b.1.dtype().size_in_bytes()), b.0))
    });

    let mut header = serde_json::Map::new();
    if let Some(meta) = metadata {
        let meta: serde_json::Map<_, _> = meta
            .iter()
            .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
            .collect();
        header.insert("__metadata__".into(), meta.into());
    }
    let mut offset = 0usize;
    let mut data = Vec::with_capacity(order.len());
    for (name, tensor) in order {
        let bytes = tensor.as_bytes()?;
        let entry = serde_json::json!({
            "dtype": tensor.dtype().safetensors_name(),
            "shape": tensor.shape(),
            "data_offsets": [offset, offset + bytes.len()],
        });
        if *name == "__metadata__" || header.insert(name.to_string(), entry).is_some() {
            return Err(EngineError::bad_file(
                path,
                format!("cannot write tensor name {name:?} (duplicate or reserved)"),
            ));
        }
        offset += bytes.len();
        data.push(bytes);
    }
    let mut header = serde_json::to_vec(&header)
        .map_err(|e| EngineError::bad_file(path, format!("cannot encode header: {e}")))?;
    // Pad with spaces (valid JSON whitespace) so the data section starts 8-byte aligned.
    header.resize((8 + header.len()).next_multiple_of(8) - 8, b' ');

    write_file_atomically(path, |w| {
        w.write_all(&(header.len() as u64).to_le_bytes())?;
        w.write_all(&header)?;
        for bytes in data {
            w.write_all(bytes)?;
        }
        Ok(())
    })
}
