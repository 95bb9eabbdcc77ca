//! Element types a [`crate::Tensor`] can hold.

use std::fmt;
use std::str::FromStr;

/// Element type of a tensor. f32 is the reference; bf16 and f16 are storage / fast-path types.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DType {
    F32,
    BF16,
    F16,
}

impl DType {
    /// Bytes per element.
    pub fn size_in_bytes(self) -> usize {
        match self {
            DType::F32 => 4,
            DType::BF16 | DType::F16 => 2,
        }
    }

    /// The name safetensors headers use (`"F32"`, `"BF16"`, `"F16"`).
    pub fn safetensors_name(self) -> &'static str {
        match self {
            DType::F32 => "F32",
            DType::BF16 => "BF16",
            DType::F16 => "F16",
        }
    }

    /// From a safetensors header dtype (`"F32"`, ...); `None` for types we do not hold.
    pub fn from_safetensors_name(name: &str) -> Option<DType> {
        match name {
            "F32" => Some(DType::F32),
            "BF16" => Some(DType::BF16),
            "F16" => Some(DType::F16),
            _ => None,
        }
    }

    /// From a PyTorch storage class name (`"FloatStorage"`, `"BFloat16Storage"`, `"HalfStorage"`).
    pub fn from_torch_storage(name: &str) -> Option<DType> {
        match name {
            "FloatStorage" => Some(DType::F32),
            "BFloat16Storage" => Some(DType::BF16),
            "HalfStorage" => Some(DType::F16),
            _ => None,
        }
    }
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DType::F32 => "f32",
            DType::BF16 => "bf16",
            DType::F16 => "f16",
        })
    }
}

/// Error from parsing a dtype name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown dtype {0:?} (expected f32, bf16 or f16)")]
pub struct ParseDTypeError(pub String);

impl FromStr for DType {
    type Err = ParseDTypeError;

    /// Accepts our names (`f32`), safetensors names (`F32`) and torch names
    /// (`float32`, `torch.bfloat16`, `half`, ...), case-insensitively.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let lower = s.trim().to_ascii_lowercase();
        let name = lower.strip_prefix("torch.").unwrap_or(&lower);
        match name {
            "f32" | "float32" | "float" | "fp32" => Ok(DType::F32),
            "bf16" | "bfloat16" => Ok(DType::BF16),
            "f16" | "float16" | "half" | "fp16" => Ok(DType::F16),
            _ => Err(ParseDTypeError(s.to_string())),
        }
    }
}
