//! A fine-tuning run dir used as a model: the base model named by the run plus what was
//! trained, as plain [`BertParams`] (LoRA merged), with the run's labels.
//!
//! - LoRA run (`adapter_config.json`): base from `base_model_name_or_path`, adapter and
//!   classifier from `adapter_model.safetensors`;
//! - head-only run (`head_config.json`): base plus `head_model.safetensors`;
//! - full run: the run dir is itself a plain HF model dir.

use std::path::{Path, PathBuf};

use serde_json::Value;
use tokken_engine::Weights;

use crate::error::{ModelError, Result};
use crate::params::{BertParams, LinearParams};
use crate::run_dir::{read_json, AdapterConfig, LabelsFile, TargetModules};
use crate::train::{LoraConfig, LossConfig, TrainMode, TrainModel, TrainSetup};
use crate::trainer::export::{HEAD_CONFIG, HEAD_WEIGHTS};
use crate::trainer::start::load_adapter;

/// What kind of dir `dir` is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ModelDirKind {
    /// `config.json` + weights.
    Plain,
    /// A LoRA run (PEFT adapter dir).
    Adapter,
    /// A head-only run.
    Head,
}

pub fn dir_kind(dir: &Path) -> ModelDirKind {
    if dir.join("adapter_config.json").is_file() {
        ModelDirKind::Adapter
    } else if dir.join(HEAD_CONFIG).is_file() {
        ModelDirKind::Head
    } else {
        ModelDirKind::Plain
    }
}

/// The parameters of the model in `dir` (a plain HF dir or a run dir), LoRA merged.
pub fn load_params(dir: &Path) -> Result<BertParams> {
    match dir_kind(dir) {
        ModelDirKind::Plain => BertParams::load(dir),
        ModelDirKind::Adapter => load_adapter_run(dir),
        ModelDirKind::Head => load_head_run(dir),
    }
}

/// `base_model_name_or_path` of a run config, resolved against the run dir when relative.
fn base_path(run_dir: &Path, base: Option<&str>, file: &Path) -> Result<PathBuf> {
    let base = base.ok_or_else(|| ModelError::Config {
        path: file.to_path_buf(),
        field: "base_model_name_or_path".into(),
        msg: "expected the base model's directory".into(),
    })?;
    let p = PathBuf::from(base);
    let p = if p.is_relative() && run_dir.join(&p).is_dir() {
        run_dir.join(p)
    } else {
        p
    };
    if !p.join("config.json").is_file() {
        return Err(ModelError::Config {
            path: file.to_path_buf(),
            field: "base_model_name_or_path".into(),
            msg: format!(
                "base model {} not found (no config.json there); edit the path or copy the base model back",
                p.display()
            ),
        });
    }
    Ok(p)
}

/// The base model with the run's labels (and problem type, when `labels.json` names one); a
/// head of another size is dropped.
fn base_with_labels(base: &Path, labels: LabelsFile) -> Result<BertParams> {
    let mut params = BertParams::load(base)?;
    if params.config.num_labels() != labels.labels.len() {
        params.classifier = None;
    }
    params.config.id2label = labels.labels;
    if let Some(p) = labels.problem_type {
        params.config.problem_type = Some(p.as_str().into());
    }
    Ok(params)
}

fn load_adapter_run(dir: &Path) -> Result<BertParams> {
    let file = dir.join("adapter_config.json");
    let cfg: AdapterConfig = read_json(&file)?;
    let base = base_path(dir, cfg.base_model_name_or_path.as_deref(), &file)?;
    let labels = LabelsFile::read_dir(dir)?;
    let bad = |msg: String| ModelError::DataFile {
        path: file.clone(),
        msg,
    };
    if cfg.use_dora {
        return Err(bad("use_dora (DoRA) is not supported".into()));
    }
    let targets = match &cfg.target_modules {
        TargetModules::List(list) => list.clone(),
        TargetModules::Regex(re) => {
            return Err(bad(format!(
                "target_modules {re:?} is a regular expression; only a list of module names is supported"
            )))
        }
    };
    let r = cfg.r;
    // TrainModel scales by alpha / r; this alpha gives PEFT's scale, rsLoRA's alpha / √r included.
    let alpha = (cfg.scaling() * r as f64) as f32;
    let setup = TrainSetup {
        mode: TrainMode::Lora,
        lora: LoraConfig {
            r,
            alpha,
            dropout: 0.0,
            target_modules: targets,
        },
        loss: LossConfig::default(),
        hidden_dropout: 0.0,
        attention_dropout: 0.0,
        classifier_dropout: 0.0,
    };
    let mut model = TrainModel::new(base_with_labels(&base, labels)?, setup, 0)?;
    load_adapter(&mut model, dir)?;
    model.merged()
}

fn load_head_run(dir: &Path) -> Result<BertParams> {
    let file = dir.join(HEAD_CONFIG);
    let cfg: Value = read_json(&file)?;
    let base = base_path(
        dir,
        cfg.get("base_model_name_or_path").and_then(Value::as_str),
        &file,
    )?;
    let labels = LabelsFile::read_dir(dir)?;
    let mut params = base_with_labels(&base, labels)?;
    let weights = Weights::load(&dir.join(HEAD_WEIGHTS))?;
    let source = dir.join(HEAD_WEIGHTS).display().to_string();
    let get = |key: &str, shape: &[usize]| -> Result<tokken_engine::Tensor> {
        let t = weights.get(key).ok_or_else(|| ModelError::MissingTensor {
            source_name: source.clone(),
            key: key.into(),
        })?;
        if t.shape() != shape {
            return Err(ModelError::BadShape {
                source_name: source.clone(),
                key: key.into(),
                expected: shape.to_vec(),
                found: t.shape().to_vec(),
            });
        }
        Ok(tokken_engine::Tensor::from_f32(
            shape.to_vec(),
            t.to_f32_vec(),
        )?)
    };
    let (nl, c) = (params.config.id2label.len(), params.config.hidden_size);
    params.classifier = Some(LinearParams {
        weight: get("classifier.weight", &[nl, c])?,
        bias: get("classifier.bias", &[nl])?,
        out_features: nl,
        in_features: c,
    });
    Ok(params)
}
