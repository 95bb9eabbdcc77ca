//! One text's explanation: run a [`Method`] on its tokens and map the attributions back to
//! the original characters and words.

use serde::Serialize;
use tokken_tokenizer::encoder::{EncodeOptions, Tokenizer, Truncation};

use super::attention::rollout;
use super::explainer::{Explainer, Scores};
use super::grad_input::grad_input;
use super::integrated_gradients::{integrated_gradients, IgResult};
use super::spans::{char_spans, mecab_word_starts, words, CharSpan, TokenScore, WordScore};
use super::{ExplainOptions, Method};
use crate::error::Result;

/// Attention weights and rollout of one text.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AttentionDetail {
    pub num_layers: usize,
    pub num_heads: usize,
    /// `[L][NH][T][T]` attention probabilities (row = query token, column = key token).
    pub weights: Vec<Vec<Vec<Vec<f32>>>>,
    /// `[T][T]` attention rollout.
    pub rollout: Vec<Vec<f32>>,
}

/// The explanation of one text.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Explanation {
    pub text: String,
    pub method: Method,
    /// The explained class (label name and index).
    pub class: String,
    pub class_index: usize,
    pub predicted: String,
    pub predicted_index: usize,
    /// [NL]
    pub probs: Vec<f32>,
    /// [NL]
    pub logits: Vec<f32>,
    /// Every token, `[CLS]` and `[SEP]` included, with its char offsets and attribution.
    pub tokens: Vec<TokenScore>,
    /// The attributions on the original characters.
    pub spans: Vec<CharSpan>,
    /// Word-level attributions (MeCab words, or WordPiece pieces joined; see
    /// [`super::spans::words`]).
    pub words: Vec<WordScore>,
    /// Integrated gradients' end points and completeness (method `ig`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub integrated_gradients: Option<IgResult>,
    /// Method `attention`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attention: Option<AttentionDetail>,
}

/// `[rows][cols]` of a row-major buffer.
fn nested(v: &[f32], cols: usize) -> Vec<Vec<f32>> {
    v.chunks_exact(cols).map(<[f32]>::to_vec).collect()
}

/// Explain `text` as `tok` encodes it for the model (`[CLS] text [SEP]`, truncated to
/// `max_length` tokens).
pub fn explain_text(
    ex: &mut Explainer,
    tok: &Tokenizer,
    max_length: usize,
    text: &str,
    opts: &ExplainOptions,
) -> Result<Explanation> {
    let enc = tok.encode(
        text,
        &EncodeOptions {
            truncation: Truncation::LongestFirst,
            max_length: Some(max_length),
            ..EncodeOptions::default()
        },
    );
    let tokens: Vec<String> = tok.tokens(&enc).into_iter().map(str::to_string).collect();
    let mut e = explain_tokens(ex, text, &enc.ids, &tokens, &enc.offsets, opts)?;
    if let Some(starts) = mecab_word_starts(tok, text) {
        e.words = words(text, &e.tokens, Some(&starts));
    }
    Ok(e)
}

/// The longest input a model takes: `max_position_embeddings`, capped by the tokenizer's
/// `model_max_length` (as [`crate::Classifier`] truncates).
pub fn model_max_length(ex: &Explainer, tok: &Tokenizer) -> usize {
    ex.params()
        .config
        .max_position_embeddings
        .min(tok.config().model_max_length.unwrap_or(usize::MAX))
}

/// Explain a tokenized text: `ids`, `tokens` and char `offsets` are `[T]`.
pub fn explain_tokens(
    ex: &mut Explainer,
    text: &str,
    ids: &[u32],
    tokens: &[String],
    offsets: &[(usize, usize)],
    opts: &ExplainOptions,
) -> Result<Explanation> {
    let t = ids.len();
    let (scores, attn): (Scores, Option<Vec<Vec<f32>>>) = match opts.method {
        Method::Attention => {
            let (s, a) = ex.attentions(ids)?;
            (s, Some(a))
        }
        _ => (ex.scores(ids)?, None),
    };
    let predicted = scores.argmax();
    let class = opts.class.unwrap_or(predicted);
    let mut ig = None;
    let mut detail = None;
    let attributions: Vec<f32> = match opts.method {
        Method::IntegratedGradients => {
            let r = integrated_gradients(ex, ids, class, opts.steps, opts.baseline, opts.max_rows)?;
            let s = r.scores.clone();
            ig = Some(r);
            s
        }
        Method::GradInput => grad_input(ex, ids, class)?.0,
        Method::Attention => {
            let layers = attn.unwrap_or_default();
            let nh = ex.params().config.num_attention_heads;
            let r = rollout(&layers, nh, t);
            let cls_row = r[..t].to_vec();
            detail = Some(AttentionDetail {
                num_layers: layers.len(),
                num_heads: nh,
                weights: layers
                    .iter()
                    .map(|l| l.chunks_exact(t * t).map(|h| nested(h, t)).collect())
                    .collect(),
                rollout: nested(&r, t),
            });
            cls_row
        }
    };
    let specials = ex.specials();
    let token_scores: Vec<TokenScore> = (0..t)
        .map(|i| TokenScore {
            token: tokens.get(i).cloned().unwrap_or_default(),
            id: ids[i],
            start: offsets.get(i).map_or(0, |o| o.0),
            end: offsets.get(i).map_or(0, |o| o.1),
            score: attributions[i],
            special: specials.is_special(ids[i]),
        })
        .collect();
    let labels = ex.labels();
    Ok(Explanation {
        text: text.to_string(),
        method: opts.method,
        class: labels.get(class).cloned().unwrap_or_default(),
        class_index: class,
        predicted: labels.get(predicted).cloned().unwrap_or_default(),
        predicted_index: predicted,
        spans: char_spans(text, &token_scores),
        words: words(text, &token_scores, None),
        tokens: token_scores,
        probs: scores.probs,
        logits: scores.logits,
        integrated_gradients: ig,
        attention: detail,
    })
}
