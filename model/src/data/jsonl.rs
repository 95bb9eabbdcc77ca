//! JSON Lines reader: one object per line; blank lines skipped; BOM and CRLF tolerated.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{Map, Value};

use super::{clean_labels, data_error, strip_bom, Example, LabelTarget, ReadOptions};
use crate::error::Result;

pub(super) fn parse(path: &Path, bytes: &[u8], options: &ReadOptions) -> Result<Vec<Example>> {
    let mut examples = Vec::new();
    for (i, raw) in strip_bom(bytes).split(|&b| b == b'\n').enumerate() {
        let line = i + 1;
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        let text = std::str::from_utf8(raw).map_err(|e| {
            data_error(
                path,
                line,
                format!(
                    "invalid UTF-8 at byte {} of the line (data files must be UTF-8)",
                    e.valid_up_to() + 1
                ),
            )
        })?;
        let trimmed = text.trim();
        if trimmed.is_empty() {
            continue;
        }
        if examples.is_empty() && trimmed.starts_with('[') {
            return Err(data_error(
                path,
                line,
                "expected one JSON object per line (JSON Lines), found a JSON array",
            ));
        }
        let value: Value = serde_json::from_str(trimmed)
            .map_err(|e| data_error(path, line, format!("expected a JSON object: {e}")))?;
        let Value::Object(object) = value else {
            return Err(data_error(
                path,
                line,
                format!("expected a JSON object, found {}", kind(&value)),
            ));
        };
        examples.push(example(path, line, object, options)?);
    }
    Ok(examples)
}

fn example(
    path: &Path,
    line: usize,
    mut object: Map<String, Value>,
    options: &ReadOptions,
) -> Result<Example> {
    let text = match object.remove(&options.text_field) {
        Some(Value::String(s)) if !s.trim().is_empty() => s,
        Some(Value::String(_)) => {
            return Err(data_error(
                path,
                line,
                format!("field {:?} is empty", options.text_field),
            ))
        }
        Some(other) => {
            return Err(data_error(
                path,
                line,
                format!(
                    "expected a string field {:?}, found {}",
                    options.text_field,
                    kind(&other)
                ),
            ))
        }
        None => {
            return Err(data_error(
                path,
                line,
                format!("expected a string field {:?}", options.text_field),
            ))
        }
    };
    let text_pair = match object.remove(&options.text_pair_field) {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.is_empty() => None,
        Some(Value::String(s)) => Some(s),
        Some(other) => {
            return Err(data_error(
                path,
                line,
                format!(
                    "expected field {:?} to be a string, found {}",
                    options.text_pair_field,
                    kind(&other)
                ),
            ))
        }
    };
    let field = options.label_field().to_string();
    let label = match object.remove(&field) {
        None | Some(Value::Null) => {
            let what = if options.multi_label {
                "an array of strings"
            } else {
                "a string"
            };
            return Err(data_error(
                path,
                line,
                format!("expected {what} field {field:?} (the label)"),
            ));
        }
        Some(value) => label(path, line, &field, value, options.multi_label)?,
    };
    let extra: BTreeMap<String, String> = object
        .into_iter()
        .filter(|(_, v)| !v.is_null())
        .map(|(k, v)| {
            let s = match v {
                Value::String(s) => s,
                other => other.to_string(),
            };
            (k, s)
        })
        .collect();
    Ok(Example {
        text,
        text_pair,
        label,
        extra,
        line,
    })
}

/// A label value: a string (integers are accepted and read as their decimal text), or for
/// multi-label an array of those (or a single one).
fn label(path: &Path, line: usize, field: &str, value: Value, multi: bool) -> Result<LabelTarget> {
    let one = |v: Value| -> Option<String> {
        match v {
            Value::String(s) => Some(s),
            Value::Number(n) if n.is_i64() || n.is_u64() => Some(n.to_string()),
            _ => None,
        }
    };
    if multi {
        let items = match value {
            Value::Array(items) => items,
            single => vec![single],
        };
        let mut names = Vec::with_capacity(items.len());
        for item in items {
            let k = kind(&item);
            names.push(one(item).ok_or_else(|| {
                data_error(
                    path,
                    line,
                    format!("expected field {field:?} to be an array of strings, found an element that is {k}"),
                )
            })?);
        }
        return Ok(LabelTarget::Multi(clean_labels(path, line, field, names)?));
    }
    let k = kind(&value);
    let name = one(value).ok_or_else(|| {
        data_error(
            path,
            line,
            format!("expected a string field {field:?} (the label), found {k}"),
        )
    })?;
    let mut names = clean_labels(path, line, field, vec![name])?;
    Ok(LabelTarget::Single(names.remove(0)))
}

/// "a number", "an array", … for messages.
fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}
