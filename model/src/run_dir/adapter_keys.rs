//! Tensor names in `adapter_model.safetensors`, as PEFT saves a LoRA adapter of a
//! `BertForSequenceClassification` (checked against PEFT 0.21.2 by
//! scripts/reference/peft_key_names.py and the fixture `peft-tiny-adapter/`):
//!
//! - LoRA: `base_model.model.bert.encoder.layer.{l}.{module}.lora_{A|B}.weight`, A `[R, in]`,
//!   B `[out, R]`;
//! - the head (`modules_to_save`, adapter name stripped): `base_model.model.classifier.weight`
//!   `[NL, C]` and `base_model.model.classifier.bias` `[NL]`.

use std::fmt;

/// Prefix PEFT puts before HF module names.
pub const HEAD_PREFIX: &str = "base_model.model.";

/// A linear layer of a BERT encoder layer that LoRA can adapt, by its HF name under
/// `bert.encoder.layer.{l}.`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LoraModule {
    Query,
    Key,
    Value,
    /// `attention.output.dense`: attention output projection.
    AttentionOutput,
    /// `intermediate.dense`: feed-forward up projection.
    Intermediate,
    /// `output.dense`: feed-forward down projection.
    Output,
}

impl LoraModule {
    pub const ALL: [LoraModule; 6] = [
        LoraModule::Query,
        LoraModule::Key,
        LoraModule::Value,
        LoraModule::AttentionOutput,
        LoraModule::Intermediate,
        LoraModule::Output,
    ];

    /// HF module path inside a layer.
    pub fn hf_name(self) -> &'static str {
        match self {
            LoraModule::Query => "attention.self.query",
            LoraModule::Key => "attention.self.key",
            LoraModule::Value => "attention.self.value",
            LoraModule::AttentionOutput => "attention.output.dense",
            LoraModule::Intermediate => "intermediate.dense",
            LoraModule::Output => "output.dense",
        }
    }

    pub fn from_hf_name(name: &str) -> Option<LoraModule> {
        LoraModule::ALL.into_iter().find(|m| m.hf_name() == name)
    }

    /// Does a PEFT `target_modules` entry select this module? PEFT's rule for a list entry:
    /// the full module name equals it or ends with `.` + it — so `output.dense` selects both
    /// `attention.output.dense` and `output.dense`, and `dense` all three dense layers.
    pub fn matches_target(self, target: &str) -> bool {
        let full = format!("bert.encoder.layer.0.{}", self.hf_name());
        full == target || full.ends_with(&format!(".{target}"))
    }
}

impl fmt::Display for LoraModule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.hf_name())
    }
}

/// LoRA's down (`A`, `[R, in]`) or up (`B`, `[out, R]`) matrix.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LoraPart {
    A,
    B,
}

/// The PEFT tensor name of a LoRA matrix.
pub fn lora_key(layer: usize, module: LoraModule, part: LoraPart) -> String {
    let ab = match part {
        LoraPart::A => "A",
        LoraPart::B => "B",
    };
    format!(
        "{HEAD_PREFIX}bert.encoder.layer.{layer}.{}.lora_{ab}.weight",
        module.hf_name()
    )
}

/// What a tensor name in `adapter_model.safetensors` stands for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AdapterKey {
    Lora {
        layer: usize,
        module: LoraModule,
        part: LoraPart,
    },
    /// A full module saved by `modules_to_save`, by its HF parameter name, e.g.
    /// `classifier.weight`.
    Saved(String),
}

impl AdapterKey {
    /// Back to the PEFT tensor name.
    pub fn key(&self) -> String {
        match self {
            AdapterKey::Lora {
                layer,
                module,
                part,
            } => lora_key(*layer, *module, *part),
            AdapterKey::Saved(name) => format!("{HEAD_PREFIX}{name}"),
        }
    }
}

/// Parse a PEFT tensor name; `None` for names outside this scheme (another architecture,
/// an adapter name left in, DoRA magnitudes, …).
pub fn parse_adapter_key(key: &str) -> Option<AdapterKey> {
    let rest = key.strip_prefix(HEAD_PREFIX)?;
    if let Some(layer_rest) = rest.strip_prefix("bert.encoder.layer.") {
        let (layer, module_rest) = layer_rest.split_once('.')?;
        if layer.is_empty() || !layer.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let layer: usize = layer.parse().ok()?;
        let (module, part) = if let Some(m) = module_rest.strip_suffix(".lora_A.weight") {
            (m, LoraPart::A)
        } else if let Some(m) = module_rest.strip_suffix(".lora_B.weight") {
            (m, LoraPart::B)
        } else {
            return None;
        };
        let module = LoraModule::from_hf_name(module)?;
        return Some(AdapterKey::Lora {
            layer,
            module,
            part,
        });
    }
    if rest.contains("lora_") || rest.contains("modules_to_save") || rest.is_empty() {
        return None;
    }
    Some(AdapterKey::Saved(rest.to_string()))
}
