//! [`Explainer`]: a classifier's parameters set up for input gradients (eval mode, no
//! dropout, every weight frozen, the backward carried down to the word embeddings).

use tokken_engine::DType;

use crate::arena::{Arena, ForwardOptions};
use crate::classifier::softmax;
use crate::error::{ModelError, Result};
use crate::forward::{bert_forward, BatchInput};
use crate::params::BertParams;
use crate::train::{LoraConfig, LossConfig, TrainMode, TrainModel, TrainSetup};

/// The special token ids explanations need.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SpecialIds {
    pub pad: u32,
    pub cls: u32,
    pub sep: u32,
}

impl SpecialIds {
    /// The ids of a tokenizer's `[PAD]`, `[CLS]`, `[SEP]`.
    pub fn of(tok: &tokken_tokenizer::encoder::Tokenizer) -> SpecialIds {
        SpecialIds {
            pad: tok.pad_id(),
            cls: tok.cls_id(),
            sep: tok.sep_id(),
        }
    }

    pub fn is_special(&self, id: u32) -> bool {
        id == self.pad || id == self.cls || id == self.sep
    }
}

/// One sequence's logits and class probabilities.
#[derive(Clone, Debug, PartialEq)]
pub struct Scores {
    /// [NL]
    pub logits: Vec<f32>,
    /// [NL] softmax (per-label sigmoid for multi-label models)
    pub probs: Vec<f32>,
}

impl Scores {
    /// Index of the best class.
    pub fn argmax(&self) -> usize {
        argmax(&self.probs)
    }
}

pub(crate) fn argmax(v: &[f32]) -> usize {
    let mut best = 0;
    for (i, &x) in v.iter().enumerate() {
        if x > v[best] {
            best = i;
        }
    }
    best
}

/// A classifier ready for explanations. Sequences are single texts: type ids 0, no padding.
pub struct Explainer {
    params: BertParams,
    model: TrainModel,
    specials: SpecialIds,
    arena: Arena,
}

impl Explainer {
    /// Set up `params` (f32, with pooler and classifier) for explanations.
    pub fn new(params: BertParams, specials: SpecialIds) -> Result<Explainer> {
        if params.classifier.is_none() || params.pooler.is_none() {
            return Err(ModelError::NoHead(
                "explanations need a classification head (pooler + classifier)".into(),
            ));
        }
        if params.dtype() != DType::F32 {
            return Err(ModelError::Input(format!(
                "explanations run in f32; the model is {}",
                params.dtype()
            )));
        }
        let setup = TrainSetup {
            mode: TrainMode::HeadOnly,
            lora: LoraConfig::default(),
            loss: LossConfig::default(),
            hidden_dropout: 0.0,
            attention_dropout: 0.0,
            classifier_dropout: 0.0,
        };
        let model = TrainModel::new(params.clone(), setup, 0)?;
        Ok(Explainer {
            params,
            model,
            specials,
            arena: Arena::new(),
        })
    }

    pub fn params(&self) -> &BertParams {
        &self.params
    }

    pub fn specials(&self) -> SpecialIds {
        self.specials
    }

    pub fn labels(&self) -> &[String] {
        &self.params.config.id2label
    }

    pub fn num_labels(&self) -> usize {
        self.params.config.num_labels()
    }

    pub fn hidden_size(&self) -> usize {
        self.params.config.hidden_size
    }

    fn check_class(&self, class: usize) -> Result<()> {
        if class >= self.num_labels() {
            return Err(ModelError::Input(format!(
                "class {class} is outside the model's {} labels",
                self.num_labels()
            )));
        }
        Ok(())
    }

    /// [T, C] word embeddings `E[ids]` (the attributed input).
    pub fn word_embeddings(&self, ids: &[u32]) -> Result<Vec<f32>> {
        let c = self.hidden_size();
        let table = self.params.embeddings.word_embeddings.as_f32()?;
        let v = table.len() / c;
        let mut out = Vec::with_capacity(ids.len() * c);
        for &id in ids {
            let id = id as usize;
            if id >= v {
                return Err(ModelError::Input(format!(
                    "token id {id} is outside the vocabulary ({v})"
                )));
            }
            out.extend_from_slice(&table[id * c..(id + 1) * c]);
        }
        Ok(out)
    }

    /// Logits and probabilities of one sequence (the inference forward).
    pub fn scores(&mut self, ids: &[u32]) -> Result<Scores> {
        let logits = self.forward(ids, ForwardOptions::LOGITS)?;
        Ok(self.to_scores(logits))
    }

    pub(crate) fn to_scores(&self, logits: Vec<f32>) -> Scores {
        let multi =
            self.params.config.problem_type.as_deref() == Some("multi_label_classification");
        let probs = if multi {
            logits.iter().map(|&x| 1.0 / (1.0 + (-x).exp())).collect()
        } else {
            softmax(&logits)
        };
        Scores { logits, probs }
    }

    /// The inference forward of one sequence; returns its logits (attentions stay in the
    /// arena when asked for).
    fn forward(&mut self, ids: &[u32], opts: ForwardOptions) -> Result<Vec<f32>> {
        let t = ids.len();
        let (type_ids, mask) = (vec![0u32; t], vec![1u8; t]);
        let input = BatchInput {
            ids,
            type_ids: &type_ids,
            mask: &mask,
            b: 1,
            t,
        };
        bert_forward(&self.params, &input, &mut self.arena, opts)?;
        Ok(self.arena.logits().to_vec())
    }

    /// Attention probabilities of one sequence: per layer `[NH, T, T]` (row = query).
    pub fn attentions(&mut self, ids: &[u32]) -> Result<(Scores, Vec<Vec<f32>>)> {
        let opts = ForwardOptions {
            output_attentions: true,
            ..ForwardOptions::default()
        };
        let logits = self.forward(ids, opts)?;
        let layers = (0..self.params.layers.len())
            .map(|l| {
                self.arena
                    .attention(l)
                    .map(<[f32]>::to_vec)
                    .ok_or_else(|| ModelError::Other("attentions were not kept".into()))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok((self.to_scores(logits), layers))
    }

    /// For `R` rows of word embeddings `rows` ([R, T, C]) of the sequence `ids` ([T]):
    /// the logits [R, NL] and `d logit[class] / d rows` [R, T, C].
    pub fn gradients(
        &mut self,
        ids: &[u32],
        rows: &[f32],
        class: usize,
    ) -> Result<(Vec<f32>, Vec<f32>)> {
        self.check_class(class)?;
        let (t, c, nl) = (ids.len(), self.hidden_size(), self.num_labels());
        if t == 0 || rows.is_empty() || !rows.len().is_multiple_of(t * c) {
            return Err(ModelError::Input(format!(
                "gradients: {} embedding values are not R x T x C with T = {t}, C = {c}",
                rows.len()
            )));
        }
        let r = rows.len() / (t * c);
        let batch_ids: Vec<u32> = ids.iter().copied().cycle().take(r * t).collect();
        let (type_ids, mask) = (vec![0u32; r * t], vec![1u8; r * t]);
        let input = BatchInput {
            ids: &batch_ids,
            type_ids: &type_ids,
            mask: &mask,
            b: r,
            t,
        };
        let mut dlogits = vec![0.0f32; r * nl];
        for row in dlogits.chunks_exact_mut(nl) {
            row[class] = 1.0;
        }
        let mut grads = vec![0.0f32; rows.len()];
        let logits = self
            .model
            .input_gradient(&input, Some(rows), &dlogits, &mut grads)?;
        // the head's own parameter gradients are not wanted
        self.model.zero_grads();
        Ok((logits, grads))
    }
}
