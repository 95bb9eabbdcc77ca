//! The trained model as files in the run dir, per mode:
//! - LoRA: PEFT's `adapter_config.json` + `adapter_model.safetensors` (keys
//!   `base_model.model.<HF name>`; the classifier as PEFT saves `modules_to_save`);
//! - full: a complete HF model dir (`config.json` with `id2label`, `model.safetensors`);
//! - head-only: `head_model.safetensors` (`classifier.*`) + `head_config.json` naming the base.
//!
//! Every mode also writes `labels.json` and copies the tokenizer files, so the run dir loads
//! as a model ([`crate::run`]).

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::json;
use tokken_engine::{save_safetensors, Tensor};

use super::Trainer;
use crate::error::{ModelError, Result};
use crate::init::write_atomic;
use crate::params::BertParams;
use crate::run_dir::AdapterConfig;
use crate::train::TrainMode;

/// PEFT's key prefix in `adapter_model.safetensors`.
pub const PEFT_PREFIX: &str = "base_model.model.";
/// Head-only runs: the classifier tensors and the file naming the base model.
pub const HEAD_WEIGHTS: &str = "head_model.safetensors";
pub const HEAD_CONFIG: &str = "head_config.json";

/// Write the trainer's current model into its run dir.
pub fn export_model(trainer: &Trainer) -> Result<()> {
    let out = &trainer.out;
    let cfg = &trainer.config;
    let base = absolute(&cfg.model);
    match cfg.setup.mode {
        TrainMode::Lora => {
            let tensors = named(trainer.model.state_tensors(), PEFT_PREFIX)?;
            save(&out.join("adapter_model.safetensors"), &tensors)?;
            let lora = &cfg.setup.lora;
            let targets: Vec<&str> = lora.target_modules.iter().map(String::as_str).collect();
            AdapterConfig::lora_seq_cls(
                &base.display().to_string(),
                lora.r,
                lora.alpha as f64,
                lora.dropout as f64,
                &targets,
            )
            .write(&out.join("adapter_config.json"))?;
        }
        TrainMode::Full => {
            let params = trainer.model.merged()?;
            write_hf_model(out, &params)?;
        }
        TrainMode::HeadOnly => {
            let tensors = named(trainer.model.state_tensors(), "")?;
            save(&out.join(HEAD_WEIGHTS), &tensors)?;
            write_json(
                &out.join(HEAD_CONFIG),
                &json!({ "base_model_name_or_path": base.display().to_string() }),
            )?;
        }
    }
    let problem_type = cfg.multi_label.then_some("multi_label_classification");
    write_labels(out, &cfg.labels, problem_type)?;
    if let Some(h) = &cfg.setup.loss.hierarchy {
        crate::hierarchy::run_dir::write_hierarchy(out, &h.tree)?;
    }
    if let Some(t) = &cfg.template {
        // predict / eval apply it again from here
        t.write_to_dir(out, Some(cfg.max_length))?;
    }
    copy_tokenizer_files(&cfg.model, out)
}

/// `labels.json`: `{"id2label": {"0": ..}, "label2id": {..}, "labels": [..]}`, plus
/// `"problem_type"` when given (`multi_label_classification`); read back by
/// [`crate::run_dir::LabelsFile`].
pub fn write_labels(out: &Path, labels: &[String], problem_type: Option<&str>) -> Result<()> {
    let id2label: BTreeMap<String, &String> = labels
        .iter()
        .enumerate()
        .map(|(i, l)| (i.to_string(), l))
        .collect();
    let label2id: BTreeMap<&String, usize> =
        labels.iter().enumerate().map(|(i, l)| (l, i)).collect();
    let mut value = json!({ "id2label": id2label, "label2id": label2id, "labels": labels });
    if let Some(p) = problem_type {
        value["problem_type"] = json!(p);
    }
    write_json(&out.join("labels.json"), &value)
}

/// Copy `vocab.txt` and `tokenizer_config.json` (and `special_tokens_map.json` when
/// present) from `from` to `to`. A MeCab config that names no dictionary gets the one it
/// was read with written in (see [`pin_default_dictionary`]).
pub fn copy_tokenizer_files(from: &Path, to: &Path) -> Result<()> {
    if same_dir(from, to) {
        return Ok(());
    }
    for name in [
        "vocab.txt",
        "tokenizer_config.json",
        "special_tokens_map.json",
    ] {
        let src = from.join(name);
        if !src.is_file() {
            continue;
        }
        let mut bytes =
            std::fs::read(&src).map_err(|source| ModelError::Io { path: src, source })?;
        if name == "tokenizer_config.json" {
            bytes = pin_default_dictionary(bytes);
        }
        write_atomic(&to.join(name), &bytes)?;
    }
    Ok(())
}

/// `tokenizer_config.json` with `mecab_kwargs.mecab_dic: "unidic_lite"` written in when it
/// configures MeCab but names no dictionary (the v1 models' configs). That default has
/// changed (ipadic before transformers 4.45, unidic-lite since, as in tokken), so a model
/// trained on it says which one it saw, for every reader. Anything else comes back as it
/// was, bytes unchanged.
pub fn pin_default_dictionary(bytes: Vec<u8>) -> Vec<u8> {
    let Ok(serde_json::Value::Object(mut config)) = serde_json::from_slice(&bytes) else {
        return bytes;
    };
    if !tokken_tokenizer::config::names_no_mecab_dictionary(&config) {
        return bytes;
    }
    // Absent, null or an object without `mecab_dic` (what the check above lets through).
    let kwargs = config.entry("mecab_kwargs").or_insert(json!(null));
    if kwargs.is_null() {
        *kwargs = json!({});
    }
    if let Some(kwargs) = kwargs.as_object_mut() {
        kwargs.insert("mecab_dic".into(), json!("unidic_lite"));
    }
    serde_json::to_vec_pretty(&config).unwrap_or(bytes)
}

/// A complete HF `BertForSequenceClassification` dir: `model.safetensors` (the fused QKV
/// split back into `query` / `key` / `value`), `config.json` with `id2label`, last.
pub fn write_hf_model(out: &Path, params: &BertParams) -> Result<()> {
    let tensors = hf_state_dict(params)?;
    let refs: Vec<(&str, &Tensor)> = tensors.iter().map(|(n, t)| (n.as_str(), t)).collect();
    let metadata: BTreeMap<String, String> = [("format".to_string(), "pt".to_string())].into();
    save_safetensors(&out.join("model.safetensors"), &refs, Some(&metadata))?;
    write_json(&out.join("config.json"), &params.config.to_json())
}

/// Every parameter under its HF `BertForSequenceClassification` key, as f32.
pub fn hf_state_dict(p: &BertParams) -> Result<Vec<(String, Tensor)>> {
    let f32t = |t: &Tensor| -> Result<Tensor> {
        Ok(Tensor::from_f32(t.shape().to_vec(), t.to_f32_vec())?)
    };
    let mut out: Vec<(String, Tensor)> = Vec::new();
    let e = &p.embeddings;
    for (k, t) in [
        ("word_embeddings.weight", &e.word_embeddings),
        ("position_embeddings.weight", &e.position_embeddings),
        ("token_type_embeddings.weight", &e.token_type_embeddings),
        ("LayerNorm.weight", &e.layer_norm.weight),
        ("LayerNorm.bias", &e.layer_norm.bias),
    ] {
        out.push((format!("bert.embeddings.{k}"), f32t(t)?));
    }
    let c = p.config.hidden_size;
    for (l, layer) in p.layers.iter().enumerate() {
        let pre = format!("bert.encoder.layer.{l}");
        let w = layer.qkv.weight.to_f32_vec();
        let b = layer.qkv.bias.to_f32_vec();
        for (i, name) in ["query", "key", "value"].iter().enumerate() {
            out.push((
                format!("{pre}.attention.self.{name}.weight"),
                Tensor::from_f32(vec![c, c], w[i * c * c..(i + 1) * c * c].to_vec())?,
            ));
            out.push((
                format!("{pre}.attention.self.{name}.bias"),
                Tensor::from_f32(vec![c], b[i * c..(i + 1) * c].to_vec())?,
            ));
        }
        for (k, lin) in [
            ("attention.output.dense", &layer.attention_output),
            ("intermediate.dense", &layer.intermediate),
            ("output.dense", &layer.output),
        ] {
            out.push((format!("{pre}.{k}.weight"), f32t(&lin.weight)?));
            out.push((format!("{pre}.{k}.bias"), f32t(&lin.bias)?));
        }
        for (k, ln) in [
            ("attention.output.LayerNorm", &layer.attention_layer_norm),
            ("output.LayerNorm", &layer.output_layer_norm),
        ] {
            out.push((format!("{pre}.{k}.weight"), f32t(&ln.weight)?));
            out.push((format!("{pre}.{k}.bias"), f32t(&ln.bias)?));
        }
    }
    if let Some(pooler) = &p.pooler {
        out.push(("bert.pooler.dense.weight".into(), f32t(&pooler.weight)?));
        out.push(("bert.pooler.dense.bias".into(), f32t(&pooler.bias)?));
    }
    if let Some(cls) = &p.classifier {
        out.push(("classifier.weight".into(), f32t(&cls.weight)?));
        out.push(("classifier.bias".into(), f32t(&cls.bias)?));
    }
    Ok(out)
}

fn named(
    state: Vec<(String, Vec<f32>, Vec<usize>)>,
    prefix: &str,
) -> Result<Vec<(String, Tensor)>> {
    state
        .into_iter()
        .map(|(n, data, shape)| Ok((format!("{prefix}{n}"), Tensor::from_f32(shape, data)?)))
        .collect()
}

fn save(path: &Path, tensors: &[(String, Tensor)]) -> Result<()> {
    let refs: Vec<(&str, &Tensor)> = tensors.iter().map(|(n, t)| (n.as_str(), t)).collect();
    let metadata: BTreeMap<String, String> = [("format".to_string(), "pt".to_string())].into();
    Ok(save_safetensors(path, &refs, Some(&metadata))?)
}

fn write_json(path: &Path, value: &serde_json::Value) -> Result<()> {
    let bytes = serde_json::to_vec_pretty(value).map_err(|e| ModelError::Other(e.to_string()))?;
    write_atomic(path, &bytes)
}

fn absolute(p: &Path) -> std::path::PathBuf {
    std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf())
}

fn same_dir(a: &Path, b: &Path) -> bool {
    matches!((std::fs::canonicalize(a), std::fs::canonicalize(b)), (Ok(x), Ok(y)) if x == y)
}
