//! Template-aware encoding, with truncation that never cuts the headline while steps are
//! left:
//! - `pair`: `[CLS] steps [SEP] text [SEP]`, type ids 0 / 1. Over `max_length`, steps tokens
//!   go first (HF `only_first`), and only when none are left is the text cut (from the right).
//! - `prefix`: the template with the text in its slot is tokenized as one string (so an
//!   untruncated encoding is exactly HF's `tokenizer(template.format(text=..))`); tokens are
//!   told apart by their char offsets. Over `max_length`, steps tokens go first (from the
//!   right), then the text — with a `text_pair`, text and pair by HF `longest_first`.
//!
//! Offsets refer to the headline only: steps tokens get `(0, 0)` like `[CLS]`, text tokens
//! their char span in the headline (`text_pair` tokens: in the pair, as without a template).
//! Without a template (`None`) this is the plain encoding (`longest_first` truncation).

use rayon::prelude::*;
use tokken_tokenizer::encoder::{
    truncated_lengths, EncodeOptions, Encoding, Padding, Tokenizer, Truncation, Worker,
};

use super::{Template, TemplateMode};
use crate::data::Dataset;
use crate::error::{ModelError, Result};

/// Encodes texts (and pairs) with an optional template, truncated to `max_length` tokens
/// (specials included), unpadded.
#[derive(Clone)]
pub struct TemplateEncoder<'t> {
    tokenizer: &'t Tokenizer,
    template: Option<&'t Template>,
    max_length: usize,
    /// A pair-mode template's steps as token ids (segment A is tokenized on its own, so
    /// once for all texts); empty otherwise.
    steps_ids: Vec<u32>,
}

impl<'t> TemplateEncoder<'t> {
    pub fn new(
        tokenizer: &'t Tokenizer,
        template: Option<&'t Template>,
        max_length: usize,
    ) -> TemplateEncoder<'t> {
        let mut steps = Encoding::default();
        if let Some(t) = template.filter(|t| t.mode == TemplateMode::Pair) {
            tokenizer
                .worker()
                .encode_into(&t.steps, None, &raw_options(), &mut steps);
        }
        TemplateEncoder {
            tokenizer,
            template,
            max_length,
            steps_ids: steps.ids,
        }
    }

    /// Single texts, in parallel, in input order.
    pub fn encode_texts(&self, texts: &[&str]) -> Vec<Encoding> {
        if self.template.is_none() {
            return self.tokenizer.encode_all(texts, &self.plain_options());
        }
        texts
            .par_iter()
            .with_min_len(16)
            .map_init(
                || self.tokenizer.worker(),
                |w, text| self.encode_one(w, text, None),
            )
            .collect()
    }

    /// Texts with optional pairs, in parallel, in input order. A pair-mode template and a
    /// `text_pair` cannot both fill segment B: an error.
    pub fn encode_items(&self, items: &[(&str, Option<&str>)]) -> Result<Vec<Encoding>> {
        if let Some(t) = self.template {
            if t.mode == TemplateMode::Pair && items.iter().any(|(_, p)| p.is_some()) {
                return Err(ModelError::Input(pair_conflict(t)));
            }
        }
        Ok(items
            .par_iter()
            .with_min_len(16)
            .map_init(
                || self.tokenizer.worker(),
                |w, (text, pair)| self.encode_one(w, text, *pair),
            )
            .collect())
    }

    /// One example. Callers have checked that a pair-mode template gets no `pair`.
    fn encode_one(&self, worker: &mut Worker<'_>, text: &str, pair: Option<&str>) -> Encoding {
        let mut out = Encoding::default();
        match self.template {
            None => worker.encode_into(text, pair, &self.plain_options(), &mut out),
            Some(t) => match t.mode {
                TemplateMode::Pair => {
                    debug_assert!(pair.is_none(), "checked by encode_items");
                    self.encode_pair_mode(worker, text, &mut out);
                }
                TemplateMode::Prefix => {
                    self.encode_prefix_mode(worker, t.prefix_parts(), text, pair, &mut out)
                }
            },
        }
        out
    }

    fn plain_options(&self) -> EncodeOptions {
        EncodeOptions {
            truncation: Truncation::LongestFirst,
            max_length: Some(self.max_length),
            padding: Padding::None,
            ..EncodeOptions::default()
        }
    }

    /// `[CLS] steps [SEP] text [SEP]`, steps cut first.
    fn encode_pair_mode(&self, worker: &mut Worker<'_>, text: &str, out: &mut Encoding) {
        let mut raw = Encoding::default();
        worker.encode_into(text, None, &raw_options(), &mut raw);
        let len_a = self.steps_ids.len();
        let len_b = raw.len();
        let remove = (len_a + len_b + 3).saturating_sub(self.max_length);
        let cut_a = remove.min(len_a);
        let keep_a = len_a - cut_a;
        let keep_b = len_b - (remove - cut_a).min(len_b);
        let (cls, sep) = (self.tokenizer.cls_id(), self.tokenizer.sep_id());
        push(out, cls, 0, (0, 0));
        for &id in &self.steps_ids[..keep_a] {
            push(out, id, 0, (0, 0));
        }
        push(out, sep, 0, (0, 0));
        for i in 0..keep_b {
            push(out, raw.ids[i], 1, raw.offsets[i]);
        }
        push(out, sep, 1, (0, 0));
    }

    /// `[CLS] before text after [SEP] (pair [SEP])`, steps (`before`, `after`) cut first.
    fn encode_prefix_mode(
        &self,
        worker: &mut Worker<'_>,
        (before, after): (&str, &str),
        text: &str,
        pair: Option<&str>,
        out: &mut Encoding,
    ) {
        let full = format!("{before}{text}{after}");
        let text_start = before.chars().count();
        let text_end = text_start + text.chars().count();
        let mut raw = Encoding::default();
        worker.encode_into(&full, pair, &raw_options(), &mut raw);
        let len_a = segment_a_len(&raw);
        let len_b = raw.len() - len_a;
        let is_text: Vec<bool> = raw.offsets[..len_a]
            .iter()
            .map(|&(s, e)| {
                if s == e {
                    (text_start..=text_end).contains(&s)
                } else {
                    s < text_end && e > text_start
                }
            })
            .collect();
        let specials = if pair.is_some() { 3 } else { 2 };
        let mut remove = (len_a + len_b + specials).saturating_sub(self.max_length);
        // Steps first, from the right.
        let mut keep = vec![true; len_a];
        for i in (0..len_a).rev() {
            if remove == 0 {
                break;
            }
            if !is_text[i] {
                keep[i] = false;
                remove -= 1;
            }
        }
        // Then the text (and the pair), as HF truncates them without steps.
        let n_text = is_text.iter().filter(|&&t| t).count();
        let (keep_text, keep_b) = if remove > 0 {
            truncated_lengths(
                n_text,
                pair.map(|_| len_b),
                specials,
                Some(self.max_length),
                Truncation::LongestFirst,
            )
        } else {
            (n_text, pair.map(|_| len_b))
        };
        let (cls, sep) = (self.tokenizer.cls_id(), self.tokenizer.sep_id());
        let text_chars = text_end - text_start;
        let in_text = |c: usize| c.saturating_sub(text_start).min(text_chars);
        push(out, cls, 0, (0, 0));
        let mut text_seen = 0;
        for i in 0..len_a {
            if is_text[i] {
                text_seen += 1;
                if text_seen <= keep_text {
                    let (s, e) = raw.offsets[i];
                    push(out, raw.ids[i], 0, (in_text(s), in_text(e)));
                }
            } else if keep[i] {
                push(out, raw.ids[i], 0, (0, 0));
            }
        }
        push(out, sep, 0, (0, 0));
        if let Some(keep_b) = keep_b {
            for i in len_a..len_a + keep_b {
                push(out, raw.ids[i], 1, raw.offsets[i]);
            }
            push(out, sep, 1, (0, 0));
        }
    }
}

/// The error for a pair-mode template over data that already has `text_pair`.
fn pair_conflict(t: &Template) -> String {
    format!(
        "template `{}` is in pair mode (steps as segment A, the text as segment B), but the \
         data has a text_pair for segment B: use a prefix-mode template or drop text_pair",
        t.name
    )
}

/// Refuse a pair-mode template over `data` with `text_pair`s, naming the first such line.
pub fn check_no_pairs(template: Option<&Template>, data: &Dataset) -> Result<()> {
    let Some(t) = template.filter(|t| t.mode == TemplateMode::Pair) else {
        return Ok(());
    };
    match data.examples.iter().find(|e| e.text_pair.is_some()) {
        Some(e) => Err(ModelError::Data {
            path: data.path.clone(),
            line: e.line,
            msg: pair_conflict(t),
        }),
        None => Ok(()),
    }
}

/// No specials, no truncation, no padding: the tokens to lay out ourselves.
fn raw_options() -> EncodeOptions {
    EncodeOptions {
        add_special_tokens: false,
        truncation: Truncation::None,
        max_length: None,
        padding: Padding::None,
        pad_to_multiple_of: None,
    }
}

/// Tokens of segment A (type id 0) at the start of an encoding without specials.
fn segment_a_len(raw: &Encoding) -> usize {
    raw.type_ids.iter().take_while(|&&t| t == 0).count()
}

fn push(out: &mut Encoding, id: u32, type_id: u32, offset: (usize, usize)) {
    out.ids.push(id);
    out.type_ids.push(type_id);
    out.attention_mask.push(1);
    out.offsets.push(offset);
}
