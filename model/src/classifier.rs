//! The embedding API: `Classifier::load(dir)?.predict(&texts)?` — text in, labels out.
//!
//! Texts are tokenized in parallel, grouped by length (so padding stays small), run in
//! batches padded to each batch's longest text, and returned in input order. A
//! `Classifier` is `Send + Sync`: share it across threads; each call takes an activation
//! arena from a small pool and returns it.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use tokken_engine::DType;
use tokken_tokenizer::encoder::{Encoding, Tokenizer};

use crate::arena::{Arena, ForwardOptions};
use crate::error::{ModelError, Result};
use crate::forward::{bert_forward, BatchInput};
use crate::hierarchy::{Hierarchy, LevelChoice};
use crate::params::BertParams;
use crate::template::{Template, TemplateEncoder};

/// How a [`Classifier`] runs.
#[derive(Clone, Debug)]
pub struct ClassifierOptions {
    /// Dense-layer weight precision: `F32` (reference) or `BF16` (weights converted once at
    /// load; activations, LayerNorm and softmax stay f32).
    pub dtype: DType,
    /// Texts per forward call.
    pub batch_size: usize,
    /// Longest input in tokens, `[CLS]`/`[SEP]` included; longer texts are truncated.
    /// Default: the smaller of `max_position_embeddings` and the tokenizer's
    /// `model_max_length`.
    pub max_length: Option<usize>,
    /// The MeCab dictionary directory (default: found as `tokken-tokenizer` does).
    pub dicdir: Option<PathBuf>,
    /// Pack the dense weights once at load for the GEMM kernels (default): small batches
    /// run several times faster, at the cost of a second copy of the dense weights in
    /// memory (see [`crate::prepacked`]); off keeps memory-mapped f32 weights zero-copy.
    pub prepack: bool,
    /// Reasoning-step template applied to every input ([`crate::template`]). `load_with`
    /// takes it as the one asked for and checks it against the run dir's `template.json`
    /// ([`crate::template::configure`]); `from_parts` applies it as given.
    pub template: Option<Template>,
}

impl Default for ClassifierOptions {
    fn default() -> Self {
        ClassifierOptions {
            dtype: DType::F32,
            batch_size: 32,
            max_length: None,
            dicdir: None,
            prepack: true,
            template: None,
        }
    }
}

/// One text's result.
#[derive(Clone, Debug, PartialEq)]
pub struct Prediction {
    /// The best label's name (`id2label`).
    pub label: String,
    /// The best label's index.
    pub index: usize,
    /// Its probability.
    pub score: f32,
    /// [NL] probabilities: softmax, or per-label sigmoid for
    /// `problem_type = multi_label_classification`.
    pub probs: Vec<f32>,
    /// [NL] raw logits.
    pub logits: Vec<f32>,
    /// Hierarchical models: the predicted path's node at each level with its probability
    /// given the parent (`label` is the leaf path, `score` the path's probability, `probs`
    /// every leaf path's probability); empty otherwise.
    pub levels: Vec<LevelChoice>,
    /// Multi-label models: the labels whose probability reaches their threshold
    /// (`thresholds.json`, else 0.5), in class order; empty otherwise.
    pub label_set: Vec<usize>,
}

/// Computes a batch's `[B, NL]` logits in place of the CPU forward (`cuda::CudaBert` with
/// `--device cuda`).
pub trait LogitsBackend: Send + Sync {
    fn logits(&self, input: &BatchInput<'_>) -> Result<Vec<f32>>;
    /// Where it runs (`cuda:0`), for messages.
    fn name(&self) -> String;
}

/// A loaded sequence classifier: tokenizer + BERT + head.
pub struct Classifier {
    params: BertParams,
    tokenizer: Tokenizer,
    options: ClassifierOptions,
    max_length: usize,
    arenas: Mutex<Vec<Arena>>,
    /// The label tree of a hierarchical run (`hierarchy.json`).
    hierarchy: Option<Hierarchy>,
    /// Per-label thresholds of a multi-label run (`thresholds.json`).
    thresholds: Option<Vec<f32>>,
    /// Runs the forward instead of the CPU ([`Classifier::with_backend`]).
    backend: Option<Box<dyn LogitsBackend>>,
}

impl Classifier {
    /// Load an HF model dir (`config.json`, weights, `vocab.txt`, `tokenizer_config.json`).
    pub fn load(dir: &Path) -> Result<Classifier> {
        Classifier::load_with(dir, ClassifierOptions::default())
    }

    /// `dir` may also be a fine-tuning run dir (LoRA adapter or head over a base model; see
    /// [`crate::run`]).
    pub fn load_with(dir: &Path, mut options: ClassifierOptions) -> Result<Classifier> {
        // The tokenizer loads while the weights do: finding its dictionary may start a
        // Python interpreter (`unidic_lite.DICDIR`), which can take longer than the
        // weights (0.03-0.15 s, more behind pyenv shims).
        let (params, tokenizer) = std::thread::scope(|s| {
            let tokenizer = s.spawn(|| Tokenizer::from_model_dir(dir, options.dicdir.as_deref()));
            let params = crate::run::load_params(dir);
            let tokenizer = tokenizer
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            (params, tokenizer)
        });
        let params = params?;
        crate::template::configure(dir, &mut options, &params.config.id2label)?;
        let tokenizer = tokenizer?;
        Classifier::from_parts(params, tokenizer, options, &dir.display().to_string())?
            .with_run_files(dir)
    }

    /// Take a run dir's decoding files: `hierarchy.json` (decode paths) and
    /// `thresholds.json` (multi-label decisions).
    pub fn with_run_files(mut self, dir: &Path) -> Result<Classifier> {
        let labels = &self.params.config.id2label;
        self.hierarchy = crate::hierarchy::run_dir::read_hierarchy(dir, labels)?;
        self.thresholds = crate::trainer::thresholds::read_thresholds(dir, labels)?;
        Ok(self)
    }

    /// The label tree, for a hierarchical model.
    pub fn hierarchy(&self) -> Option<&Hierarchy> {
        self.hierarchy.as_ref()
    }

    /// The per-label thresholds of a multi-label model, when its run saved them.
    pub fn thresholds(&self) -> Option<&[f32]> {
        self.thresholds.as_deref()
    }

    /// `problem_type = multi_label_classification`.
    pub fn is_multi_label(&self) -> bool {
        self.params.config.problem_type.as_deref() == Some("multi_label_classification")
    }

    /// Assemble from loaded parts; `source` names the model in errors.
    pub fn from_parts(
        params: BertParams,
        tokenizer: Tokenizer,
        options: ClassifierOptions,
        source: &str,
    ) -> Result<Classifier> {
        if params.classifier.is_none() || params.pooler.is_none() {
            return Err(ModelError::NoHead(format!(
                "{source}: the checkpoint has no classification head (`classifier.*`{}); \
                 fine-tune it first or use a BertForSequenceClassification model",
                if params.pooler.is_none() {
                    " and no pooler"
                } else {
                    ""
                }
            )));
        }
        if options.batch_size == 0 {
            return Err(ModelError::Input("batch size must be at least 1".into()));
        }
        let vocab_len = tokenizer.vocab().len();
        if vocab_len > params.config.vocab_size {
            return Err(ModelError::Input(format!(
                "{source}: vocab.txt has {vocab_len} entries but the model's vocab_size is {}",
                params.config.vocab_size
            )));
        }
        let limit = params
            .config
            .max_position_embeddings
            .min(tokenizer.config().model_max_length.unwrap_or(usize::MAX));
        let max_length = options.max_length.unwrap_or(limit);
        if max_length < 2 || max_length > params.config.max_position_embeddings {
            return Err(ModelError::Input(format!(
                "max length {max_length} must be between 2 and max_position_embeddings {}",
                params.config.max_position_embeddings
            )));
        }
        let mut params = match options.dtype {
            DType::F32 => params,
            DType::BF16 => params.to_dtype(DType::BF16)?,
            other => {
                return Err(ModelError::Input(format!(
                    "dtype {other} is not supported on CPU (use f32 or bf16)"
                )))
            }
        };
        if options.prepack {
            params.prepack()?;
        }
        Ok(Classifier {
            params,
            tokenizer,
            options,
            max_length,
            arenas: Mutex::new(Vec::new()),
            hierarchy: None,
            thresholds: None,
            backend: None,
        })
    }

    /// Pack the dense weights now (see [`ClassifierOptions::prepack`]) if they are not
    /// packed yet: for callers that only learn after loading that many forward passes
    /// will follow (one pass packs each weight as it goes, so packing first gains nothing
    /// there).
    pub fn prepack(&mut self) -> Result<()> {
        if self.params.prepacked.is_none() {
            self.params.prepack()?;
        }
        self.options.prepack = true;
        Ok(())
    }

    /// Run every forward on `backend` (e.g. a GPU) instead of the CPU.
    pub fn with_backend(mut self, backend: Box<dyn LogitsBackend>) -> Classifier {
        self.backend = Some(backend);
        self
    }

    /// Label names by class index (a hierarchical model's classes are its leaf paths).
    pub fn labels(&self) -> &[String] {
        match &self.hierarchy {
            Some(h) => h.leaf_paths(),
            None => &self.params.config.id2label,
        }
    }

    pub fn params(&self) -> &BertParams {
        &self.params
    }

    pub fn tokenizer(&self) -> &Tokenizer {
        &self.tokenizer
    }

    pub fn options(&self) -> &ClassifierOptions {
        &self.options
    }

    /// Tokenize `texts` as this classifier does (its template applied, truncated to its max
    /// length, unpadded).
    pub fn encode(&self, texts: &[&str]) -> Vec<Encoding> {
        self.template_encoder().encode_texts(texts)
    }

    /// [`Classifier::encode`] for texts with optional pairs (`text_pair`); a pair-mode
    /// template and a pair are an error.
    pub fn encode_items(&self, items: &[(&str, Option<&str>)]) -> Result<Vec<Encoding>> {
        self.template_encoder().encode_items(items)
    }

    /// The template applied to inputs, if any.
    pub fn template(&self) -> Option<&Template> {
        self.options.template.as_ref()
    }

    /// Longest input in tokens, specials included.
    pub fn max_length(&self) -> usize {
        self.max_length
    }

    fn template_encoder(&self) -> TemplateEncoder<'_> {
        TemplateEncoder::new(&self.tokenizer, self.template(), self.max_length)
    }

    /// Classify `texts`; results come back in input order.
    pub fn predict(&self, texts: &[&str]) -> Result<Vec<Prediction>> {
        let encodings = self.encode(texts);
        self.predict_encoded(&encodings)
    }

    /// Classify already-tokenized inputs (unpadded [`Encoding`]s), in input order.
    pub fn predict_encoded(&self, encodings: &[Encoding]) -> Result<Vec<Prediction>> {
        // Sort by length so each batch pads to a similar length; keep input order in `out`.
        let mut order: Vec<usize> = (0..encodings.len()).collect();
        order.sort_by_key(|&i| encodings[i].len());
        let mut out: Vec<Option<Prediction>> = vec![None; encodings.len()];
        let mut arena = self
            .arenas
            .lock()
            .map(|mut a| a.pop())
            .ok()
            .flatten()
            .unwrap_or_default();
        let result = (|| -> Result<()> {
            for chunk in order.chunks(self.options.batch_size) {
                let rows: Vec<&Encoding> = chunk.iter().map(|&i| &encodings[i]).collect();
                let logits = self.logits_of(&rows, &mut arena)?;
                let nl = self.params.config.num_labels();
                for (&i, row) in chunk.iter().zip(logits.chunks_exact(nl)) {
                    out[i] = Some(self.prediction(row));
                }
            }
            Ok(())
        })();
        if let Ok(mut pool) = self.arenas.lock() {
            pool.push(arena);
        }
        result?;
        Ok(out.into_iter().flatten().collect())
    }

    /// [B, NL] logits of one batch, padded to its longest row.
    fn logits_of(&self, rows: &[&Encoding], arena: &mut Arena) -> Result<Vec<f32>> {
        let b = rows.len();
        let t = rows.iter().map(|e| e.len()).max().unwrap_or(0).max(1);
        let pad = self.tokenizer.pad_id();
        let mut ids = vec![pad; b * t];
        let mut type_ids = vec![0u32; b * t];
        let mut mask = vec![0u8; b * t];
        for (r, e) in rows.iter().enumerate() {
            let n = e.len();
            ids[r * t..r * t + n].copy_from_slice(&e.ids);
            type_ids[r * t..r * t + n].copy_from_slice(&e.type_ids);
            for (m, &a) in mask[r * t..r * t + n].iter_mut().zip(&e.attention_mask) {
                *m = u8::from(a != 0);
            }
        }
        let input = BatchInput {
            ids: &ids,
            type_ids: &type_ids,
            mask: &mask,
            b,
            t,
        };
        if let Some(backend) = &self.backend {
            return backend.logits(&input);
        }
        bert_forward(&self.params, &input, arena, ForwardOptions::LOGITS)?;
        Ok(arena.logits().to_vec())
    }

    fn prediction(&self, logits: &[f32]) -> Prediction {
        if let Some(h) = &self.hierarchy {
            let p = crate::hierarchy::decode(h, logits);
            return Prediction {
                label: p.path,
                index: p.leaf,
                score: p.prob,
                probs: p.leaf_probs,
                logits: logits.to_vec(),
                levels: p.levels,
                label_set: Vec::new(),
            };
        }
        let multi_label = self.is_multi_label();
        let probs = if multi_label {
            sigmoid(logits)
        } else {
            softmax(logits)
        };
        let (index, &score) =
            probs
                .iter()
                .enumerate()
                .fold((0, &f32::NEG_INFINITY), |best, cur| {
                    if cur.1 > best.1 {
                        cur
                    } else {
                        best
                    }
                });
        let label_set = if multi_label {
            let t = |c: usize| self.thresholds.as_ref().map_or(0.5, |t| t[c]);
            (0..probs.len()).filter(|&c| probs[c] >= t(c)).collect()
        } else {
            Vec::new()
        };
        Prediction {
            label: self.labels()[index].clone(),
            index,
            score,
            probs,
            logits: logits.to_vec(),
            levels: Vec::new(),
            label_set,
        }
    }
}

/// Numerically stable softmax of one row.
pub fn softmax(logits: &[f32]) -> Vec<f32> {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let exps: Vec<f32> = logits.iter().map(|&x| (x - max).exp()).collect();
    let sum: f32 = exps.iter().sum();
    exps.into_iter().map(|e| e / sum).collect()
}

fn sigmoid(logits: &[f32]) -> Vec<f32> {
    logits.iter().map(|&x| 1.0 / (1.0 + (-x).exp())).collect()
}
