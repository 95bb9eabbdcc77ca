//! The legacy `torch.save` layout: torch before 1.6, or `_use_new_zipfile_serialization=False`.
//! Many checkpoints on the hub from 2018-2020 (the first Japanese BERTs among them) are in
//! it.
//!
//! Five pickles back to back, then the storages' bytes:
//! 1. the magic number `0x1950a86a20f9469cfc6c`;
//! 2. the format version, 1001;
//! 3. system info, `{'protocol_version': 1001, 'little_endian': True, 'type_sizes': {..}}`;
//! 4. the saved object (the state dict), naming storages by persistent id;
//! 5. the list of storage keys, in the order their bytes follow;
//!
//! then per key: the element count (u64, little-endian) and the elements, unaligned.

use std::collections::HashMap;

use super::pickle::{run_prefix, PickleError, StorageKind, Value};

/// The magic number as LONG1 bytes (little-endian two's complement).
const MAGIC: [u8; 10] = [0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19];
/// The only format version torch ever wrote in this layout.
const VERSION: i64 = 1001;

/// The parsed layout: the saved object and where each storage's bytes lie in the file.
pub(crate) struct Layout {
    /// The saved object (a state dict for a checkpoint).
    pub root: Value,
    /// Storage key -> (byte offset in the file, byte length).
    pub spans: HashMap<String, (usize, usize)>,
}

/// Parse `data`, a whole legacy checkpoint. Errors say which part is wrong.
pub(crate) fn parse(data: &[u8]) -> Result<Layout, PickleError> {
    let mut pos = 0;
    let mut next = |what: &str| -> Result<_, PickleError> {
        let p = run_prefix(&data[pos..]).map_err(|e| in_part(e, what))?;
        pos += p.len;
        Ok(p)
    };
    let bad = |what: String| PickleError::Bad(what);

    match &next("magic number")?.value {
        Value::BigInt(bytes) if **bytes == MAGIC => {}
        _ => {
            return Err(bad(
                "not a torch checkpoint: the magic number is missing".into()
            ))
        }
    }
    match &next("format version")?.value {
        Value::Int(VERSION) => {}
        Value::Int(v) => return Err(bad(format!("format version {v} is not {VERSION}"))),
        other => return Err(bad(format!("format version is a {}", other.kind()))),
    }
    let info = next("system info")?.value;
    let Value::Dict(info) = &info else {
        return Err(bad("system info is not a dict".into()));
    };
    let little = info.borrow().iter().find_map(|(k, v)| match (k, v) {
        (Value::Str(k), Value::Bool(b)) if &**k == "little_endian" => Some(*b),
        _ => None,
    });
    if little == Some(false) {
        return Err(bad(
            "big-endian checkpoints are not supported (only little-endian)".into(),
        ));
    }
    let object = next("saved object")?;
    let keys = next("storage key list")?.value;
    let Value::List(keys) = &keys else {
        return Err(bad("the storage key list is not a list".into()));
    };

    let mut kinds: HashMap<&str, StorageKind> = HashMap::new();
    for s in &object.storages {
        if *kinds.entry(&s.key).or_insert(s.kind) != s.kind {
            return Err(bad(format!("storage {:?} is named with two types", s.key)));
        }
    }
    let mut spans = HashMap::new();
    for key in keys.borrow().iter() {
        let Value::Str(key) = key else {
            return Err(bad(format!("a storage key is a {}", key.kind())));
        };
        let kind = *kinds
            .get(&**key)
            .ok_or_else(|| bad(format!("storage {key:?} is listed but never used")))?;
        let count = data
            .get(pos..pos + 8)
            .map(|b| u64::from_le_bytes(b.try_into().unwrap_or([0; 8])))
            .ok_or_else(|| bad(format!("storage {key:?}: the file ends before its size")))?;
        let start = pos + 8;
        let len = usize::try_from(count)
            .ok()
            .and_then(|n| n.checked_mul(kind.size_in_bytes()))
            .filter(|&len| start.checked_add(len).is_some_and(|end| end <= data.len()))
            .ok_or_else(|| {
                bad(format!(
                    "storage {key:?}: {count} elements run past the end of the file"
                ))
            })?;
        if spans.insert(key.to_string(), (start, len)).is_some() {
            return Err(bad(format!("storage {key:?} is listed twice")));
        }
        pos = start + len;
    }
    Ok(Layout {
        root: object.value,
        spans,
    })
}

/// Prefix an error with the part of the file it is in.
fn in_part(e: PickleError, what: &str) -> PickleError {
    match e {
        PickleError::Refused(r) => PickleError::Refused(format!("{what}: {r}")),
        PickleError::Bad(r) => PickleError::Bad(format!("{what}: {r}")),
    }
}
