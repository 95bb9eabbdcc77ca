//! `adapter_config.json`: PEFT's `LoraConfig` as PEFT 0.21.2 writes it.
//!
//! Written with every field PEFT 0.21.2 writes (so PEFT loads it without warnings); read
//! leniently (unknown fields kept in [`AdapterConfig::other`], missing ones defaulted as PEFT
//! does), then [`AdapterConfig::validate`] rejects what tokken does not implement (DoRA,
//! per-module rank/alpha patterns, LoRA biases, layer subsets, regex targets, …).
//! PEFT needs only `peft_type`, `task_type`, `r`, `lora_alpha`, `target_modules` and
//! `modules_to_save` to load an adapter (checked by scripts/reference/peft_key_names.py).

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::adapter_keys::LoraModule;
use super::{read_json, write_json_atomically};
use crate::error::{ModelError, Result};

/// The PEFT version whose field set [`AdapterConfig::lora_seq_cls`] writes.
pub const PEFT_VERSION: &str = "0.21.2";

/// PEFT's `target_modules`: a list of module-name suffixes, or one regex (full match).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum TargetModules {
    List(Vec<String>),
    Regex(String),
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AdapterConfig {
    /// `"LORA"`.
    pub peft_type: String,
    /// `"SEQ_CLS"` for sequence classification.
    #[serde(default)]
    pub task_type: Option<String>,
    /// Rank R.
    pub r: usize,
    /// Scale numerator: the update is `(alpha / r) · B A x` (`alpha / √r` with rsLoRA).
    #[serde(serialize_with = "number_as_int_when_whole")]
    pub lora_alpha: f64,
    #[serde(default)]
    pub lora_dropout: f64,
    pub target_modules: TargetModules,
    /// Modules saved in full: PEFT writes `["classifier", "score"]` for SEQ_CLS.
    #[serde(default)]
    pub modules_to_save: Option<Vec<String>>,
    #[serde(default)]
    pub base_model_name_or_path: Option<String>,
    #[serde(default = "bias_none")]
    pub bias: String,
    #[serde(default)]
    pub fan_in_fan_out: bool,
    #[serde(default)]
    pub inference_mode: bool,
    #[serde(default)]
    pub use_rslora: bool,
    #[serde(default)]
    pub use_dora: bool,
    /// `true` (A Kaiming-uniform, B zero), `false` (both random), or a method name.
    #[serde(default = "init_true")]
    pub init_lora_weights: Value,
    #[serde(default)]
    pub layers_to_transform: Option<Value>,
    #[serde(default)]
    pub rank_pattern: BTreeMap<String, Value>,
    #[serde(default)]
    pub alpha_pattern: BTreeMap<String, Value>,
    /// Every other field, as read (or PEFT 0.21.2's defaults when made here).
    #[serde(flatten)]
    pub other: BTreeMap<String, Value>,
}

fn bias_none() -> String {
    "none".into()
}

fn init_true() -> Value {
    Value::Bool(true)
}

fn number_as_int_when_whole<S: serde::Serializer>(
    v: &f64,
    s: S,
) -> std::result::Result<S::Ok, S::Error> {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        s.serialize_i64(*v as i64)
    } else {
        s.serialize_f64(*v)
    }
}

impl AdapterConfig {
    /// A LoRA config for sequence classification as PEFT 0.21.2 writes it after training
    /// (`inference_mode: true`), with the head in `modules_to_save`.
    pub fn lora_seq_cls(
        base_model: &str,
        r: usize,
        lora_alpha: f64,
        lora_dropout: f64,
        target_modules: &[&str],
    ) -> AdapterConfig {
        let null = || Value::Null;
        let mut other = BTreeMap::new();
        for key in [
            "alora_invocation_tokens",
            "arrow_config",
            "auto_mapping",
            "corda_config",
            "eva_config",
            "exclude_modules",
            "kasa_config",
            "layer_replication",
            "layers_pattern",
            "lora_ga_config",
            "megatron_config",
            "monteclora_config",
            "revision",
            "target_parameters",
            "trainable_token_indices",
            "use_bdlora",
            "velora_config",
        ] {
            other.insert(key.to_string(), null());
        }
        other.insert("ensure_weight_tying".into(), Value::Bool(false));
        other.insert("loftq_config".into(), Value::Object(Default::default()));
        other.insert("lora_bias".into(), Value::Bool(false));
        other.insert("megatron_core".into(), Value::from("megatron.core"));
        other.insert("peft_version".into(), Value::from(PEFT_VERSION));
        other.insert("qalora_group_size".into(), Value::from(16));
        other.insert("use_qalora".into(), Value::Bool(false));
        AdapterConfig {
            peft_type: "LORA".into(),
            task_type: Some("SEQ_CLS".into()),
            r,
            lora_alpha,
            lora_dropout,
            target_modules: TargetModules::List(
                target_modules.iter().map(|s| s.to_string()).collect(),
            ),
            modules_to_save: Some(vec!["classifier".into(), "score".into()]),
            base_model_name_or_path: Some(base_model.to_string()),
            bias: bias_none(),
            fan_in_fan_out: false,
            inference_mode: true,
            use_rslora: false,
            use_dora: false,
            init_lora_weights: init_true(),
            layers_to_transform: None,
            rank_pattern: BTreeMap::new(),
            alpha_pattern: BTreeMap::new(),
            other,
        }
    }

    /// Read and [`validate`](AdapterConfig::validate).
    pub fn read(path: &Path) -> Result<AdapterConfig> {
        let config: AdapterConfig = read_json(path)?;
        config.validate().map_err(|msg| ModelError::DataFile {
            path: path.to_path_buf(),
            msg,
        })?;
        Ok(config)
    }

    /// Write atomically, keys sorted as PEFT writes them.
    pub fn write(&self, path: &Path) -> Result<()> {
        let value = serde_json::to_value(self).map_err(|source| ModelError::Json {
            path: path.to_path_buf(),
            source,
        })?;
        // Through a BTreeMap so the keys come out sorted whatever serde_json's map is.
        let sorted: BTreeMap<String, Value> = match value {
            Value::Object(map) => map.into_iter().collect(),
            _ => BTreeMap::new(),
        };
        write_json_atomically(path, &sorted)
    }

    /// LoRA scale: `alpha / r`, or `alpha / √r` with rsLoRA.
    pub fn scaling(&self) -> f64 {
        if self.use_rslora {
            self.lora_alpha / (self.r as f64).sqrt()
        } else {
            self.lora_alpha / self.r as f64
        }
    }

    /// The encoder-layer modules `target_modules` selects, by PEFT's suffix rule, in
    /// [`LoraModule::ALL`] order.
    pub fn targeted_modules(&self) -> std::result::Result<Vec<LoraModule>, String> {
        let TargetModules::List(targets) = &self.target_modules else {
            return Err("a regex `target_modules` is not supported; list module names".into());
        };
        for t in targets {
            if !LoraModule::ALL.iter().any(|m| m.matches_target(t)) {
                return Err(format!(
                    "target module {t:?} matches no BERT encoder linear layer (expected names such as query, key, value, attention.output.dense, intermediate.dense, output.dense)"
                ));
            }
            // PEFT would also wrap the pooler's dense layer, which tokken does not adapt.
            let pooler = "bert.pooler.dense";
            if pooler == t || pooler.ends_with(&format!(".{t}")) {
                return Err(format!(
                    "target module {t:?} also selects bert.pooler.dense, which tokken does not adapt; name the layer modules (attention.output.dense, intermediate.dense, output.dense)"
                ));
            }
        }
        Ok(LoraModule::ALL
            .into_iter()
            .filter(|m| targets.iter().any(|t| m.matches_target(t)))
            .collect())
    }

    /// `Err(reason)` for settings tokken does not implement.
    pub fn validate(&self) -> std::result::Result<(), String> {
        let unsupported = |what: &str| Err(format!("{what} is not supported"));
        if self.peft_type != "LORA" {
            return Err(format!(
                "peft_type {:?}: only \"LORA\" adapters are supported",
                self.peft_type
            ));
        }
        if let Some(t) = &self.task_type {
            if t != "SEQ_CLS" {
                return Err(format!(
                    "task_type {t:?}: only sequence classification (\"SEQ_CLS\") is supported"
                ));
            }
        }
        if self.r == 0 {
            return Err("r must be at least 1".into());
        }
        if !(0.0..1.0).contains(&self.lora_dropout) {
            return Err(format!(
                "lora_dropout {} must be in [0, 1)",
                self.lora_dropout
            ));
        }
        if self.use_dora {
            return unsupported("use_dora (DoRA)");
        }
        if self.bias != "none" {
            return unsupported(&format!("bias {:?} (only \"none\")", self.bias));
        }
        if self.fan_in_fan_out {
            return unsupported("fan_in_fan_out");
        }
        if self
            .other
            .get("lora_bias")
            .is_some_and(|v| v == &Value::Bool(true))
        {
            return unsupported("lora_bias");
        }
        if self
            .layers_to_transform
            .as_ref()
            .is_some_and(|v| !v.is_null())
        {
            return unsupported("layers_to_transform");
        }
        if !self.rank_pattern.is_empty() || !self.alpha_pattern.is_empty() {
            return unsupported("rank_pattern / alpha_pattern");
        }
        self.targeted_modules().map(|_| ())
    }
}
