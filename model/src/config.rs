//! `BertConfig`: the fields of HF's `config.json` that define a BERT classifier.
//!
//! Missing fields take HF `BertConfig`'s defaults; present fields are type- and
//! range-checked and errors name the field.

use std::path::{Path, PathBuf};

use serde_json::{json, Map, Value};

use crate::error::{ModelError, Result};

/// The activation of the intermediate (feed-forward) layer, by its HF name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HiddenAct {
    /// `gelu`: exact, `x * Φ(x)` with erf.
    Gelu,
    /// `gelu_new`, `gelu_pytorch_tanh`, `gelu_fast`: the tanh approximation.
    GeluTanh,
    Relu,
    /// `silu` / `swish`.
    Silu,
}

impl HiddenAct {
    fn parse(s: &str) -> Option<HiddenAct> {
        Some(match s {
            "gelu" => HiddenAct::Gelu,
            "gelu_new" | "gelu_pytorch_tanh" | "gelu_fast" => HiddenAct::GeluTanh,
            "relu" => HiddenAct::Relu,
            "silu" | "swish" => HiddenAct::Silu,
            _ => return None,
        })
    }

    /// The HF name written back to config.json.
    pub fn name(self) -> &'static str {
        match self {
            HiddenAct::Gelu => "gelu",
            HiddenAct::GeluTanh => "gelu_new",
            HiddenAct::Relu => "relu",
            HiddenAct::Silu => "silu",
        }
    }
}

/// A BERT model's hyper-parameters and label set (HF `BertConfig`).
#[derive(Clone, Debug, PartialEq)]
pub struct BertConfig {
    /// V
    pub vocab_size: usize,
    /// C
    pub hidden_size: usize,
    /// L
    pub num_hidden_layers: usize,
    /// NH
    pub num_attention_heads: usize,
    /// I, the feed-forward width.
    pub intermediate_size: usize,
    pub hidden_act: HiddenAct,
    /// Kept as f64 so config.json round-trips exactly; kernels take it as f32.
    pub layer_norm_eps: f64,
    /// TV
    pub type_vocab_size: usize,
    /// P, the longest input.
    pub max_position_embeddings: usize,
    pub pad_token_id: usize,
    pub initializer_range: f64,
    /// Label names by class index (`id2label`); `num_labels` is its length.
    pub id2label: Vec<String>,
    /// `single_label_classification`, `multi_label_classification`, `regression`, or none.
    pub problem_type: Option<String>,
    /// `architectures` as found (informative only).
    pub architectures: Vec<String>,
}

impl Default for BertConfig {
    /// HF `BertConfig()` defaults (bert-base-uncased sizes, two labels).
    fn default() -> Self {
        BertConfig {
            vocab_size: 30522,
            hidden_size: 768,
            num_hidden_layers: 12,
            num_attention_heads: 12,
            intermediate_size: 3072,
            hidden_act: HiddenAct::Gelu,
            layer_norm_eps: 1e-12,
            type_vocab_size: 2,
            max_position_embeddings: 512,
            pad_token_id: 0,
            initializer_range: 0.02,
            id2label: default_labels(2),
            problem_type: None,
            architectures: Vec::new(),
        }
    }
}

/// `LABEL_0 .. LABEL_{n-1}`, HF's names when a config has no `id2label`.
pub fn default_labels(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("LABEL_{i}")).collect()
}

impl BertConfig {
    /// Read and validate `config.json` (a file, or a model dir holding one).
    pub fn from_file(path: &Path) -> Result<BertConfig> {
        let path = if path.is_dir() {
            path.join("config.json")
        } else {
            path.to_path_buf()
        };
        let text = std::fs::read_to_string(&path).map_err(|source| ModelError::Io {
            path: path.clone(),
            source,
        })?;
        let value: Value = serde_json::from_str(&text).map_err(|source| ModelError::Json {
            path: path.clone(),
            source,
        })?;
        BertConfig::from_json(&value, &path)
    }

    /// Build from a parsed config.json; `path` only names the source in errors.
    pub fn from_json(value: &Value, path: &Path) -> Result<BertConfig> {
        let obj = value.as_object().ok_or_else(|| ModelError::Config {
            path: path.to_path_buf(),
            field: "(top level)".into(),
            msg: "expected a JSON object".into(),
        })?;
        let r = Reader { obj, path };
        let d = BertConfig::default();
        if let Some(t) = r.string("model_type")? {
            if t != "bert" {
                return Err(r.err(
                    "model_type",
                    format!("\"{t}\" is not supported (only \"bert\")"),
                ));
            }
        }
        if let Some(p) = r.string("position_embedding_type")? {
            if p != "absolute" {
                return Err(r.err(
                    "position_embedding_type",
                    format!("\"{p}\" is not supported (only \"absolute\")"),
                ));
            }
        }
        let hidden_act = match r.string("hidden_act")? {
            None => d.hidden_act,
            Some(s) => HiddenAct::parse(&s).ok_or_else(|| {
                r.err(
                    "hidden_act",
                    format!("\"{s}\" is not supported (gelu, gelu_new, gelu_pytorch_tanh, gelu_fast, relu, silu)"),
                )
            })?,
        };
        let id2label = r.labels()?;
        let cfg = BertConfig {
            vocab_size: r.usize("vocab_size")?.unwrap_or(d.vocab_size),
            hidden_size: r.usize("hidden_size")?.unwrap_or(d.hidden_size),
            num_hidden_layers: r.usize("num_hidden_layers")?.unwrap_or(d.num_hidden_layers),
            num_attention_heads: r
                .usize("num_attention_heads")?
                .unwrap_or(d.num_attention_heads),
            intermediate_size: r.usize("intermediate_size")?.unwrap_or(d.intermediate_size),
            hidden_act,
            layer_norm_eps: r.f64("layer_norm_eps")?.unwrap_or(d.layer_norm_eps),
            type_vocab_size: r.usize("type_vocab_size")?.unwrap_or(d.type_vocab_size),
            max_position_embeddings: r
                .usize("max_position_embeddings")?
                .unwrap_or(d.max_position_embeddings),
            pad_token_id: r.usize("pad_token_id")?.unwrap_or(d.pad_token_id),
            initializer_range: r.f64("initializer_range")?.unwrap_or(d.initializer_range),
            id2label,
            problem_type: r.string("problem_type")?,
            architectures: r.strings("architectures")?,
        };
        cfg.validate(path)?;
        Ok(cfg)
    }

    /// Check sizes are consistent; errors name the offending field.
    pub fn validate(&self, path: &Path) -> Result<()> {
        let err = |field: &str, msg: String| ModelError::Config {
            path: path.to_path_buf(),
            field: field.into(),
            msg,
        };
        for (field, v) in [
            ("vocab_size", self.vocab_size),
            ("hidden_size", self.hidden_size),
            ("num_hidden_layers", self.num_hidden_layers),
            ("num_attention_heads", self.num_attention_heads),
            ("intermediate_size", self.intermediate_size),
            ("type_vocab_size", self.type_vocab_size),
            ("max_position_embeddings", self.max_position_embeddings),
        ] {
            if v == 0 {
                return Err(err(field, "must be at least 1".into()));
            }
        }
        if !self.hidden_size.is_multiple_of(self.num_attention_heads) {
            return Err(err(
                "num_attention_heads",
                format!(
                    "{} does not divide hidden_size {}",
                    self.num_attention_heads, self.hidden_size
                ),
            ));
        }
        if !(self.layer_norm_eps.is_finite() && self.layer_norm_eps > 0.0) {
            return Err(err(
                "layer_norm_eps",
                format!("must be positive, got {}", self.layer_norm_eps),
            ));
        }
        if !(self.initializer_range.is_finite() && self.initializer_range >= 0.0) {
            return Err(err(
                "initializer_range",
                format!("must be non-negative, got {}", self.initializer_range),
            ));
        }
        if self.pad_token_id >= self.vocab_size {
            return Err(err(
                "pad_token_id",
                format!(
                    "{} is outside the vocabulary (vocab_size {})",
                    self.pad_token_id, self.vocab_size
                ),
            ));
        }
        if self.id2label.is_empty() {
            return Err(err("id2label", "needs at least one label".into()));
        }
        if let Some(p) = &self.problem_type {
            if !matches!(
                p.as_str(),
                "single_label_classification" | "multi_label_classification" | "regression"
            ) {
                return Err(err("problem_type", format!("unknown value \"{p}\"")));
            }
        }
        Ok(())
    }

    /// A named size with `vocab_size` entries and `num_labels` labels:
    /// - `tiny`: the test-fixture size (C 64, L 2, NH 4, I 128) with 512 positions,
    /// - `base`: BERT-base (C 768, L 12, NH 12, I 3072),
    /// - `large`: BERT-large (C 1024, L 24, NH 16, I 4096).
    pub fn preset(name: &str, vocab_size: usize, num_labels: usize) -> Option<BertConfig> {
        let (c, l, nh, i) = match name {
            "tiny" => (64, 2, 4, 128),
            "base" => (768, 12, 12, 3072),
            "large" => (1024, 24, 16, 4096),
            _ => return None,
        };
        Some(BertConfig {
            vocab_size,
            hidden_size: c,
            num_hidden_layers: l,
            num_attention_heads: nh,
            intermediate_size: i,
            id2label: default_labels(num_labels),
            ..BertConfig::default()
        })
    }

    /// NL
    pub fn num_labels(&self) -> usize {
        self.id2label.len()
    }

    /// HS
    pub fn head_size(&self) -> usize {
        self.hidden_size / self.num_attention_heads
    }

    /// The config.json that HF `transformers` reads back as this model
    /// (`BertForSequenceClassification`, with `id2label` / `label2id`).
    pub fn to_json(&self) -> Value {
        let id2label: Map<String, Value> = self
            .id2label
            .iter()
            .enumerate()
            .map(|(i, l)| (i.to_string(), json!(l)))
            .collect();
        let label2id: Map<String, Value> = self
            .id2label
            .iter()
            .enumerate()
            .map(|(i, l)| (l.clone(), json!(i)))
            .collect();
        let mut v = json!({
            "architectures": ["BertForSequenceClassification"],
            "model_type": "bert",
            "vocab_size": self.vocab_size,
            "hidden_size": self.hidden_size,
            "num_hidden_layers": self.num_hidden_layers,
            "num_attention_heads": self.num_attention_heads,
            "intermediate_size": self.intermediate_size,
            "hidden_act": self.hidden_act.name(),
            "hidden_dropout_prob": 0.1,
            "attention_probs_dropout_prob": 0.1,
            "layer_norm_eps": self.layer_norm_eps,
            "type_vocab_size": self.type_vocab_size,
            "max_position_embeddings": self.max_position_embeddings,
            "position_embedding_type": "absolute",
            "pad_token_id": self.pad_token_id,
            "initializer_range": self.initializer_range,
            "id2label": id2label,
            "label2id": label2id,
        });
        if let Some(p) = &self.problem_type {
            v["problem_type"] = json!(p);
        }
        v
    }
}

/// Typed, field-naming access to a config.json object.
struct Reader<'a> {
    obj: &'a Map<String, Value>,
    path: &'a Path,
}

impl Reader<'_> {
    fn err(&self, field: &str, msg: String) -> ModelError {
        ModelError::Config {
            path: PathBuf::from(self.path),
            field: field.into(),
            msg,
        }
    }

    /// Present and non-null values only.
    fn get(&self, field: &str) -> Option<&Value> {
        self.obj.get(field).filter(|v| !v.is_null())
    }

    fn usize(&self, field: &str) -> Result<Option<usize>> {
        match self.get(field) {
            None => Ok(None),
            Some(v) => v.as_u64().map(|n| Some(n as usize)).ok_or_else(|| {
                self.err(field, format!("expected a non-negative integer, got {v}"))
            }),
        }
    }

    fn f64(&self, field: &str) -> Result<Option<f64>> {
        match self.get(field) {
            None => Ok(None),
            Some(v) => v
                .as_f64()
                .map(Some)
                .ok_or_else(|| self.err(field, format!("expected a number, got {v}"))),
        }
    }

    fn string(&self, field: &str) -> Result<Option<String>> {
        match self.get(field) {
            None => Ok(None),
            Some(v) => v
                .as_str()
                .map(|s| Some(s.to_string()))
                .ok_or_else(|| self.err(field, format!("expected a string, got {v}"))),
        }
    }

    fn strings(&self, field: &str) -> Result<Vec<String>> {
        match self.get(field) {
            None => Ok(Vec::new()),
            Some(Value::Array(a)) => a
                .iter()
                .map(|v| {
                    v.as_str()
                        .map(str::to_string)
                        .ok_or_else(|| self.err(field, format!("expected strings, got {v}")))
                })
                .collect(),
            Some(v) => Err(self.err(field, format!("expected a list of strings, got {v}"))),
        }
    }

    /// `id2label` (keys "0".."n-1"), checked against `num_labels` when present. `label2id` is
    /// ignored on read, as in HF (predictions use `id2label`).
    fn labels(&self) -> Result<Vec<String>> {
        let num_labels = self.usize("num_labels")?;
        let labels = match self.get("id2label") {
            None => default_labels(num_labels.unwrap_or(2)),
            Some(Value::Object(m)) => {
                let mut labels = vec![None; m.len()];
                for (k, v) in m {
                    let i: usize = k.parse().ok().filter(|&i| i < m.len()).ok_or_else(|| {
                        self.err(
                            "id2label",
                            format!("key \"{k}\" is not a class index 0..{}", m.len()),
                        )
                    })?;
                    let name = v.as_str().ok_or_else(|| {
                        self.err(
                            "id2label",
                            format!("label for \"{k}\" is not a string: {v}"),
                        )
                    })?;
                    labels[i] = Some(name.to_string());
                }
                // keys are distinct and all < len, so every slot is filled
                labels.into_iter().map(|l| l.unwrap_or_default()).collect()
            }
            Some(v) => return Err(self.err("id2label", format!("expected an object, got {v}"))),
        };
        if let Some(n) = num_labels {
            if n != labels.len() {
                return Err(self.err(
                    "num_labels",
                    format!("{n} disagrees with id2label's {} labels", labels.len()),
                ));
            }
        }
        Ok(labels)
    }
}
