//! Building a [`Trainer`]: read and tokenize the data, load the base model, set up the
//! trainable parameters and the optimizer — for a new run, or from a run dir's checkpoint.

use std::path::{Path, PathBuf};

use tokken_engine::Weights;
use tokken_tokenizer::encoder::Tokenizer;

use super::batching::EncodedSet;
use super::checkpoint;
use super::export::PEFT_PREFIX;
use super::optimizer::AdamW;
use super::{TrainConfig, Trainer, TrainerState};
use crate::data::{read_examples, stratified_split, Dataset, ReadOptions};
use crate::error::{ModelError, Result};
use crate::init::write_atomic;
use crate::params::BertParams;
use crate::train::TrainModel;

/// `train_config.json` in a run dir.
pub const CONFIG_FILE: &str = "train_config.json";

impl Trainer {
    /// A new run writing into `out` (created). Refuses a dir that already holds a run.
    pub fn new(mut config: TrainConfig, out: &Path) -> Result<Trainer> {
        if out.join(CONFIG_FILE).exists() {
            return Err(ModelError::Input(format!(
                "{} already holds a training run: continue it with --resume {0}, or choose another --out",
                out.display()
            )));
        }
        std::fs::create_dir_all(out).map_err(|source| ModelError::Io {
            path: out.to_path_buf(),
            source,
        })?;
        let (train, eval) = read_data(&config)?;
        let train = config.mitigation.augment(train)?;
        if let Some(h) = &config.setup.loss.hierarchy {
            // the classifier's outputs are the tree's nodes, level by level
            config.labels = h.tree.paths().to_vec();
        }
        if config.labels.is_empty() {
            config.labels = train.label_set();
        }
        if let Some(t) = config.template.as_mut() {
            // `{levels}` names the labels in use; the expanded text is what gets saved.
            t.expand_levels_from_labels(&config.labels);
        }
        if config.auto_class_weights {
            config.setup.loss.class_weights = Some(balanced_weights(&train, &config.labels)?);
        }
        let mut trainer = Trainer::build(config, train, eval, out)?;
        if let Some(dir) = trainer.config.init_adapter.clone() {
            load_adapter(&mut trainer.model, &dir)?;
        }
        let json = serde_json::to_vec_pretty(&trainer.config)
            .map_err(|e| ModelError::Other(e.to_string()))?;
        write_atomic(&out.join(CONFIG_FILE), &json)?;
        Ok(trainer)
    }

    /// Continue the run in `run_dir` from its checkpoint, with its saved configuration.
    pub fn resume(run_dir: &Path) -> Result<Trainer> {
        let path = run_dir.join(CONFIG_FILE);
        let text = std::fs::read_to_string(&path).map_err(|source| ModelError::Io {
            path: path.clone(),
            source,
        })?;
        let config: TrainConfig =
            serde_json::from_str(&text).map_err(|source| ModelError::Json {
                path: path.clone(),
                source,
            })?;
        let (train, eval) = read_data(&config)?;
        let train = config.mitigation.augment(train)?;
        let mut trainer = Trainer::build(config, train, eval, run_dir)?;
        checkpoint::load(&mut trainer, run_dir)?;
        Ok(trainer)
    }

    fn build(
        config: TrainConfig,
        train: Dataset,
        eval: Option<Dataset>,
        out: &Path,
    ) -> Result<Trainer> {
        if config.batch_size == 0 || config.grad_accum == 0 {
            return Err(ModelError::Input(
                "batch size and gradient accumulation must be at least 1".into(),
            ));
        }
        let tokenizer = Tokenizer::from_model_dir(&config.model, config.dicdir.as_deref())?;
        let mut params = BertParams::load(&config.model)?;
        if config.max_length < 2 || config.max_length > params.config.max_position_embeddings {
            return Err(ModelError::Input(format!(
                "--max-length {} must be between 2 and the model's max_position_embeddings {}",
                config.max_length, params.config.max_position_embeddings
            )));
        }
        if params.config.num_labels() != config.labels.len() {
            // A head of another size cannot be reused: start a new one.
            params.classifier = None;
        }
        params.config.id2label = config.labels.clone();
        if config.multi_label {
            params.config.problem_type = Some("multi_label_classification".into());
        }
        let weights = config.mitigation.example_weights(&train)?;
        let mut train = EncodedSet::encode_with(
            &tokenizer,
            &train,
            &config.labels,
            config.max_length,
            config.template.as_ref(),
        )?;
        train.weights = weights;
        let eval = eval
            .map(|e| {
                EncodedSet::encode_with(
                    &tokenizer,
                    &e,
                    &config.labels,
                    config.max_length,
                    config.template.as_ref(),
                )
            })
            .transpose()?;
        let params =
            crate::train::precision::base_for_training(params, config.dtype, config.setup.mode)?;
        let mut model = TrainModel::new(params, config.setup.clone(), config.seed)?;
        let slots: Vec<(String, usize)> = model
            .trainable_mut()
            .iter()
            .map(|p| (p.name.to_string(), p.value.len()))
            .collect();
        let optimizer = AdamW::new(config.adamw, &slots);
        Ok(Trainer {
            config,
            state: TrainerState::default(),
            model,
            optimizer,
            tokenizer,
            train,
            eval,
            out: out.to_path_buf(),
            stop_after: None,
            #[cfg(feature = "cuda")]
            cuda: None,
        })
    }
}

/// The training set and the eval set (a file, or a stratified split of the training file).
fn read_data(config: &TrainConfig) -> Result<(Dataset, Option<Dataset>)> {
    let opts = ReadOptions {
        text_field: config.text_field.clone(),
        label_field: config.label_field.clone(),
        multi_label: config.multi_label,
        ..ReadOptions::default()
    };
    let all = read_examples(&config.train, &opts)?;
    let (train, eval) = match (&config.eval, config.eval_split) {
        (Some(path), _) => (all, Some(read_examples(path, &opts)?)),
        (None, Some(fraction)) => {
            let split = stratified_split(&all.examples, fraction, config.seed)?;
            (all.subset(&split.train), Some(all.subset(&split.eval)))
        }
        (None, None) => (all, None),
    };
    if let Some(h) = &config.setup.loss.hierarchy {
        // every label must be a leaf path of the tree (error at file:line)
        for set in std::iter::once(&train).chain(eval.as_ref()) {
            crate::hierarchy::run_dir::check_targets(&h.tree, set)?;
        }
    }
    Ok((train, eval))
}

/// `n / (NL · count_c)` per class (classes absent from the data get weight 1).
fn balanced_weights(train: &Dataset, labels: &[String]) -> Result<Vec<f32>> {
    let ids = train.label_ids(labels)?;
    let mut counts = vec![0usize; labels.len()];
    for i in ids {
        counts[i] += 1;
    }
    let n = train.examples.len() as f64;
    let nl = labels.len() as f64;
    Ok(counts
        .iter()
        .map(|&c| {
            if c == 0 {
                1.0
            } else {
                (n / (nl * c as f64)) as f32
            }
        })
        .collect())
}

/// Load a PEFT adapter dir (`adapter_model.safetensors`) into the trainable parameters.
pub fn load_adapter(model: &mut TrainModel, dir: &Path) -> Result<()> {
    let file: PathBuf = if dir.is_file() {
        dir.to_path_buf()
    } else {
        dir.join("adapter_model.safetensors")
    };
    let weights = Weights::load(&file)?;
    let tensors: Vec<(String, Vec<f32>, Vec<usize>)> = weights
        .iter()
        .map(|(name, t)| {
            (
                name.strip_prefix(PEFT_PREFIX).unwrap_or(name).to_string(),
                t.to_f32_vec(),
                t.shape().to_vec(),
            )
        })
        .collect();
    model.load_state(&tensors)
}
